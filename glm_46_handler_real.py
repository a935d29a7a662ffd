"""Placeholder until the adapter-backed handler lands (issue: provider adapters)."""
from __future__ import annotations


class GLM46ServiceReal:
    """ATOM's GLM-4.6 handler (interim)."""

    def __init__(self) -> None:
        self.api_key = ""
        self.base_url = "https://open.bigmodel.cn/api/paas/v4"
        self.default_model = "glm-4.6"
        self.timeout = 60

    def test_connection(self) -> dict:
        """Interim: the provider check is not available yet."""
        if not self.api_key:
            return {"success": False, "message": "GLM-4.6 API key not configured"}
        return {"success": False, "message": "GLM-4.6 provider check unavailable"}

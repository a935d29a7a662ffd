"""Placeholder until the adapter-backed handler lands (issue: provider adapters)."""
from __future__ import annotations


class KimiK2ServiceReal:
    """ATOM's Kimi K2 handler (interim)."""

    def __init__(self) -> None:
        self.api_key = ""
        self.base_url = "https://api.moonshot.cn/v1"
        self.default_model = "moonshot-v1-8k"
        self.timeout = 60

    def test_connection(self) -> dict:
        """Interim: the provider check is not available yet."""
        if not self.api_key:
            return {"success": False, "message": "Kimi K2 API key not configured"}
        return {"success": False, "message": "Kimi K2 provider check unavailable"}

"""ATOM's GLM-4.6 handler (Zhipu AI), rebuilt on the GLM adapter (contract §4).

Attributes as in the original: `api_key` ("" by default; the vault or the caller sets it, never
the environment), `base_url`, `default_model`, `timeout` (the read timeout, seconds). The stream
chunk shape and error dicts are described in `legacy_handler`.
"""
from __future__ import annotations

from typing import Any, List, Optional

from legacy_handler import HandlerText, LegacyHandler

DEFAULT_EMBEDDING_MODEL = "embedding-2"


class GLM46ServiceReal(LegacyHandler):
    """GLM-4.6 through Zhipu's OpenAI-format API: key test, chat (and streaming), embeddings, models."""

    provider_id = "glm_4_6"
    text = HandlerText(name="GLM-4.6", vendor="Zhipu AI", family="GLM")
    DEFAULT_MODEL = "glm-4.6"
    # The original's static table; costs are USD per 1K tokens and only estimates.
    MODEL_TABLE = {
        "glm-4.6": {"name": "GLM-4.6", "description": "Zhipu's flagship model: Chinese and multilingual chat, "
                    "reasoning and tool use", "context_length": 128000, "input_cost": 0.005, "output_cost": 0.015,
                    "capabilities": ("chat", "reasoning", "function_calling", "multilingual")},
        "glm-4": {"name": "GLM-4", "description": "General-purpose chat model", "context_length": 128000,
                  "input_cost": 0.003, "output_cost": 0.009, "capabilities": ("chat", "reasoning")},
        "glm-4-air": {"name": "GLM-4-Air", "description": "Smaller, faster chat model", "context_length": 128000,
                      "input_cost": 0.001, "output_cost": 0.003, "capabilities": ("chat",)},
    }

    def embedding(self, texts: List[str], model: Optional[str] = None) -> dict[str, Any]:
        """Embed texts (default model embedding-2); vectors come back as data objects in input order."""
        return self._embed(texts, model or DEFAULT_EMBEDDING_MODEL)


glm_46_service_real = GLM46ServiceReal()   # cheap: no key, no network, no files


def get_glm_46_service_real() -> GLM46ServiceReal:
    """The module-level handler instance (the original's accessor)."""
    return glm_46_service_real

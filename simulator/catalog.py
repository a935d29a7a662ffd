"""Static model lists and account bodies the simulator serves (shapes from providers.md)."""
from __future__ import annotations

CREATED = 1715367049  # a fixed epoch so model lists are byte-stable

MODELS = {
    "openai": ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini",
               "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"),
    "azure": ("gpt-4o-2024-11-20", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14",
              "text-embedding-3-small", "text-embedding-3-large"),
    "deepseek": ("deepseek-v4-flash", "deepseek-v4-pro", "deepseek-chat", "deepseek-reasoner"),
    "kimi": ("kimi-k2.6", "kimi-k2.5", "kimi-k2-0905-preview", "kimi-k2-turbo-preview",
             "moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"),
    "glm": ("glm-4.6", "glm-4.5", "glm-4-plus", "glm-4-air", "glm-4-flash", "embedding-2",
            "embedding-3"),
    "anthropic": (("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
                  ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
                  ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-01T00:00:00Z")),
    "gemini": (("gemini-2.5-flash", "Gemini 2.5 Flash"), ("gemini-2.5-pro", "Gemini 2.5 Pro"),
               ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
               ("gemini-embedding-001", "Gemini Embedding 001")),
}
OWNERS = {"openai": "system", "azure": "system", "deepseek": "deepseek", "kimi": "moonshot",
          "glm": "z-ai"}

EMBEDDING_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                  "text-embedding-ada-002": 1536, "embedding-2": 1024, "embedding-3": 2048,
                  "gemini-embedding-001": 3072, "text-embedding-004": 768}
FIXED_DIMS = frozenset({"embedding-2", "text-embedding-ada-002"})

DEEPSEEK_BALANCE = {"is_available": True, "balance_infos": [
    {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00",
     "topped_up_balance": "100.00"}]}
KIMI_BALANCE = {"code": 0, "data": {"available_balance": 49.58, "voucher_balance": 46.58,
                                    "cash_balance": 3.0}, "scode": "0x0", "status": True}


def embedding_dims(model: str, requested) -> int:
    """Vector size: the requested ``dimensions`` unless the model has a fixed size."""
    default = EMBEDDING_DIMS.get(model.removeprefix("models/"), 1536)
    if requested and model not in FIXED_DIMS:
        return max(1, int(requested))
    return default


def openai_models(provider: str) -> dict:
    """The OpenAI-shaped ``GET /models`` body (Azure adds its lifecycle fields)."""
    data = []
    for model_id in MODELS[provider]:
        item = {"id": model_id, "object": "model", "created": CREATED,
                "owned_by": OWNERS[provider]}
        if provider == "azure":
            item.update(created_at=CREATED, status="succeeded",
                        lifecycle_status="generally-available",
                        capabilities={"chat_completion": "embedding" not in model_id,
                                      "embeddings": "embedding" in model_id})
        data.append(item)
    return {"object": "list", "data": data}


def anthropic_models() -> dict:
    """Anthropic's ``GET /v1/models`` body."""
    data = [{"type": "model", "id": mid, "display_name": name, "created_at": created}
            for mid, name, created in MODELS["anthropic"]]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


def gemini_model(model_id: str, display: str | None = None) -> dict:
    """One Gemini model resource."""
    embed = "embedding" in model_id
    methods = ["embedContent", "batchEmbedContents"] if embed else [
        "generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
    return {"name": f"models/{model_id}", "version": "001", "displayName": display or model_id,
            "description": f"Simulated {display or model_id}",
            "inputTokenLimit": 2048 if embed else 1048576,
            "outputTokenLimit": 1 if embed else 65536,
            "supportedGenerationMethods": methods, "temperature": 1, "topP": 0.95, "topK": 64,
            "maxTemperature": 2, "thinking": not embed}


def gemini_models() -> dict:
    """Gemini's ``GET /{version}/models`` body (single page: no nextPageToken)."""
    return {"models": [gemini_model(mid, name) for mid, name in MODELS["gemini"]]}

"""Provider adapters: the explicit registry from provider id to adapter class."""
from __future__ import annotations

import errors
from providers.anthropic import AnthropicProvider
from providers.base import Provider
from providers.gemini import GeminiProvider
from providers.openai_compat import (AzureOpenAIProvider, DeepSeekProvider, GLMProvider, KimiProvider,
                                     OpenAIProvider)
from providers.types import Credentials, ProviderSettings

PROVIDERS: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "deepseek": DeepSeekProvider,
    "anthropic": AnthropicProvider,
    "google_gemini": GeminiProvider,
    "azure_openai": AzureOpenAIProvider,
    "glm_4_6": GLMProvider,
    "kimi_k2": KimiProvider,
}


def get_provider_class(provider_id: str) -> type[Provider]:
    """The adapter class for a provider id; UnknownProviderError for anything else."""
    try:
        return PROVIDERS[provider_id]
    except (KeyError, TypeError):
        raise errors.UnknownProviderError(f"Unknown provider '{provider_id}'. Known providers: "
                                          f"{', '.join(PROVIDERS)}") from None


def build_provider(provider_id: str, credentials: Credentials,
                   settings: ProviderSettings | None = None) -> Provider:
    """An adapter instance for one stored key."""
    return get_provider_class(provider_id)(credentials, settings)


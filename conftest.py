"""Root fixtures for every test: a clean environment and a private working directory."""
from __future__ import annotations

import os

import pytest

ENV_PREFIXES = ("BYOK_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "DEEPSEEK_", "GLM_",
                "KIMI_", "AZURE_", "ZHIPU", "ZAI_", "MOONSHOT_")
ENV_NAMES = ("DATABASE_URL", "ATOM_OAUTH_ENCRYPTION_KEY", "REDIS_URL", "HOST", "PORT",
             "PYTHON_API_PORT", "WEB_CONCURRENCY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No provider keys, base URLs or gateway settings leak in from the machine; cwd is private."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES) or name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield

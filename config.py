"""Configuration: the one module that reads the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DEFAULT_CORS_ORIGINS = (
    "http://localhost:3000", "http://127.0.0.1:3000",
    "tauri://localhost", "http://tauri.localhost", "https://tauri.localhost",
)
BASE_URL_VARS = {
    "openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "google_gemini": "GEMINI_BASE_URL",
    "deepseek": "DEEPSEEK_BASE_URL", "glm_4_6": "GLM_BASE_URL", "kimi_k2": "KIMI_BASE_URL",
    "azure_openai": "AZURE_OPENAI_ENDPOINT",
}


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_float(env, name, default))


@dataclass
class Config:
    """Every setting of the gateway, read once from the environment (see README)."""

    data_dir: Path = Path("data")
    database_url: str = ""
    encryption_keys: str = ""
    host: str = "127.0.0.1"
    port: int = 5058
    workers: int = 1
    auth_mode: str = "local"
    local_user: str = "current-user"
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    max_body_bytes: int = 2 * 1024 * 1024
    max_key_chars: int = 4096
    auth_fail_limit: int = 10
    auth_fail_window_s: float = 60.0
    cache_ttl_s: float = 5.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    base_urls: dict[str, str] = field(default_factory=dict)
    anthropic_default_max_tokens: int = 4096
    redis_url: str = ""
    log_level: str = "INFO"
    testing: bool = False
    auto_migrate: bool = True
    usage_flush_s: float = 0.5
    retry_cap_s: float = 10.0
    retry_base_s: float = 0.25
    attempt_budget: int = 4
    request_deadline_s: float = 300.0
    ttft_deadline_s: float = 60.0
    stall_deadline_s: float = 60.0
    breaker_failures: int = 3
    breaker_cooldown_s: float = 30.0
    baseline_model: str = "openai/gpt-4o"
    key_revalidate_s: float = 0.0
    key_revalidate_batch: int = 10
    test_on_save: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Config":
        """Build a Config from environment variables (os.environ by default)."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("BYOK_DATA_DIR") or "data")
        origins = env.get("BYOK_CORS_ORIGINS")
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL", ""),
            encryption_keys=env.get("BYOK_ENCRYPTION_KEYS") or env.get("ATOM_OAUTH_ENCRYPTION_KEY", ""),
            host=env.get("HOST", "127.0.0.1"),
            port=_int(env, "PORT", _int(env, "PYTHON_API_PORT", 5058)),
            workers=_int(env, "WEB_CONCURRENCY", 1),
            auth_mode=(env.get("BYOK_AUTH_MODE") or "local").strip().lower(),
            local_user=env.get("BYOK_LOCAL_USER", "current-user"),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip())
            if origins else DEFAULT_CORS_ORIGINS,
            max_body_bytes=_int(env, "BYOK_MAX_BODY_BYTES", 2 * 1024 * 1024),
            auth_fail_limit=_int(env, "BYOK_AUTH_FAIL_LIMIT", 10),
            cache_ttl_s=_float(env, "BYOK_CACHE_TTL_S", 5.0),
            connect_timeout_s=_float(env, "BYOK_CONNECT_TIMEOUT_S", 5.0),
            read_timeout_s=_float(env, "BYOK_READ_TIMEOUT_S", 120.0),
            base_urls={pid: env[var] for pid, var in BASE_URL_VARS.items() if env.get(var)},
            anthropic_default_max_tokens=_int(env, "BYOK_ANTHROPIC_MAX_TOKENS", 4096),
            redis_url=env.get("REDIS_URL", ""),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            auto_migrate=_bool(env.get("BYOK_AUTO_MIGRATE"), True),
            retry_cap_s=_float(env, "BYOK_RETRY_CAP_S", 10.0),
            retry_base_s=_float(env, "BYOK_RETRY_BASE_S", 0.25),
            attempt_budget=_int(env, "BYOK_ATTEMPT_BUDGET", 4),
            request_deadline_s=_float(env, "BYOK_REQUEST_DEADLINE_S", 300.0),
            ttft_deadline_s=_float(env, "BYOK_TTFT_DEADLINE_S", 60.0),
            stall_deadline_s=_float(env, "BYOK_STALL_DEADLINE_S", 60.0),
            breaker_failures=_int(env, "BYOK_BREAKER_FAILURES", 3),
            breaker_cooldown_s=_float(env, "BYOK_BREAKER_COOLDOWN_S", 30.0),
            baseline_model=env.get("BYOK_BASELINE_MODEL", "openai/gpt-4o"),
            key_revalidate_s=_float(env, "BYOK_KEY_REVALIDATE_S", 0.0),
            key_revalidate_batch=_int(env, "BYOK_KEY_REVALIDATE_BATCH", 10),
            usage_flush_s=_float(env, "BYOK_USAGE_FLUSH_S", 0.5),
            test_on_save=_bool(env.get("BYOK_TEST_ON_SAVE"), True),
        )

    def resolved_database_url(self) -> str:
        """DATABASE_URL, or a SQLite file under the data directory (never a path guessed from a URL)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'byok.db').resolve()}"

    @property
    def key_file(self) -> Path:
        """Where a generated encryption key is persisted."""
        return self.data_dir / "encryption.key"

"""The service container built once per app (stored in app.extensions['byok'])."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from auth import FailureThrottle, TokenService
from cipher import load_cipher
from config import Config
from key_manager import KeyManager
from user_api_key_service import UserAPIKeyService


@dataclass
class Services:
    """Everything the routes need, wired from one Config."""

    config: Config
    vault: UserAPIKeyService
    tokens: TokenService
    throttle: FailureThrottle
    keys: KeyManager
    extra: dict[str, Any] = field(default_factory=dict)

    def shutdown(self) -> None:
        """Flush and stop background work (usage writer and friends)."""
        for item in self.extra.values():
            stop = getattr(item, "shutdown", None)
            if callable(stop):
                stop()


def build_services(config: Config, engine: Engine) -> Services:
    """Wire the vault, tokens, throttle and key manager on one engine."""
    cipher = load_cipher(config.encryption_keys, config.key_file)
    vault = UserAPIKeyService(engine=engine, cipher=cipher, config=config)
    tokens = TokenService(vault._sessions, vault.audit, cache_ttl_s=config.cache_ttl_s)
    throttle = FailureThrottle(config.auth_fail_limit, config.auth_fail_window_s)
    keys = KeyManager(vault, max_key_chars=config.max_key_chars, test_on_save=config.test_on_save)
    return Services(config=config, vault=vault, tokens=tokens, throttle=throttle, keys=keys)

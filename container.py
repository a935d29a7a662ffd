"""The service container built once per app (stored in app.extensions['byok'])."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from audit import Actor
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
    """Wire the vault, tokens, throttle, key manager, ledger and gateway on one engine."""
    cipher = load_cipher(config.encryption_keys, config.key_file)
    vault = UserAPIKeyService(engine=engine, cipher=cipher, config=config)
    tokens = TokenService(vault._sessions, vault.audit, cache_ttl_s=config.cache_ttl_s)
    throttle = FailureThrottle(config.auth_fail_limit, config.auth_fail_window_s)
    keys = KeyManager(vault, max_key_chars=config.max_key_chars, test_on_save=config.test_on_save)
    services = Services(config=config, vault=vault, tokens=tokens, throttle=throttle, keys=keys)
    services.extra.update(build_gateway(config, vault))
    if config.key_revalidate_s > 0:
        from health import KeyRevalidator
        services.extra["key_health"] = KeyRevalidator(
            vault, interval_s=config.key_revalidate_s, per_cycle=config.key_revalidate_batch).start()
    return services


def build_gateway(config: Config, vault: UserAPIKeyService) -> dict[str, Any]:
    """The usage ledger, breakers, attempt runner and gateway."""
    import dataclasses

    from attempts import AttemptRunner, Policy
    from breaker import build_breaker
    from gateway import Gateway
    from key_check import settings_for
    from ledger import UsageLedger
    from providers.types import Timeouts

    ledger = UsageLedger(vault._sessions, baseline=config.baseline_model, flush_s=config.usage_flush_s)
    breaker = build_breaker(config.breaker_failures, config.breaker_cooldown_s, config.redis_url)
    policy = Policy(attempt_budget=config.attempt_budget, deadline_s=config.request_deadline_s,
                    retry_cap_s=config.retry_cap_s, retry_base_s=config.retry_base_s)
    runner = AttemptRunner(breaker, policy, mark_key=lambda u, p, r: vault.record_test(
        u, p, r, actor=Actor("gateway")))
    settings = settings_for(config)
    stream_settings = dataclasses.replace(settings, timeouts=Timeouts(
        connect=config.connect_timeout_s, read=config.stall_deadline_s,
        first_token=config.ttft_deadline_s))
    from limits import Limits
    limits = Limits(vault._sessions, cache_ttl_s=config.cache_ttl_s)
    gateway = Gateway(vault, ledger, runner, settings=settings, stream_settings=stream_settings,
                      limits=limits)
    return {"ledger": ledger, "breaker": breaker, "gateway": gateway, "limits": limits}

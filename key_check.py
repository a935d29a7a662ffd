"""Key tests: run a provider's cheapest check and phrase the verdict for the ATOM API."""
from __future__ import annotations

import logging
from typing import Any

from config import Config
from providers.types import Credentials, KeyCheckResult, ProviderSettings, Timeouts

log = logging.getLogger(__name__)


def settings_for(config: Config) -> ProviderSettings:
    """Provider settings derived from the gateway Config."""
    return ProviderSettings(
        timeouts=Timeouts(connect=config.connect_timeout_s, read=config.read_timeout_s),
        base_urls=dict(config.base_urls),
        anthropic_default_max_tokens=config.anthropic_default_max_tokens)


def check(provider_id: str, credentials: Credentials, config: Config) -> KeyCheckResult:
    """Test a key with the provider's adapter; never raises."""
    try:
        from providers import build_provider
    except ImportError:
        return KeyCheckResult(False, "error", "Provider check unavailable: adapters not installed")
    try:
        return build_provider(provider_id, credentials, settings_for(config)).check_key()
    except Exception as exc:  # noqa: BLE001 - a check must always produce a verdict
        log.error("key check for %s raised %s", provider_id, type(exc).__name__)
        return KeyCheckResult(False, "error", "Key check failed with an internal error")


def as_legacy_dict(result: KeyCheckResult) -> dict[str, Any]:
    """The original test_result shape: success, message, [status_code], [details], plus status."""
    out: dict[str, Any] = {"success": result.ok, "message": result.message, "status": result.status}
    if result.status_code is not None:
        out["status_code"] = result.status_code
    if result.details:
        out["details"] = result.details
    return out


def as_result(data: dict[str, Any]) -> KeyCheckResult:
    """Read a handler's test dict back into a KeyCheckResult."""
    ok = bool(data.get("success"))
    status = data.get("status") or ("ok" if ok else "error")
    return KeyCheckResult(ok, status, str(data.get("message", "")), data.get("status_code"),
                          dict(data.get("details") or {}))

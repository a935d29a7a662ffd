"""ATOM's /api/user/api-keys routes: thin views over KeyManager, with auth and audit."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

import catalogue
from auth import authorize
from errors import BadRequestError, PermissionDeniedError, UnsupportedMediaTypeError
from key_manager import KeyManager, validate_provider, validate_user_id

bp = Blueprint("user_api_keys", __name__, url_prefix="/api/user/api-keys")
user_api_key_bp = bp  # the original module's name for the blueprint

# The original module-level catalogue: 7 ids in contract order, six fields each, list-typed.
AVAILABLE_AI_PROVIDERS: dict[str, dict[str, Any]] = catalogue.providers_copy()


def _services():
    return current_app.extensions["byok"]


def _manager() -> KeyManager:
    return _services().keys


def _guard(user_id: str, provider: str | None = None) -> None:
    """Validate path parameters, then check that the caller may touch this user's data."""
    validate_user_id(user_id)
    try:
        authorize(g.principal, user_id)
    except PermissionDeniedError:
        _services().vault.audit.record(g.actor, user_id, "access.denied", provider or "",
                                       "denied", detail=f"{request.method} {request.path}"[:200])
        raise
    if provider is not None:
        validate_provider(provider)


def _json_body() -> Any:
    """The parsed JSON body; 415 if it is not JSON, 400 if it does not parse."""
    if not request.is_json:
        raise UnsupportedMediaTypeError("Content-Type must be application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequestError("Request body is not valid JSON", code="invalid_json")
    return body


@bp.get("/providers")
def get_available_providers():
    """R1: the provider catalogue."""
    return jsonify(success=True, providers=catalogue.providers_section())


@bp.get("/<user_id>/keys")
def get_user_api_keys(user_id: str):
    """R2: masked keys."""
    _guard(user_id)
    return jsonify(_manager().keys(user_id))


@bp.post("/<user_id>/keys/<service_name>")
def save_user_api_key(user_id: str, service_name: str):
    """R3: store a key, then test it (the key is kept even when the test fails)."""
    _guard(user_id, service_name)
    return jsonify(_manager().save(user_id, service_name, _json_body(), g.actor))


@bp.delete("/<user_id>/keys/<service_name>")
def delete_user_api_key(user_id: str, service_name: str):
    """R4: delete a key."""
    _guard(user_id, service_name)
    return jsonify(_manager().delete(user_id, service_name, g.actor))


@bp.post("/<user_id>/keys/<service_name>/test")
def test_user_api_key(user_id: str, service_name: str):
    """R5: test the stored key now (no body needed)."""
    _guard(user_id, service_name)
    return jsonify(success=True, test_result=_manager().test(user_id, service_name, g.actor))


@bp.get("/<user_id>/services")
def get_user_configured_services(user_id: str):
    """R6: catalogue entries of the configured providers."""
    _guard(user_id)
    return jsonify(_manager().services(user_id))


@bp.get("/<user_id>/status")
def get_user_api_key_status(user_id: str):
    """R7: stored verdicts for every provider; no live calls."""
    _guard(user_id)
    return jsonify(_manager().status(user_id))


@bp.get("/<user_id>/audit")
def get_user_audit(user_id: str):
    """The user's audit trail, newest first; ?limit=1..200&before=<id>."""
    _guard(user_id)
    limit = _int_arg("limit", 50, 1, 200)
    before = _int_arg("before", None, 1, 2**62)
    return jsonify(success=True, user_id=user_id,
                   **_services().vault.audit.page(user_id, limit=limit, before=before))


@bp.get("/<user_id>/usage")
def get_user_usage(user_id: str):
    """Usage totals (?from=&to=&group_by=provider|model|day), or every row with ?format=csv."""
    _guard(user_id)
    start, end = _date_arg("from"), _date_arg("to")
    ledger = _services().extra["ledger"]
    fmt, group_by = request.args.get("format") or "json", request.args.get("group_by") or None
    if fmt not in ("json", "csv"):
        raise BadRequestError("format must be json or csv", code="invalid_query")
    if group_by not in (None, "provider", "model", "day"):
        raise BadRequestError("group_by must be provider, model or day", code="invalid_query")
    if fmt == "csv":
        return Response(ledger.rows_csv(user_id, start=start, end=end), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=usage-{user_id}.csv"})
    return jsonify(success=True, user_id=user_id,
                   **ledger.summary(user_id, start=start, end=end, group_by=group_by))


@bp.get("/<user_id>/limits")
def get_user_limits(user_id: str):
    """The user's rate limits and spend cap, with current window usage."""
    _guard(user_id)
    return jsonify(success=True, user_id=user_id, **_services().extra["limits"].describe(user_id))


@bp.put("/<user_id>/limits")
def put_user_limits(user_id: str):
    """Set requests_per_minute, tokens_per_minute and/or monthly_usd (null clears one)."""
    _guard(user_id)
    result = _services().extra["limits"].set(user_id, _json_body())
    _services().vault.audit.record(g.actor, user_id, "limits.updated", "", "ok",
                                   detail=str(result["limits"])[:300])
    return jsonify(success=True, user_id=user_id, **result)


def _date_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(f"'{name}' must be an ISO 8601 date or time", code="invalid_query") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:  # not '²' or '١'
        raise BadRequestError(f"'{name}' must be an integer from {low} to {high}", code="invalid_query")
    return int(raw)

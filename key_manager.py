"""Key management use cases behind the /api/user/api-keys routes (validation, tests, status)."""
from __future__ import annotations

import copy
import re
from typing import Any, Mapping
from urllib.parse import urlparse

import catalogue
from audit import Actor
from models import iso
from errors import BadRequestError, UnknownProviderError
from user_api_key_service import UserAPIKeyService
from vault import KeyRecord

USER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+\-]{0,127}$")
REGIONS = ("cn", "intl")


def validate_user_id(user_id: str) -> str:
    """A user id is 1-128 safe characters; no path tricks, no control characters."""
    if not USER_ID_RE.match(user_id or "") or ".." in user_id:
        raise BadRequestError("Invalid user id: use 1-128 letters, digits or . _ @ : + -",
                              code="invalid_user_id")
    return user_id


def validate_provider(provider: str) -> str:
    """The provider must be in the catalogue."""
    if provider not in catalogue.providers_section():
        raise UnknownProviderError(f"Service '{provider[:64]}' is not supported")
    return provider


def validate_key(body: Any, max_chars: int) -> str:
    """The api_key field: a non-empty printable ASCII string without inner whitespace."""
    if not isinstance(body, dict) or "api_key" not in body or body["api_key"] is None:
        raise BadRequestError("API key is required", code="missing_api_key")
    raw = body["api_key"]
    if not isinstance(raw, str):
        raise BadRequestError("API key must be a string", code="invalid_api_key_type")
    key = raw.strip()
    if not key:
        raise BadRequestError("API key cannot be empty", code="empty_api_key")
    if len(raw) > max_chars:  # the length as sent, as /openapi.json says (maxLength)
        raise BadRequestError(f"API key is too long (at most {max_chars} characters)",
                              code="api_key_too_long")
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise BadRequestError("API key may contain only printable ASCII characters without spaces",
                              code="invalid_api_key_characters")
    return key


def validate_metadata(provider: str, body: Mapping[str, Any]) -> dict[str, str]:
    """Optional per-key metadata: Azure endpoint/deployment/api_version, GLM/Kimi region."""
    meta: dict[str, str] = {}
    for name in ("endpoint", "deployment", "api_version", "region", "base_url"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            raise BadRequestError(f"'{name}' must be a non-empty string", code="invalid_metadata")
        meta[name] = value.strip()
    for name in ("endpoint", "base_url"):
        if name in meta and not _is_http_url(meta[name]):
            raise BadRequestError(f"'{name}' must be an http(s) URL", code="invalid_metadata")
    if "region" in meta and meta["region"] not in REGIONS:
        raise BadRequestError("'region' must be 'cn' or 'intl'", code="invalid_metadata")
    if "deployment" in meta and not re.match(r"^[A-Za-z0-9._\-]{1,64}$", meta["deployment"]):
        raise BadRequestError("'deployment' has invalid characters", code="invalid_metadata")
    return meta


def _is_http_url(value: str) -> bool:
    try:
        parsed = urlparse(value)
    except ValueError:  # e.g. 'http://[x': an unclosed IPv6 bracket
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and "@" not in parsed.netloc


def test_payload(record: KeyRecord | None) -> dict[str, Any]:
    """The stored test verdict in the ATOM shape (no live call)."""
    if record is None:
        return {"success": False, "message": "Not configured"}
    if record.test_status is None:
        return {"success": False, "message": "Not tested yet", "status": "untested"}
    return {"success": bool(record.test_ok), "message": record.test_message or "",
            "status": record.test_status,
            "tested_at": iso(record.tested_at)}


def key_payload(record: KeyRecord) -> dict[str, Any]:
    """Public facts about a stored key."""
    return {"masked_key": record.masked, "fingerprint": record.fingerprint,
            "key_version": record.key_id, "metadata": record.metadata,
            "created_at": iso(record.created_at), "updated_at": iso(record.updated_at)}


class KeyManager:
    """The operations the ATOM routes expose, over the vault."""

    def __init__(self, vault: UserAPIKeyService, *, max_key_chars: int, test_on_save: bool) -> None:
        self.vault, self.max_key_chars, self.test_on_save = vault, max_key_chars, test_on_save

    def save(self, user_id: str, provider: str, body: Any, actor: Actor) -> dict[str, Any]:
        """Validate, store, then test the key; the key is kept even if the test fails."""
        key = validate_key(body, self.max_key_chars)
        meta = validate_metadata(provider, body)
        record = self.vault.store(user_id, provider, key, metadata=meta, actor=actor)
        out = {"success": True, "message": f"API key for {provider} saved successfully",
               "key": key_payload(record)}
        if self.test_on_save:
            out["test_result"] = self.test(user_id, provider, actor)
        return out

    def test(self, user_id: str, provider: str, actor: Actor) -> dict[str, Any]:
        """Run the provider's key check now and store the verdict."""
        return self.vault.test_api_key(user_id, provider, actor)

    def delete(self, user_id: str, provider: str, actor: Actor) -> dict[str, Any]:
        """Delete a key (success even when none existed, as the desktop client expects)."""
        existed = self.vault.remove(user_id, provider, actor=actor)
        return {"success": True, "deleted": existed,
                "message": f"API key for {provider} deleted successfully"}

    def keys(self, user_id: str) -> dict[str, Any]:
        """Masked keys of a user."""
        records = [r for r in self.vault.records(user_id) if r.decryptable]
        return {"success": True, "user_id": user_id,
                "api_keys": {r.provider: r.masked for r in records if not r.empty},
                "configured_services": [r.provider for r in records]}

    def services(self, user_id: str) -> dict[str, Any]:
        """Catalogue entries of the configured providers."""
        records = self.vault.records(user_id)
        entries_by_id = catalogue.providers_section()
        entries = [dict(copy.deepcopy(entries_by_id[r.provider]), service_name=r.provider)
                   for r in records if r.provider in entries_by_id]
        return {"success": True, "user_id": user_id, "configured_services": entries,
                "total_configured": len(records)}

    def status(self, user_id: str) -> dict[str, Any]:
        """Every provider's stored state and last test verdict; makes no upstream calls."""
        records = {r.provider: r for r in self.vault.records(user_id)}
        status = {}
        for provider, info in catalogue.providers_section().items():
            record = records.get(provider)
            entry = {"configured": record is not None, "test_result": test_payload(record),
                     "provider_info": copy.deepcopy(info)}
            if record is not None:
                entry.update(masked_key=record.masked, key_health=record.test_status or "untested")
            status[provider] = entry
        working = sum(1 for e in status.values() if e["test_result"]["success"])
        summary = {"total_available": len(status), "total_configured": len(records),
                   "total_working": working}
        return {"success": True, "user_id": user_id, "status": status, "summary": summary}

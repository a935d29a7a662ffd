"""Import keys from an original ATOM SQLite database (Fernet tokens base64-encoded twice)."""
from __future__ import annotations

import base64
import binascii
import logging
import sqlite3
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

import catalogue
from audit import Actor
from vault import KeyVault

log = logging.getLogger(__name__)


def decode_legacy(stored: str, fernet: Fernet) -> str:
    """Undo ATOM's two layers: base64url of the Fernet token, then the token itself."""
    token = base64.urlsafe_b64decode(stored.encode("ascii"))
    return fernet.decrypt(token).decode("utf-8")


def read_rows(path: str | Path) -> list[tuple[str, str, str]]:
    """(user_id, service_name, encrypted_key) rows, read through a read-only connection."""
    uri = f"file:{Path(path).resolve()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        return conn.execute(
            "SELECT user_id, service_name, encrypted_key FROM user_api_keys "
            "ORDER BY user_id, service_name").fetchall()


def import_database(vault: KeyVault, path: str | Path, fernet_key: str, *, overwrite: bool = False,
                    actor: Actor | None = None) -> dict[str, int]:
    """Re-encrypt every legacy row into the vault; returns counts (never prints keys)."""
    try:
        fernet = Fernet(fernet_key.strip().encode("ascii"))
    except (ValueError, TypeError) as exc:
        raise SystemExit("--key is not a valid Fernet key") from exc
    try:
        rows = read_rows(path)
    except sqlite3.Error as exc:
        raise SystemExit(f"{path} is not an ATOM database with a user_api_keys table") from exc
    counts = {"total": len(rows), "imported": 0, "skipped_existing": 0,
              "skipped_unknown_provider": 0, "failed": 0}
    known = catalogue.providers_section()
    for user_id, provider, stored in rows:
        if provider not in known:
            counts["skipped_unknown_provider"] += 1
        elif not overwrite and vault.record(user_id, provider) is not None:
            counts["skipped_existing"] += 1
        else:
            counts[_import_one(vault, fernet, user_id, provider, stored, actor)] += 1
    return counts


def _import_one(vault: KeyVault, fernet: Fernet, user_id: str, provider: str, stored: str,
                actor: Actor | None) -> str:
    try:
        plain = decode_legacy(stored, fernet)
    except (InvalidToken, binascii.Error, ValueError):
        log.error("legacy row user=%s provider=%s does not decrypt with --key", user_id, provider)
        return "failed"
    vault.store(user_id, provider, plain, actor=actor)
    return "imported"

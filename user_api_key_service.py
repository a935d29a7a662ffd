"""ATOM's original key-service API (UserAPIKeyService), built on the encrypted KeyVault."""
from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

from sqlalchemy.engine import Engine

import catalogue
import key_check
from audit import Actor
from cipher import VaultCipher, load_cipher
from config import Config
from providers.types import KeyCheckResult
from storage import build_engine, sqlite_url_for_path, upgrade
from vault import KeyVault

log = logging.getLogger(__name__)
LEGACY = Actor("legacy-api")

# Providers whose tests go through ATOM's original handler classes, looked up by module name at
# call time so that patching `glm_46_handler_real.GLM46ServiceReal` keeps working (contract §6).
LEGACY_HANDLERS = {
    "glm_4_6": ("glm_46_handler_real", "GLM46ServiceReal"),
    "kimi_k2": ("kimi_k2_handler_real", "KimiK2ServiceReal"),
}
NO_KEY = {"success": False, "message": "No API key found for this service"}


def _database_url(db_path: str | Path | None, config: Config) -> str:
    if db_path is None:
        return config.resolved_database_url()
    text = str(db_path)
    return text if "://" in text else sqlite_url_for_path(text)


class UserAPIKeyService(KeyVault):
    """The original API: plain strings in, bools/dicts out, errors swallowed as ATOM did."""

    def __init__(self, db_path: str | Path | None = None, *, engine: Engine | None = None,
                 cipher: VaultCipher | None = None, config: Config | None = None) -> None:
        config = config or Config.from_env()
        self.config = config
        if engine is None:
            engine = build_engine(_database_url(db_path, config))
            upgrade(engine)
        cipher = cipher or load_cipher(config.encryption_keys, config.key_file)
        super().__init__(engine, cipher, cache_ttl_s=config.cache_ttl_s)

    # -- the original public methods --------------------------------------------------------
    def save_api_key(self, user_id: str, service_name: str, api_key: str) -> bool:
        """Upsert a key (the empty string is allowed, as in the original)."""
        try:
            self.store(user_id, service_name, api_key, actor=LEGACY)
            return True
        except Exception as exc:  # noqa: BLE001 - original contract: False on any failure
            log.error("save_api_key failed: %s", type(exc).__name__)
            return False

    def get_api_key(self, user_id: str, service_name: str) -> Optional[str]:
        """The plaintext key, '' for a stored empty key, None if missing or undecryptable."""
        try:
            secret = self.reveal(user_id, service_name)
        except Exception as exc:  # noqa: BLE001
            log.error("get_api_key failed: %s", type(exc).__name__)
            return None
        return secret.reveal() if secret is not None else None

    def delete_api_key(self, user_id: str, service_name: str) -> bool:
        """Delete a key; True even if none existed (original behaviour)."""
        try:
            self.remove(user_id, service_name, actor=LEGACY)
            return True
        except Exception as exc:  # noqa: BLE001
            log.error("delete_api_key failed: %s", type(exc).__name__)
            return False

    def list_user_services(self, user_id: str) -> List[str]:
        """Provider ids with a stored row (undecryptable ones included), by name."""
        try:
            return [record.provider for record in self.records(user_id)]
        except Exception as exc:  # noqa: BLE001
            log.error("list_user_services failed: %s", type(exc).__name__)
            return []

    def get_all_user_keys(self, user_id: str) -> Dict[str, str]:
        """Plaintext keys for internal use; undecryptable rows are skipped."""
        keys: Dict[str, str] = {}
        for provider in self.list_user_services(user_id):
            value = self.get_api_key(user_id, provider)
            if value is not None:
                keys[provider] = value
        return keys

    def test_api_key(self, user_id: str, service_name: str,
                     actor: Actor | None = None) -> Dict[str, Any]:
        """Test a stored key against its provider and remember the verdict."""
        creds = self.credentials(user_id, service_name)
        if creds is None or not creds.api_key:
            return dict(NO_KEY)
        try:
            result = self._run_test(service_name, creds)
        except Exception as exc:  # noqa: BLE001 - a broken handler must not break the caller
            log.error("key test for %s raised %s", service_name, type(exc).__name__)
            result = {"success": False, "message": "Test failed: internal error in the key check"}
        if service_name in catalogue.provider_ids():
            self.record_test(user_id, service_name, key_check.as_result(result),
                             actor=actor or LEGACY)
        return result

    def _run_test(self, service_name: str, creds) -> Dict[str, Any]:
        if service_name in LEGACY_HANDLERS:
            module_name, class_name = LEGACY_HANDLERS[service_name]
            handler_cls = getattr(importlib.import_module(module_name), class_name)
            handler = handler_cls()
            handler.api_key = creds.api_key.reveal()
            if hasattr(handler, "configure"):
                handler.configure(metadata=creds.metadata, settings=key_check.settings_for(self.config))
            return handler.test_connection()
        if service_name not in catalogue.provider_ids():
            return {"success": False, "message": f"Service {service_name} not supported for testing"}
        return key_check.as_legacy_dict(key_check.check(service_name, creds, self.config))

    # -- the original private helpers ---------------------------------------------------------
    def _encrypt_key(self, api_key: str) -> str:
        """Encrypt a key with the primary vault key."""
        return self.cipher.encrypt(api_key)

    def _decrypt_key(self, encrypted_key: str) -> str:
        """Decrypt a vault token (raises on failure, as the original did)."""
        return self.cipher.decrypt(encrypted_key)

    def _get_encryption_key(self) -> bytes:
        """The primary encryption key (kept for the original API; never log it)."""
        return self.cipher.keys[0]

    def _init_database(self) -> None:
        """Apply migrations (kept for the original API)."""
        upgrade(self.engine)


_singleton: UserAPIKeyService | None = None
_singleton_lock = threading.Lock()


def get_user_api_key_service() -> UserAPIKeyService:
    """The process-wide service, created lazily on first use (no import-time side effects)."""
    global _singleton
    with _singleton_lock:
        if _singleton is None:
            _singleton = UserAPIKeyService()
        return _singleton


def set_user_api_key_service(service: UserAPIKeyService | None) -> None:
    """Install the app's service as the process-wide one (create_app does this)."""
    global _singleton
    with _singleton_lock:
        _singleton = service


def __getattr__(name: str):
    """Lazy `user_api_key_service.user_api_key_service`, the original module-level singleton."""
    if name == "user_api_key_service":
        return get_user_api_key_service()
    raise AttributeError(name)


__all__ = ["UserAPIKeyService", "get_user_api_key_service", "KeyCheckResult"]

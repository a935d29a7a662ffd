"""Encryption keys for the vault: MultiFernet over configured or persisted keys."""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)


class EncryptionConfigError(RuntimeError):
    """The configured encryption keys are unusable; start-up must stop."""


def key_id(raw_key: bytes) -> str:
    """A short public id of an encryption key (never reveals the key)."""
    return hashlib.sha256(b"byok-key-id:" + raw_key).hexdigest()[:12]


@dataclass
class VaultCipher:
    """Encrypts with the primary key, decrypts with any configured key."""

    keys: list[bytes]

    def __post_init__(self) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in self.keys])
        self.primary_id = key_id(self.keys[0])
        self._fp_key = hashlib.sha256(b"byok-fingerprint:" + self.keys[0]).digest()

    def encrypt(self, plaintext: str) -> str:
        """Encrypt with the primary key; returns the Fernet token as text."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt with any configured key; raises InvalidToken if none fits."""
        return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the primary key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    def fingerprint(self, plaintext: str) -> str:
        """A keyed fingerprint that recognises a key without decrypting it."""
        return hmac.new(self._fp_key, plaintext.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def _parse(spec: str) -> list[bytes]:
    keys = [part.strip().encode("ascii") for part in spec.split(",") if part.strip()]
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise EncryptionConfigError(
                f"Encryption key #{index + 1} in BYOK_ENCRYPTION_KEYS/ATOM_OAUTH_ENCRYPTION_KEY is not a "
                "valid Fernet key (32 url-safe base64-encoded bytes). Generate one with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from exc
    return keys


def _load_or_create_file(path: Path) -> list[bytes]:
    if path.exists():
        return _parse(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)           # atomic: a concurrent process either wins or loses whole
        log.warning("generated a new vault encryption key at %s (mode 0600); back it up",
                    path.resolve())
    except FileExistsError:
        pass                         # another process created it first: use its key
    finally:
        tmp.unlink(missing_ok=True)
    return _parse(path.read_text())


def load_cipher(spec: str, key_file: Path) -> VaultCipher:
    """Configured keys win; otherwise the persisted key file, created once on first use."""
    if spec.strip():
        return VaultCipher(_parse(spec))
    keys = _load_or_create_file(key_file)
    if not keys:
        raise EncryptionConfigError(f"Encryption key file {key_file} is empty")
    log.info("vault encryption key loaded from %s", key_file.resolve())
    return VaultCipher(keys)


__all__ = ["VaultCipher", "EncryptionConfigError", "InvalidToken", "load_cipher", "key_id"]

"""The key vault: the only place that encrypts, decrypts and stores provider keys."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditLog, Actor
from cipher import InvalidToken, VaultCipher
from models import ApiKey, utcnow
from providers.types import Credentials, KeyCheckResult
from secret import Secret, last4, mask_key
from ttl_cache import MISSING, TTLCache

log = logging.getLogger(__name__)
META_FIELDS = ("endpoint", "deployment", "api_version", "region", "base_url")
USABLE = "\x00usable"   # cache slot for a user's usable-credentials map


@dataclass(frozen=True)
class KeyRecord:
    """What may be shown about a stored key: never the key itself."""

    user_id: str
    provider: str
    masked: str
    last4: str
    fingerprint: str
    key_id: str
    metadata: dict[str, str]
    test_ok: bool | None
    test_status: str | None
    test_message: str | None
    tested_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decryptable: bool = True
    empty: bool = False


class CredentialCache(TTLCache):
    """Decrypted credentials per (user, provider), plus each user's usable-credentials map."""

    def invalidate(self, user_id: str | None = None, provider: str | None = None) -> None:
        """Drop one entry (and the user's usable map), one user's entries, or everything."""
        if user_id is None:
            self.clear()
        elif provider is not None:
            self.pop((user_id, provider), (user_id, USABLE))
        else:
            self.drop_where(lambda key: key[0] == user_id)


def clean_metadata(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Keep only the known, non-secret metadata fields, as short strings."""
    out: dict[str, str] = {}
    for name in META_FIELDS:
        value = (raw or {}).get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()[:500]
    return out


class KeyVault:
    """Encrypted per-user provider keys on any SQLAlchemy engine."""

    def __init__(self, engine: Engine, cipher: VaultCipher, *, cache_ttl_s: float = 5.0) -> None:
        self.engine = engine
        self.cipher = cipher
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self.audit = AuditLog(self._sessions)
        self.cache = CredentialCache(ttl_s=cache_ttl_s)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commit on success, roll back on error."""
        with self._sessions() as sess, sess.begin():
            yield sess

    # -- writes -------------------------------------------------------------------------------
    def store(self, user_id: str, provider: str, api_key: str, *,
              metadata: Mapping[str, Any] | None = None, actor: Actor | None = None) -> KeyRecord:
        """Encrypt and upsert a key; created_at survives updates."""
        values = self._sealed_values(api_key, clean_metadata(metadata))
        for _ in range(3):           # a concurrent insert of the same pair retries as an update
            try:
                with self.session() as sess:
                    row = self._row(sess, user_id, provider)
                    action = "key.updated" if row else "key.saved"
                    if row is None:
                        row = ApiKey(user_id=user_id, provider=provider, created_at=utcnow())
                        sess.add(row)
                    for name, value in values.items():
                        setattr(row, name, value)
                    row.test_ok = row.test_status = row.test_message = row.tested_at = None
                    row.updated_at = utcnow()
                break
            except IntegrityError:
                continue
        self.cache.invalidate(user_id, provider)
        self.audit.record(actor, user_id, action, provider, "ok")
        return self._record(row)

    def _sealed_values(self, api_key: str, meta: dict[str, str]) -> dict[str, Any]:
        return {"ciphertext": self.cipher.encrypt(api_key), "key_id": self.cipher.primary_id,
                "last4": last4(api_key), "fingerprint": self.cipher.fingerprint(api_key),
                "meta": json.dumps(meta, sort_keys=True)}

    def remove(self, user_id: str, provider: str, *, actor: Actor | None = None) -> bool:
        """Delete a key; True if one existed."""
        with self.session() as sess:
            row = self._row(sess, user_id, provider)
            if row is not None:
                sess.delete(row)
        self.cache.invalidate(user_id, provider)
        self.audit.record(actor, user_id, "key.deleted", provider, "ok" if row else "not_found")
        return row is not None

    def record_test(self, user_id: str, provider: str, result: KeyCheckResult, *,
                    actor: Actor | None = None) -> None:
        """Persist the latest key-test verdict on the row (and audit it)."""
        with self.session() as sess:
            sess.execute(update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.provider == provider)
                         .values(test_ok=result.ok, test_status=result.status,
                                 test_message=result.message[:1000], tested_at=utcnow()))
        self.cache.invalidate(user_id, provider)
        self.audit.record(actor, user_id, "key.tested", provider, result.status)

    # -- reads --------------------------------------------------------------------------------
    def records(self, user_id: str) -> list[KeyRecord]:
        """Every stored key of a user, by provider name, without plaintext."""
        with self.session() as sess:
            rows = sess.scalars(select(ApiKey).where(ApiKey.user_id == user_id)
                                .order_by(ApiKey.provider)).all()
            return [self._record(row) for row in rows]

    def record(self, user_id: str, provider: str) -> KeyRecord | None:
        """One stored key's public record, or None."""
        with self.session() as sess:
            row = self._row(sess, user_id, provider)
            return self._record(row) if row else None

    def reveal(self, user_id: str, provider: str) -> Secret | None:
        """The decrypted key (None if missing or undecryptable)."""
        creds = self.credentials(user_id, provider)
        return creds.api_key if creds else None

    def credentials(self, user_id: str, provider: str) -> Credentials | None:
        """Key plus metadata for an upstream call, through the short-TTL cache."""
        cached = self.cache.get((user_id, provider))
        if cached is not MISSING:
            return cached
        with self.session() as sess:
            row = self._row(sess, user_id, provider)
            creds = self._credentials(row) if row else None
        self.cache.put((user_id, provider), creds)
        return creds

    def usable_credentials(self, user_id: str, unusable: frozenset[str]) -> dict[str, Credentials]:
        """Provider -> credentials for every non-empty key whose last test did not rule it out."""
        cached = self.cache.get((user_id, USABLE))
        if cached is not MISSING:
            return cached
        out: dict[str, Credentials] = {}
        with self.session() as sess:
            for row in sess.scalars(select(ApiKey).where(ApiKey.user_id == user_id)):
                creds = None if row.test_status in unusable else self._credentials(row)
                if creds is not None and creds.api_key:
                    out[row.provider] = creds
        self.cache.put((user_id, USABLE), out)
        return out

    def _credentials(self, row: ApiKey) -> Credentials | None:
        try:
            plain = self.cipher.decrypt(row.ciphertext)
        except (InvalidToken, ValueError):
            log.error("key for user=%s provider=%s does not decrypt with any configured key",
                      row.user_id, row.provider)
            return None
        return Credentials(api_key=Secret(plain), metadata=json.loads(row.meta or "{}"))

    @staticmethod
    def _row(sess: Session, user_id: str, provider: str) -> ApiKey | None:
        return sess.scalars(select(ApiKey).where(ApiKey.user_id == user_id,
                                                 ApiKey.provider == provider)).first()

    def _record(self, row: ApiKey) -> KeyRecord:
        creds = self._credentials(row)
        raw = creds.api_key if creds else None
        return KeyRecord(
            user_id=row.user_id, provider=row.provider, masked=mask_key(raw) if raw else "***",
            last4=row.last4, fingerprint=row.fingerprint, key_id=row.key_id,
            metadata=json.loads(row.meta or "{}"), test_ok=row.test_ok, test_status=row.test_status,
            test_message=row.test_message, tested_at=row.tested_at, created_at=row.created_at,
            updated_at=row.updated_at, decryptable=creds is not None,
            empty=creds is not None and not raw)

    # -- maintenance --------------------------------------------------------------------------
    def rotate(self, *, batch: int = 200, progress: Callable[[int], None] | None = None,
               actor: Actor | None = None) -> dict[str, int]:
        """Re-encrypt every row not sealed by the primary key; safe to interrupt and re-run."""
        from rotation import rotate_rows  # local import keeps this module small
        counts = rotate_rows(self, batch=batch, progress=progress)
        self.cache.invalidate()
        self.audit.record(actor, "*", "key.rotated", "", "ok",
                          detail=" ".join(f"{k}={v}" for k, v in counts.items()))
        return counts

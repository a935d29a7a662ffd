"""Gateway authentication: local desktop mode, or hashed bearer tokens bound to one user."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit import Actor, AuditLog
from errors import AuthenticationError, LimitExceededError, NotFoundError, PermissionDeniedError
from models import ApiToken, iso, utcnow
from ttl_cache import MISSING, TTLCache

TOKEN_PREFIX = "byok_"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: whose data it may touch, and whether it may touch anyone's."""

    user_id: str
    is_admin: bool
    name: str

    def actor(self, ip: str) -> Actor:
        """The audit actor for this principal."""
        return Actor(self.name, ip)


def hash_token(raw: str) -> str:
    """SHA-256 of a token (tokens are 256-bit random, so no salt or KDF is needed)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class FailureThrottle:
    """Counts auth failures per client in a sliding window and refuses clients over the limit."""

    def __init__(self, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise LimitExceededError while a client is over the failure limit."""
        with self._lock:
            times = self._prune(client)
            if len(times) >= self.limit:
                wait = max(1, int(times[0] + self.window_s - time.monotonic()) + 1)
                raise LimitExceededError(
                    f"Too many failed authentication attempts; retry in {wait} s",
                    code="auth_throttled", headers={"Retry-After": str(wait)})

    def fail(self, client: str) -> None:
        """Record one failure."""
        with self._lock:
            self._prune(client).append(time.monotonic())
            if len(self._fails) > 100_000:       # bound memory under a spray of addresses
                self._fails.clear()

    def _prune(self, client: str) -> deque[float]:
        times = self._fails[client]
        horizon = time.monotonic() - self.window_s
        while times and times[0] < horizon:
            times.popleft()
        return times


class TokenService:
    """Creates, lists, revokes and verifies gateway tokens."""

    def __init__(self, sessions: Callable[[], Session], audit: AuditLog, *, cache_ttl_s: float = 5.0):
        self._sessions, self.audit = sessions, audit
        self._cache = TTLCache(cache_ttl_s, max_entries=50_000)   # token hash -> Principal | None

    def create(self, user_id: str, *, admin: bool = False, label: str = "",
               actor: Actor | None = None) -> tuple[str, dict]:
        """Create a token; the raw value is returned once and never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(token_hash=hash_token(raw), prefix=raw[:12], user_id=user_id,
                       is_admin=admin, label=label[:128], created_at=utcnow())
        with self._sessions() as sess, sess.begin():
            sess.add(row)
        self.audit.record(actor, user_id, "token.created", outcome="ok",
                          detail=f"prefix={row.prefix} admin={admin}")
        return raw, _token_dict(row)

    def revoke(self, prefix: str, *, actor: Actor | None = None) -> dict:
        """Revoke every live token with this display prefix."""
        with self._sessions() as sess, sess.begin():
            rows = sess.scalars(select(ApiToken).where(ApiToken.prefix == prefix,
                                                       ApiToken.revoked_at.is_(None))).all()
            if not rows:
                raise NotFoundError(f"No live token with prefix {prefix}")
            sess.execute(update(ApiToken).where(ApiToken.prefix == prefix).values(revoked_at=utcnow()))
            users = sorted({r.user_id for r in rows})
        self._cache.clear()
        for user in users:
            self.audit.record(actor, user, "token.revoked", outcome="ok", detail=f"prefix={prefix}")
        return {"prefix": prefix, "revoked": len(rows)}

    def list(self) -> list[dict]:
        """Every token without secrets: prefix, user, admin flag, dates."""
        with self._sessions() as sess:
            return [_token_dict(r) for r in sess.scalars(select(ApiToken).order_by(ApiToken.id))]

    def verify(self, raw: str) -> Principal | None:
        """The principal for a raw token, or None (cached briefly by hash)."""
        digest = hash_token(raw)
        hit = self._cache.get(digest)
        if hit is not MISSING:
            return hit
        with self._sessions() as sess:
            row = sess.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        ok = row is not None and row.revoked_at is None and hmac.compare_digest(row.token_hash, digest)
        principal = Principal(row.user_id, row.is_admin, f"token:{row.prefix}") if ok else None
        self._cache.put(digest, principal)
        return principal


def _token_dict(row: ApiToken) -> dict:
    return {"prefix": row.prefix, "user_id": row.user_id, "is_admin": row.is_admin,
            "label": row.label, "created_at": iso(row.created_at), "revoked_at": iso(row.revoked_at)}


def authorize(principal: Principal, user_id: str) -> None:
    """Allow a principal to act on user_id's data, or raise PermissionDeniedError."""
    if not (principal.is_admin or hmac.compare_digest(principal.user_id, user_id)):
        raise PermissionDeniedError("This token may not access another user's data")


def bearer_token(header: str | None) -> str:
    """Extract the token from an Authorization header or raise AuthenticationError."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("Missing bearer token: send 'Authorization: Bearer <token>'")
    return value.strip()

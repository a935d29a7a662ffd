"""Per-user budgets and rate limits that hold under concurrency, across processes and instances.

Every admission is one transaction of guarded UPDATEs on window counters:
    UPDATE limit_counters SET used = used + :n WHERE ... AND used + :n <= :limit
A row is changed only if the limit still holds at that instant (the database serialises the
writes), so concurrent requests can never jointly overshoot; there is no check-then-write.
Spend is reserved as a worst case before dispatch and settled with the real cost afterwards.
"""
from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import catalogue
from errors import BadRequestError, LimitExceededError
from models import LimitCounter, UserLimits, utcnow
from ttl_cache import MISSING, TTLCache

FIELDS = ("requests_per_minute", "tokens_per_minute", "monthly_usd")


@dataclass
class Reservation:
    """What was taken from each window, to settle or release later."""

    user_id: str
    windows: dict[str, int]
    tokens: float = 0.0
    spend: float = 0.0
    settled: bool = field(default=False)


def _month_window(now: float) -> tuple[int, int]:
    t = time.gmtime(now)
    start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return start, calendar.timegm((year, month, 1, 0, 0, 0))


def _windows(now: float) -> dict[str, tuple[int, int]]:
    minute = int(now // 60) * 60
    return {"requests": (minute, minute + 60), "tokens": (minute, minute + 60),
            "spend": _month_window(now)}


class Limits:
    """Reads and enforces a user's limits on the shared database."""

    def __init__(self, sessions: Callable[[], Session], *, default_output_tokens: int = 4096,
                 cache_ttl_s: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self._sessions, self.clock = sessions, clock
        self.default_output_tokens = default_output_tokens
        self._cache = TTLCache(cache_ttl_s)          # user id -> limits dict | None

    # -- settings ------------------------------------------------------------------------------
    def get(self, user_id: str) -> dict[str, Any] | None:
        """The user's limits, or None when none are set (cached briefly)."""
        hit = self._cache.get(user_id)
        if hit is not MISSING:
            return hit
        with self._sessions() as sess:
            row = sess.get(UserLimits, user_id)
            value = {f: getattr(row, f) for f in FIELDS} if row else None
        if value is not None and all(v is None for v in value.values()):
            value = None
        self._cache.put(user_id, value)
        return value

    def set(self, user_id: str, body: Any) -> dict[str, Any]:
        """Replace the given limits (null clears one); returns the stored settings."""
        values = _validate(body)
        with self._sessions() as sess, sess.begin():
            row = sess.get(UserLimits, user_id) or UserLimits(user_id=user_id)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            sess.add(row)
        self._cache.pop(user_id)
        return self.describe(user_id)

    def describe(self, user_id: str) -> dict[str, Any]:
        """Settings plus the current windows' usage and reset times."""
        limits = self.get(user_id) or {f: None for f in FIELDS}
        now = self.clock()
        usage = {}
        with self._sessions() as sess:
            for kind, (start, end) in _windows(now).items():
                used = sess.scalar(select(LimitCounter.used).where(
                    LimitCounter.user_id == user_id, LimitCounter.kind == kind,
                    LimitCounter.window == start)) or 0.0
                usage[kind] = {"used": round(used, 8), "resets_at": _iso(end)}
        return {"limits": limits, "usage": usage}

    # -- enforcement ---------------------------------------------------------------------------
    def reserve(self, user_id: str, chain: list, features) -> Reservation | None:
        """Admit a request or raise LimitExceededError; nothing reaches a provider if refused."""
        limits = self.get(user_id)
        if limits is None:
            return None
        output = features.max_tokens or self.default_output_tokens
        tokens = features.prompt_tokens + output
        spend = _worst_cost(chain, features.prompt_tokens, output)
        now = self.clock()
        wins = _windows(now)
        wanted = [("requests", limits["requests_per_minute"], 1.0),
                  ("tokens", limits["tokens_per_minute"], float(tokens)),
                  ("spend", limits["monthly_usd"], spend)]
        with self._sessions() as sess, sess.begin():
            for kind, limit, amount in wanted:
                if limit is not None and not _take(sess, user_id, kind, wins[kind][0], amount, limit):
                    sess.rollback()
                    raise _refusal(kind, limit, amount, wins[kind][1], now)
        return Reservation(user_id, {k: w[0] for k, w in wins.items()}, tokens, spend)

    def settle(self, reservation: Reservation, *, tokens: int, cost_usd: float | None) -> None:
        """Replace the worst-case reservation with what the request really used (priced once,
        by the ledger; an unpriced model settles at 0)."""
        self._adjust(reservation, tokens - reservation.tokens, (cost_usd or 0.0) - reservation.spend)

    def release(self, reservation: Reservation) -> None:
        """Give back tokens and spend of a request that failed (it still counts as a request)."""
        self._adjust(reservation, -reservation.tokens, -reservation.spend)

    def _adjust(self, reservation: Reservation, tokens: float, spend: float) -> None:
        if reservation.settled:
            return
        reservation.settled = True
        with self._sessions() as sess, sess.begin():
            for kind, delta in (("tokens", tokens), ("spend", spend)):
                if delta:
                    sess.execute(update(LimitCounter).where(
                        LimitCounter.user_id == reservation.user_id, LimitCounter.kind == kind,
                        LimitCounter.window == reservation.windows[kind])
                        .values(used=LimitCounter.used + delta))


def _take(sess: Session, user_id: str, kind: str, window: int, amount: float, limit: float) -> bool:
    """Atomically add amount to the window's counter if it stays within limit."""
    dialect = sess.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    sess.execute(insert(LimitCounter).values(user_id=user_id, kind=kind, window=window, used=0.0)
                 .on_conflict_do_nothing())
    result = sess.execute(update(LimitCounter).where(
        LimitCounter.user_id == user_id, LimitCounter.kind == kind, LimitCounter.window == window,
        LimitCounter.used + amount <= limit).values(used=LimitCounter.used + amount))
    return result.rowcount == 1


def _worst_cost(chain: list, prompt: int, output: int) -> float:
    costs = [catalogue.cost_usd(c.provider, c.model, prompt, output) for c in chain]
    return max((c for c in costs if c is not None), default=0.0)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


def _refusal(kind: str, limit: float, amount: float, reset: int, now: float) -> LimitExceededError:
    names = {"requests": f"requests-per-minute limit of {int(limit)}",
             "tokens": f"tokens-per-minute limit of {int(limit)} (this request needs up to {int(amount)})",
             "spend": f"monthly spend cap of ${limit:.2f} (this request may cost up to ${amount:.4f})"}
    wait = max(1, int(reset - now))
    return LimitExceededError(f"Refused by your {names[kind]}; it resets at {_iso(reset)}",
                              code=f"{kind}_limit_exceeded", headers={"Retry-After": str(wait)})


def _validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not set(body) <= set(FIELDS) or not body:
        raise BadRequestError(f"Send a JSON object with any of: {', '.join(FIELDS)} (null clears)",
                              code="invalid_limits")
    out = {}
    for name, value in body.items():
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        if value is not None and (not number_ok or value > 1e12):
            raise BadRequestError(f"'{name}' must be a number >= 0 or null", code="invalid_limits")
        if value is not None and name != "monthly_usd" and int(value) != value:
            raise BadRequestError(f"'{name}' must be a whole number", code="invalid_limits")
        out[name] = value
    return out

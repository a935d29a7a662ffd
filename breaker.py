"""Circuit breakers per (user, provider, model): in-process, or shared through Redis."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass
class _State:
    fails: int = 0
    opened_at: float = 0.0
    probe_at: float = 0.0


class BreakerStore(Protocol):
    """Where breaker state lives."""

    def allow(self, key: str, now: float) -> bool: ...
    def success(self, key: str) -> None: ...
    def failure(self, key: str, now: float) -> None: ...
    def is_open(self, key: str, now: float) -> bool: ...


class MemoryBreakerStore:
    """Breaker state in this process."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold, self.cooldown_s = threshold, cooldown_s
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> bool:
        """Closed: yes. Open: only one probe per cooldown once the cooldown has passed."""
        with self._lock:
            state = self._states.get(key)
            if state is None or state.fails < self.threshold:
                return True
            if now - max(state.opened_at, state.probe_at) < self.cooldown_s:
                return False
            state.probe_at = now
            return True

    def success(self, key: str) -> None:
        """Close the breaker."""
        with self._lock:
            self._states.pop(key, None)

    def failure(self, key: str, now: float) -> None:
        """Count a failure; open at the threshold (a failed probe re-opens it)."""
        with self._lock:
            state = self._states.setdefault(key, _State())
            state.fails += 1
            if state.fails >= self.threshold:
                state.opened_at = now
            if len(self._states) > 100_000:
                self._states.clear()

    def is_open(self, key: str, now: float) -> bool:
        """Open and still cooling down."""
        with self._lock:
            state = self._states.get(key)
            return bool(state and state.fails >= self.threshold
                        and now - max(state.opened_at, state.probe_at) < self.cooldown_s)


_ALLOW = """
local fails = tonumber(redis.call('HGET', KEYS[1], 'fails') or '0')
if fails < tonumber(ARGV[2]) then return 1 end
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened') or '0')
local probe = tonumber(redis.call('HGET', KEYS[1], 'probe') or '0')
if tonumber(ARGV[1]) - math.max(opened, probe) < tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'probe', ARGV[1])
return 1
"""
_FAIL = """
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
if fails >= tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], 'opened', ARGV[1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return fails
"""


class RedisBreakerStore:
    """Breaker state shared by every worker and instance through atomic Lua scripts."""

    def __init__(self, client, threshold: int, cooldown_s: float) -> None:
        self.client, self.threshold, self.cooldown_s = client, threshold, cooldown_s
        self._allow = client.register_script(_ALLOW)
        self._fail = client.register_script(_FAIL)

    def _key(self, key: str) -> str:
        return f"byok:breaker:{key}"

    def allow(self, key: str, now: float) -> bool:
        """Atomic allow/probe decision."""
        return bool(self._allow(keys=[self._key(key)], args=[now, self.threshold, self.cooldown_s]))

    def success(self, key: str) -> None:
        """Close the breaker."""
        self.client.delete(self._key(key))

    def failure(self, key: str, now: float) -> None:
        """Atomic failure count."""
        ttl = int(max(60, self.cooldown_s * 10))
        self._fail(keys=[self._key(key)], args=[now, self.threshold, ttl])

    def is_open(self, key: str, now: float) -> bool:
        """Open and still cooling down."""
        data = self.client.hgetall(self._key(key))
        fails = int(data.get(b"fails", 0))
        last = max(float(data.get(b"opened", 0)), float(data.get(b"probe", 0)))
        return fails >= self.threshold and now - last < self.cooldown_s


class CircuitBreaker:
    """Opens after repeated failures, lets a probe through after a cooldown, closes on success."""

    def __init__(self, store: BreakerStore, clock=time.time) -> None:
        self.store, self.clock = store, clock

    @staticmethod
    def key(user_id: str, provider: str, model: str) -> str:
        """One breaker per user, provider and model: one user's failures never cool another's."""
        return f"{user_id}\x1f{provider}\x1f{model}"

    def allow(self, key: str) -> bool:
        """May an attempt go to this key now?"""
        return self.store.allow(key, self.clock())

    def success(self, key: str) -> None:
        """Record a success."""
        self.store.success(key)

    def failure(self, key: str) -> None:
        """Record a failure."""
        self.store.failure(key, self.clock())

    def is_open(self, key: str) -> bool:
        """Is it open right now (without consuming a probe)?"""
        return self.store.is_open(key, self.clock())


def build_breaker(threshold: int, cooldown_s: float, redis_url: str = "") -> CircuitBreaker:
    """In-process by default; shared through Redis when REDIS_URL is set."""
    if redis_url:
        import redis
        return CircuitBreaker(RedisBreakerStore(redis.Redis.from_url(redis_url), threshold, cooldown_s))
    return CircuitBreaker(MemoryBreakerStore(threshold, cooldown_s))

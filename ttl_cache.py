"""A bounded, short-TTL, thread-safe in-process cache (LRU eviction), never serialised."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

MISSING = object()


class TTLCache:
    """Maps keys to values for ttl_s seconds; at most max_entries, least recently used go first."""

    def __init__(self, ttl_s: float, max_entries: int = 20_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._items: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The live value (which may itself be None), or MISSING."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[1] < time.monotonic():
                return MISSING
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any) -> None:
        """Remember a value for ttl_s seconds (a TTL of 0 disables caching)."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._items[key] = (value, time.monotonic() + self.ttl_s)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def pop(self, *keys: Hashable) -> None:
        """Forget some keys."""
        with self._lock:
            for key in keys:
                self._items.pop(key, None)

    def drop_where(self, predicate: Callable[[Hashable], bool]) -> None:
        """Forget every key the predicate selects."""
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                del self._items[key]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(entries={len(self._items)})"

"""Simulator state (request log, scripted FIFOs, config) and the ``/__sim/*`` control API.

Control API (all JSON):

* ``POST /__sim/script`` ``{"provider": "<id>"|"*", "responses": [entry, ...]}`` appends to that
  provider's FIFO ("*" = a shared FIFO used when the provider's own FIFO is empty); one entry is
  consumed per chat or embedding request. Entry keys: see ``ENTRY_KEYS`` and ``faults.FAULTS``.
* ``POST /__sim/config`` ``{"provider": "<id>"|"*" (default "*"), "chunks": 20, ...}`` sets
  defaults (keys ``CONFIG_KEYS``); provider config beats global config; ``GET`` returns it.
* ``GET /__sim/requests[?provider=<id>][&since=<id>][&limit=<n>]`` returns
  ``{"requests": [...]}`` (oldest first; ``limit`` keeps the newest n). Entry fields: ``id``,
  ``ts``, ``provider``, ``method``, ``path``, ``query`` (a ``key=`` value is replaced by its
  hash), ``headers`` (names only), ``auth_present``, ``auth_scheme``, ``key_hash``
  (sha256(key)[:12]), ``endpoint``, ``model``, ``stream``, ``body`` (the JSON sent), ``scripted``,
  ``fault``, ``status`` (null when the connection was dropped before headers), ``completed``,
  ``client_disconnected``, ``stream_started``, ``stream_ended``.
* ``POST /__sim/reset`` clears the log, every FIFO and all config.
* ``GET /__sim/health`` returns ``{"ok": true}``.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from urllib.parse import parse_qs

from simulator.content import DEFAULT_SETTINGS
from simulator.faults import FAULTS

PROVIDERS = ("openai", "azure", "anthropic", "gemini", "deepseek", "glm", "kimi")
CONFIG_KEYS = frozenset(DEFAULT_SETTINGS)
ENTRY_KEYS = CONFIG_KEYS | {
    "usage", "fault", "retry_after", "retry_after_ms", "stall_s", "hang_s", "after_chunks",
    "variant", "status", "body", "headers", "tool_call",
}


class ControlError(ValueError):
    """A control request that cannot be applied (answered with 400)."""


class SimState:
    """Greenlet/thread-safe store of the request log, scripted FIFOs and config."""

    def __init__(self, *, max_log: int = 100_000) -> None:
        """Create empty state; the log keeps at most ``max_log`` entries."""
        self._lock = threading.Lock()
        self._log: deque = deque(maxlen=max_log)
        self._fifos: dict = {}
        self._config: dict = {}
        self._seq = 0

    def record(self, entry: dict) -> dict:
        """Number and append a log entry (the same dict is updated as the request proceeds)."""
        with self._lock:
            self._seq += 1
            entry["id"] = self._seq
            self._log.append(entry)
        return entry

    def requests(self, *, provider: str | None = None, since: int = 0) -> list:
        """A copy of the log, optionally filtered by provider and by id > since."""
        with self._lock:
            items = list(self._log)
        return [e for e in items if e["id"] > since and (not provider or e["provider"] == provider)]

    def add_scripts(self, provider: str, responses: list) -> int:
        """Append validated entries to a provider FIFO; return its new length."""
        for entry in responses:
            validate_entry(entry)
        with self._lock:
            fifo = self._fifos.setdefault(provider, deque())
            fifo.extend(dict(e) for e in responses)
            return len(fifo)

    def next_script(self, provider: str) -> dict | None:
        """Pop the next scripted entry for a provider (own FIFO first, then "*")."""
        with self._lock:
            for key in (provider, "*"):
                fifo = self._fifos.get(key)
                if fifo:
                    return fifo.popleft()
        return None

    def configure(self, provider: str, settings: dict) -> dict:
        """Merge settings into a provider's (or the global "*") config."""
        unknown = set(settings) - CONFIG_KEYS
        if unknown:
            raise ControlError(f"unknown config keys {sorted(unknown)}; allowed {sorted(CONFIG_KEYS)}")
        _check_types(settings)
        with self._lock:
            self._config.setdefault(provider, {}).update(settings)
            return {k: dict(v) for k, v in self._config.items()}

    def settings(self, provider: str, entry: dict | None) -> dict:
        """Effective settings: defaults < global config < provider config < script entry."""
        merged = dict(DEFAULT_SETTINGS)
        merged.update(self._config.get("*", {}))
        merged.update(self._config.get(provider, {}))
        if entry:
            merged.update({k: v for k, v in entry.items() if k in CONFIG_KEYS})
        return merged

    def config(self) -> dict:
        """A copy of the configured settings per provider."""
        with self._lock:
            return {k: dict(v) for k, v in self._config.items()}

    def reset(self) -> None:
        """Clear the log, all FIFOs and all config."""
        with self._lock:
            self._log.clear()
            self._fifos.clear()
            self._config.clear()


NUMBER_KEYS = frozenset({"chunks", "chunk_delay_ms", "first_chunk_delay_ms", "latency_ms",
                         "keepalives", "retry_after", "retry_after_ms", "stall_s", "hang_s",
                         "after_chunks", "status"})
_TYPES = {"content": (str, type(None)), "usage": dict, "headers": dict, "variant": str,
          "tool_call": (dict, bool)}


def _check_types(values: dict) -> None:
    """Numbers must be non-negative numbers; other keys must have their JSON type."""
    for key, value in values.items():
        if key in NUMBER_KEYS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ControlError(f"{key} must be a non-negative number, not {value!r}")
        elif key in _TYPES and not isinstance(value, _TYPES[key]):
            raise ControlError(f"{key} has the wrong type: {value!r}")


def validate_entry(entry) -> None:
    """Reject script entries with unknown keys, bad types or fault names (typos fail loudly)."""
    if not isinstance(entry, dict):
        raise ControlError("each scripted response must be a JSON object")
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise ControlError(f"unknown script keys {sorted(unknown)}; allowed {sorted(ENTRY_KEYS)}")
    _check_types(entry)
    fault = entry.get("fault")
    if fault is not None and fault not in FAULTS:
        raise ControlError(f"unknown fault {fault!r}; known {sorted(FAULTS)}")


def _provider_of(body: dict, *, default: str | None = None) -> str:
    """The provider named in a control body, validated."""
    provider = body.get("provider", default)
    if provider != "*" and provider not in PROVIDERS:
        raise ControlError(f"provider must be '*' or one of {list(PROVIDERS)}")
    return provider


def handle_control(state: SimState, method: str, path: str, query: str, body) -> tuple:
    """Serve one control request; returns (status, json-able object)."""
    try:
        return 200, _dispatch(state, method, path, query, body if isinstance(body, dict) else {})
    except (ControlError, ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}
    except KeyError:
        return 404, {"error": f"no control endpoint {method} {path}"}


def _dispatch(state: SimState, method: str, path: str, query: str, body: dict) -> dict:
    """Route a control request to the state method it names."""
    if (method, path) == ("GET", "/__sim/requests"):
        params = parse_qs(query)
        since = int(params.get("since", ["0"])[0] or 0)
        found = state.requests(provider=params.get("provider", [None])[0], since=since)
        limit = int(params.get("limit", ["0"])[0] or 0)
        return {"requests": found[-limit:] if limit else found}
    if (method, path) == ("POST", "/__sim/script"):
        responses = body.get("responses")
        if not isinstance(responses, list):
            raise ControlError('body must be {"provider": ..., "responses": [...]}')
        return {"ok": True, "queued": state.add_scripts(_provider_of(body), responses)}
    if (method, path) == ("POST", "/__sim/config"):
        settings = {k: v for k, v in body.items() if k != "provider"}
        return {"ok": True, "config": state.configure(_provider_of(body, default="*"), settings)}
    if (method, path) == ("GET", "/__sim/config"):
        return {"config": state.config()}
    if (method, path) == ("POST", "/__sim/reset"):
        state.reset()
        return {"ok": True}
    if (method, path) == ("GET", "/__sim/health"):
        return {"ok": True, "time": time.time()}
    raise KeyError(path)

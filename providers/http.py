"""A lean request path: prepare once by hand and hand it to the session's transport adapter.

`Session.request` re-merges environment, cookie and hook settings and re-prepares headers on every
call; for a gateway that sends the same shape of request thousands of times a second that was
most of the worker's CPU. Sending a PreparedRequest straight to the session's adapter keeps
pooling, keep-alive and timeouts, and never follows redirects (which would forward custom key
headers to another host). The adapter is `ADAPTER`: the lean transport in production
(`providers/transport.py`); unit tests that mock with `responses` swap in requests' stock
HTTPAdapter, which is what `responses` intercepts.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import orjson
import requests
from requests.adapters import BaseAdapter

from providers.transport import LeanAdapter
from requests.structures import CaseInsensitiveDict

POOL_MAXSIZE = 1024   # idle keep-alive sockets kept per host: 1,000 concurrent streams reuse theirs
ADAPTER: Callable[[], BaseAdapter] = lambda: LeanAdapter(pool_maxsize=POOL_MAXSIZE)
_sessions: dict[type, requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(cls: type) -> requests.Session:
    """The shared keep-alive session of one provider class, with a large connection pool."""
    with _sessions_lock:
        session = _sessions.get(cls)
        if session is None:
            session = requests.Session()
            # Not from the environment: no proxy or netrc look-ups per call (a tenth of the CPU in
            # the profile), and no ambient credentials attached to provider calls.
            session.trust_env = False
            adapter = ADAPTER()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _sessions[cls] = session
        return session


def prepare(method: str, url: str, *, headers: Mapping[str, str], body: Any = None,
            params: Mapping[str, str] | None = None) -> requests.PreparedRequest:
    """A PreparedRequest with a JSON body (orjson) and an encoded query string."""
    prepared = requests.PreparedRequest()
    prepared.method = method
    prepared.url = f"{url}?{urlencode(params)}" if params else url
    prepared.headers = CaseInsensitiveDict(headers)
    prepared.body = _json_bytes(body) if body is not None else None
    if prepared.body is not None:
        prepared.headers["Content-Length"] = str(len(prepared.body))
    prepared.hooks = {"response": []}
    return prepared


def _json_bytes(body: Any) -> bytes:
    """orjson, or the stdlib for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def send(session: requests.Session, prepared: requests.PreparedRequest, *, stream: bool,
         timeout: tuple[float, float]) -> requests.Response:
    """Send through the session's adapter for this URL (pooled, no redirects, no env lookups)."""
    adapter = session.get_adapter(prepared.url)
    return adapter.send(prepared, stream=stream, timeout=timeout, verify=True, cert=None, proxies={})


def reset_sessions() -> None:
    """Close and forget every provider session (tests switching `ADAPTER` call this)."""
    with _sessions_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()

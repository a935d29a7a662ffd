"""URL prefixes per provider, per-provider key extraction and request-log entries.

URL conventions (one server impersonates all seven providers):

=========  ============================================  ==========================================
provider   SDK base URL (``SimulatorProcess.url_for``)   paths served
=========  ============================================  ==========================================
openai     ``/openai/v1``                                ``/openai/v1/...``
deepseek   ``/deepseek``                                 ``/deepseek/...`` and ``/deepseek/v1/...``
kimi       ``/kimi/v1``                                  ``/kimi/v1/...``
glm        ``/glm/api/paas/v4``                          ``/glm/api/paas/v4/...``
anthropic  ``/anthropic``                                ``/anthropic/v1/...``
gemini     ``/gemini``                                   ``/gemini/v1beta/...`` and ``/gemini/v1/...``
azure      ``/azure`` (azure_endpoint)                   ``/azure/openai/deployments/{dep}/...``,
                                                         ``/azure/openai/models``, ``/azure/openai/v1/...``
=========  ============================================  ==========================================
"""
from __future__ import annotations

import functools
import hashlib
import time
from urllib.parse import parse_qsl, urlencode

BASE_PATHS = {"openai": "/openai/v1", "deepseek": "/deepseek", "kimi": "/kimi/v1",
              "glm": "/glm/api/paas/v4", "anthropic": "/anthropic", "gemini": "/gemini",
              "azure": "/azure"}

_PREFIXES = (
    ("/openai/v1/", "openai", None), ("/deepseek/v1/", "deepseek", None),
    ("/deepseek/", "deepseek", None), ("/kimi/v1/", "kimi", None),
    ("/glm/api/paas/v4/", "glm", None), ("/anthropic/v1/", "anthropic", None),
    ("/gemini/v1beta/", "gemini", "v1beta"), ("/gemini/v1/", "gemini", "v1"),
    ("/azure/openai/v1/", "azure", "v1"), ("/azure/openai/", "azure", "classic"),
)


def match_route(method: str, path: str) -> tuple | None:
    """(provider, provider-relative path, params) for a request path, or None."""
    for prefix, provider, version in _PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix):]
            params = {"version": version, "native": f"{method} {path[len(provider) + 1:]}"}
            if version == "classic" and rest.startswith("deployments/"):
                deployment, _, rest = rest[len("deployments/"):].partition("/")
                params["deployment"] = deployment
            return provider, rest, params
    return None


def _bearer(environ: dict, query: dict) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


_GETTERS = {
    "bearer": _bearer,
    "api-key": lambda environ, query: environ.get("HTTP_API_KEY"),
    "x-api-key": lambda environ, query: environ.get("HTTP_X_API_KEY"),
    "x-goog-api-key": lambda environ, query: environ.get("HTTP_X_GOOG_API_KEY"),
    "query-key": lambda environ, query: (query.get("key") or [None])[0],
    "raw": lambda environ, query: environ.get("HTTP_AUTHORIZATION"),
}
# Accepted credentials in order of preference (providers.md §11). Some Zhipu clients send the
# raw key without "Bearer " [?], so GLM also accepts a bare Authorization value.
_SCHEMES = {"azure": ("api-key", "bearer"), "anthropic": ("x-api-key", "bearer"),
            "gemini": ("x-goog-api-key", "query-key"), "glm": ("bearer", "raw")}


def extract_key(provider: str, environ: dict, query: dict) -> tuple:
    """(scheme, key) as the provider accepts it, or (None, None); query is parse_qs output."""
    for scheme in _SCHEMES.get(provider, ("bearer",)):
        key = _GETTERS[scheme](environ, query)
        if key:
            return scheme, key
    return None, None


def key_hash(key: str) -> str:
    """How keys appear in the log: the first 12 hex digits of their SHA-256."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def _redacted_query(query_string: str) -> str:
    """The query string with any ``key=`` value replaced by its hash."""
    if "key=" not in query_string:
        return query_string
    pairs = [(k, f"sha256:{key_hash(v)}" if k == "key" else v)
             for k, v in parse_qsl(query_string, keep_blank_values=True)]
    return urlencode(pairs)


@functools.lru_cache(maxsize=1024)
def _header_name(cgi_name: str) -> str:
    """``HTTP_X_API_KEY`` -> ``x-api-key`` (one shared string per name: the log stays small)."""
    return cgi_name.removeprefix("HTTP_").replace("_", "-").lower()


def header_names(environ: dict) -> tuple:
    """Lower-case request header names (values are never logged)."""
    names = [_header_name(k) for k in environ if k.startswith("HTTP_")]
    names += [_header_name(k) for k in ("CONTENT_TYPE", "CONTENT_LENGTH") if environ.get(k)]
    return tuple(sorted(names))


def new_entry(provider: str, environ: dict, scheme: str | None, key: str | None) -> dict:
    """A request-log entry; later fields are filled in as the request proceeds."""
    return {
        "ts": time.time(), "provider": provider, "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "query": _redacted_query(environ.get("QUERY_STRING", "")),
        "headers": header_names(environ), "auth_present": key is not None,
        "auth_scheme": scheme, "key_hash": key_hash(key) if key else None,
        "endpoint": None, "model": None, "stream": False, "body": None, "scripted": False,
        "fault": None, "status": None, "completed": False, "client_disconnected": False,
        "stream_started": None, "stream_ended": None,
    }

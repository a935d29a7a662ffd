"""Which host names are this machine's loopback (local mode binds and accepts only these)."""
from __future__ import annotations

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def host_is_loopback(host_header: str) -> bool:
    """True if a Host header names a loopback host (blocks DNS rebinding in local mode)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host.split("]")[0] + "]"
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host in LOOPBACK_HOSTS

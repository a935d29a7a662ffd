"""Stream deadlines: a wall-clock first-token deadline, then a per-read stall timeout."""
from __future__ import annotations

import socket
import time
from typing import Iterator

import requests

from providers.types import Timeouts


class FirstTokenTimeout(Exception):
    """No content arrived before the first-token deadline (keep-alives do not count)."""


class LiveStream:
    """Tracks one upstream stream's phase and switches its socket timeout after first content."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        first = timeouts.first_token
        self.deadline = time.monotonic() + first if first else None
        self.resp: requests.Response | None = None

    def first_timeout(self) -> tuple[float, float]:
        """(connect, read) for the request: the first-token deadline bounds the first reads."""
        read = self.timeouts.first_token or self.timeouts.read
        return (self.timeouts.connect, read)

    def attach(self, resp: requests.Response) -> None:
        """Remember the response whose socket timeout changes later."""
        self.resp = resp

    def waiting_first(self) -> bool:
        """Still before the first content?"""
        return self.deadline is not None

    def first_content(self) -> None:
        """Content arrived: from now on each read may take up to the stall timeout."""
        if self.deadline is None:
            return
        self.deadline = None
        sock = _socket_of(self.resp)
        if sock is not None:
            sock.settimeout(self.timeouts.read)

    def abort(self) -> None:
        """Shut the socket of a body still being read (from another greenlet): the read then fails."""
        raw = getattr(self.resp, "raw", None)
        if raw is None or raw.isclosed():
            return                              # finished: the connection may be back in the pool
        sock = _socket_of(self.resp)
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def checked(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Pass bytes through, failing once the first-token deadline has passed without content."""
        for chunk in chunks:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise FirstTokenTimeout()
            yield chunk


def _socket_of(resp: requests.Response | None):
    """The live socket under a streamed response: the lean transport's, or urllib3's internals."""
    raw = getattr(resp, "raw", None)
    sock = getattr(raw, "sock", None)
    if sock is not None:
        return sock
    try:
        return raw._fp.fp.raw._sock  # type: ignore[union-attr]
    except AttributeError:
        return None

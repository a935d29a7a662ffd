"""HTTP plumbing shared by the wire families: replies, SSE frames and the stream driver.

The driver sends a family's frames with the configured timing and applies the stream faults:
``cut`` (close without terminator), ``stall`` (silence, then close), ``malformed_chunk``,
``no_done`` and ``midstream_error``. Disconnects are written into the request's log entry.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import gevent
import orjson

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"
HANG_LIMIT_S = 60.0
STALL_DEFAULT_S = 30.0
WAIT_LIMIT_S = 600.0  # no single scripted wait (latency, delay, stall) lasts longer


class BadRequestError(ValueError):
    """A request body the provider would reject with 400 (answered in the provider's shape)."""


class AbortConnectionError(Exception):
    """Raised by the app to drop the TCP connection (reset=True sends RST instead of FIN)."""

    def __init__(self, *, reset: bool = False) -> None:
        """Remember how to close the connection."""
        super().__init__("abort connection")
        self.reset = reset


@dataclass
class Reply:
    """A response: status, body (bytes, or an iterator of bytes for streams) and headers."""

    status: int
    body: bytes | Iterable[bytes]
    headers: list = field(default_factory=list)
    content_type: str = JSON_TYPE
    length: int | None = None  # Content-Length for a non-bytes body that must not be chunked
    run: object = None  # the StreamRun of a stream, to hand it the header-flush callable


@dataclass
class Call:
    """One provider request as the wire families see it."""

    provider: str
    endpoint: str
    params: dict  # from the path: deployment, model, method, version
    body: dict
    key: str
    entry: dict
    seq: int
    created: int
    chat: object = None  # content.ChatInput for chat requests
    plan: object = None  # content.Plan for chat requests

    @property
    def settings(self) -> dict:
        """Effective timing/content settings of this call."""
        return self.plan.settings if self.plan is not None else {}


def json_reply(status: int, obj, headers: list | None = None) -> Reply:
    """A JSON reply (sent with Content-Length)."""
    return Reply(status, orjson.dumps(obj), list(headers or []))


def sse(obj) -> bytes:
    """One ``data:`` event."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def sse_event(name: str, obj) -> bytes:
    """One named event (``event:`` + ``data:``), the Anthropic framing."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def slot(index: int) -> str:
    """A placeholder for value ``index`` in an object given to :class:`Template`."""
    return f"\x00sim-slot-{index}\x00"


class Template:
    """An event serialised once and re-rendered by splicing JSON values into it.

    Streams send thousands of near-identical chunks; splicing ``orjson.dumps(value)`` between
    pre-serialised bytes costs a fraction of building and dumping a dict per chunk.
    """

    def __init__(self, obj, *, head: bytes = b"data: ", tail: bytes = b"\n\n") -> None:
        """Serialise ``obj`` (containing ``slot(0)``, ``slot(1)``, ... in order)."""
        raw, self.parts = head + orjson.dumps(obj) + tail, []
        index = 0
        while (marker := orjson.dumps(slot(index))) in raw:
            before, raw = raw.split(marker, 1)
            self.parts.append(before)
            index += 1
        self.parts.append(raw)

    def render(self, *values) -> bytes:
        """The event with each slot replaced by the JSON of the matching value."""
        out = [self.parts[0]]
        for value, part in zip(values, self.parts[1:]):
            out += (orjson.dumps(value), part)
        return b"".join(out)


def wait_for_disconnect(sock, seconds: float) -> bool:
    """Sleep up to ``seconds``; return True early if the client closed the connection."""
    deadline = time.monotonic() + min(max(0.0, seconds), WAIT_LIMIT_S)
    while (left := deadline - time.monotonic()) > 0:
        if sock is None:
            gevent.sleep(left)
            return False
        try:
            gevent.socket.wait_read(sock.fileno(), timeout=left)
        except (socket.timeout, OSError):
            return False
        try:
            if not sock.recv(1, socket.MSG_PEEK):
                return True
        except OSError:
            return True
        gevent.sleep(min(left, 0.05))  # pipelined bytes, not a close: keep waiting
    return False


@dataclass
class StreamFrames:
    """A family's stream as frames; ``body`` yields one frame per content piece, lazily."""

    prelude: list
    body: Iterable[bytes]
    count: int
    finale: list
    terminator: list
    malformed: bytes
    error: bytes


@dataclass
class StreamRun:
    """How to drive one stream: timing, fault and where to record progress."""

    settings: dict
    opts: dict
    entry: dict
    sock: object = None
    flush: Callable[[], None] | None = None

    @property
    def fault(self):
        """The stream fault to apply, if any."""
        return self.opts.get("fault")


class _Pacer:
    """Sleeps until each body frame is due: first-token delay, then one frame per chunk delay.

    Deadlines are absolute, so processing time does not accumulate into drift.
    """

    def __init__(self, settings: dict) -> None:
        """Read the delays (ms) from the settings."""
        self.first = float(settings.get("first_chunk_delay_ms") or 0) / 1000
        self.every = float(settings.get("chunk_delay_ms") or 0) / 1000
        self.due = time.monotonic() + self.first

    def wait(self, index: int) -> None:
        """Sleep until frame ``index`` is due."""
        if not (self.first or self.every):
            return
        if index:
            self.due += self.every
        pause = self.due - time.monotonic()
        if pause > 0:
            gevent.sleep(min(pause, WAIT_LIMIT_S))


def _fault_point(frames: StreamFrames, run: StreamRun):
    """Apply the stream fault where it triggers; returns True when the stream must end."""
    fault = run.fault
    if fault == "malformed_chunk":
        yield frames.malformed
    elif fault == "midstream_error":
        yield frames.error
        return True
    elif fault == "cut":
        raise AbortConnectionError()
    elif fault == "stall":
        seconds = float(run.opts.get("stall_s", STALL_DEFAULT_S))
        if wait_for_disconnect(run.sock, seconds):
            run.entry["client_disconnected"] = True
        raise AbortConnectionError()
    return False


def drive_stream(frames: StreamFrames, run: StreamRun):
    """Yield a stream's bytes with timing and faults; record start/end/disconnect in the log."""
    entry = run.entry
    entry["stream_started"] = time.time()
    after = min(frames.count, max(0, int(run.opts.get("after_chunks", max(1, frames.count // 2)))))
    pacer = _Pacer(run.settings)
    try:
        if frames.prelude:
            yield b"".join(frames.prelude)
        elif run.flush:
            run.flush()  # send headers now, even if the first token is slow
        for index, frame in enumerate(frames.body):
            if index == after and (yield from _fault_point(frames, run)):
                return
            pacer.wait(index)
            yield frame
        if after >= frames.count and (yield from _fault_point(frames, run)):
            return
        tail = frames.finale if run.fault == "no_done" else frames.finale + frames.terminator
        yield b"".join(tail)
        entry["completed"] = True
    except GeneratorExit:
        entry["client_disconnected"] = True
        raise
    finally:
        entry["stream_ended"] = time.time()

"""The /v1 streaming body: OpenAI chunks, a usage chunk, [DONE], or an explicit error event."""
from __future__ import annotations

import _socket
import logging
import socket
import time
from typing import Any, Callable, Iterator

from flask import has_request_context, request

import openai_wire as wire
from errors import GatewayError, IncompleteStreamError
from gateway import Gateway, StreamStart
from providers.types import StreamChunk, Usage

log = logging.getLogger(__name__)


class _Tally:
    """What the client has been sent so far."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.finish: str | None = None
        self.chars = 0
        self.status = "ok"
        self.gone = False           # the client hung up (seen by the watcher)


class _ClientWatch:
    """Under gevent, notice a client hang-up while waiting for upstream, not at the next write.

    Without it a hang-up is only seen when a write fails (about two chunks later), so a slow or
    silent upstream stream kept running, and billing the user's key, long after the client left.
    On a hang-up the upstream socket is shut down, so the stream's own read ends the way an
    upstream cut does, on the normal error path. Nothing is ever raised into the request's
    greenlet: an asynchronous exception could land inside connection-pool clean-up code.

    It is an event-loop watcher on the client's socket with a callback, not a greenlet: a
    thousand open streams then cost a thousand small watchers instead of a thousand stacks.
    """

    def __init__(self, client: Any, tally: _Tally, abort: Callable[[], None]) -> None:
        from gevent import get_hub
        loop = get_hub().loop
        self.fd, self.tally, self.abort = client.fileno(), tally, abort
        self.readable = loop.io(self.fd, 1)         # 1: EV_READ
        self.pause = loop.timer(0.05)
        self.active = True
        self.readable.start(self._on_readable)

    def _on_readable(self) -> None:
        """Runs in the event loop itself, so it must not block: peek without waiting."""
        peeker = _socket.socket(fileno=self.fd)     # a second handle on the fd, detached below
        try:
            data = peeker.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""                              # reset or closed: the client is gone too
        finally:
            peeker.detach()
        if data:                                    # pipelined bytes, not a hang-up: look later
            self.readable.stop()
            self.pause.start(self.readable.start, self._on_readable)
            return
        self.stop()
        self.tally.gone = True
        self.abort()

    def stop(self) -> None:
        """Called first in the stream's finally: the watcher does nothing after this."""
        if not self.active:
            return
        self.active = False
        self.readable.stop()
        self.pause.stop()
        self.readable.close()
        self.pause.close()


def _watch(client: Any, tally: _Tally, abort: Callable[[], None]) -> _ClientWatch | None:
    """A watcher when serving under gevent (gunicorn's gevent worker), else None."""
    try:
        from gevent import monkey
    except ImportError:
        return None
    if client is None or not monkey.is_module_patched("socket"):
        return None
    return _ClientWatch(client, tally, abort)


def sse_body(gateway: Gateway, start: StreamStart) -> Iterator[bytes]:
    """The SSE body; the client socket is taken from the request (gunicorn) while it is active."""
    client = request.environ.get("gunicorn.socket") if has_request_context() else None
    return _sse(gateway, start, client)


def _sse(gateway: Gateway, start: StreamStart, client: Any) -> Iterator[bytes]:
    """Yield the SSE bytes; always closes upstream and records usage, even on disconnect."""
    meta = {"request_id": start.ctx.request_id, "model": start.model_label,
            "created": int(time.time())}
    tally, ttft_ms, watch = _Tally(), (time.monotonic() - start.ctx.started) * 1000, None
    try:
        watch = _watch(client, tally, start.abort)
        first = True
        for chunk in _chunks(start):
            if _note(tally, chunk):
                yield wire.chunk_bytes(chunk, first=first, **meta)
                first = False
            if tally.finish and tally.usage:
                break                              # complete: finalise now, [DONE] or not
        if tally.finish is None:
            raise IncompleteStreamError("The provider's stream ended before the answer finished")
        yield wire.usage_chunk_bytes(tally.usage or _estimate(start, tally), **meta)
        yield wire.DONE
    except GatewayError as err:
        tally.status = "incomplete"
        if tally.gone:                     # upstream was shut down because the client left
            return
        log.warning("stream %s ended with %s after %d chars", meta["request_id"], err.code,
                    tally.chars)
        yield wire.error_event_bytes(err.message, err.type, err.code)
    except GeneratorExit:
        tally.status = "client_disconnected"
        raise
    finally:
        if watch is not None:
            watch.stop()
        if tally.gone:
            tally.status = "client_disconnected"
        start.chunks.close()
        gateway.finish_stream(start, tally.usage, tally.chars, tally.status, ttft_ms)


def _chunks(start: StreamStart) -> Iterator[StreamChunk]:
    yield from start.buffered
    yield from start.chunks


def _note(tally: _Tally, chunk: StreamChunk) -> bool:
    """Update the tally; True if the chunk has something for the client."""
    if chunk.usage is not None:
        tally.usage = chunk.usage
    tally.chars += len(chunk.content) + sum(len(d.arguments) for d in chunk.tool_calls)
    if chunk.finish_reason:
        tally.finish = chunk.finish_reason
    return bool(chunk.content or chunk.tool_calls or chunk.finish_reason)


def _estimate(start: StreamStart, tally: _Tally) -> Usage:
    prompt = start.features.prompt_tokens
    completion = max(1, tally.chars // 4)
    return Usage(prompt, completion, prompt + completion, estimated=True)

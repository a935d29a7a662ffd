"""The /v1 streaming body: OpenAI chunks, a usage chunk, [DONE], or an explicit error event."""
from __future__ import annotations

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
    """

    def __init__(self, client: Any, tally: _Tally, abort: Callable[[], None]) -> None:
        import gevent
        self.tally, self.abort, self.active = tally, abort, True
        self.greenlet = gevent.spawn(self._run, client)

    def _run(self, client: Any) -> None:
        from gevent import sleep
        from gevent.socket import wait_read
        try:
            while True:
                wait_read(client.fileno())
                if not client.recv(1, socket.MSG_PEEK):
                    break
                sleep(0.05)                # pipelined bytes, not a hang-up: keep watching
        except OSError:
            pass                           # reset or closed: the client is gone too
        if self.active:
            self.tally.gone = True
            self.abort()

    def stop(self) -> None:
        """Called first in the stream's finally: the watcher does nothing after this."""
        self.active = False
        self.greenlet.kill(block=False)


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

"""The /v1 streaming body: OpenAI chunks, a usage chunk, [DONE], or an explicit error event."""
from __future__ import annotations

import logging
import time
from typing import Iterator

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


def sse_body(gateway: Gateway, start: StreamStart) -> Iterator[bytes]:
    """Yield the SSE bytes; always closes upstream and records usage, even on disconnect."""
    meta = {"request_id": start.ctx.request_id, "model": start.model_label,
            "created": int(time.time())}
    tally, ttft_ms = _Tally(), (time.monotonic() - start.ctx.started) * 1000
    try:
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
        log.warning("stream %s ended with %s after %d chars", meta["request_id"], err.code,
                    tally.chars)
        yield wire.error_event_bytes(err.message, err.type, err.code)
    except GeneratorExit:
        tally.status = "client_disconnected"
        raise
    finally:
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

"""Assemble a stream of StreamChunks into one ChatResponse."""
from __future__ import annotations

from typing import Iterable

from providers.types import ChatResponse, StreamChunk, ToolCall, Usage


def collect(chunks: Iterable[StreamChunk]) -> ChatResponse:
    """Concatenate content, build tool calls by index, keep the last finish reason and usage."""
    parts: list[str] = []
    calls: dict[int, ToolCall] = {}
    finish, usage, model, ident = None, None, None, None
    for chunk in chunks:
        parts.append(chunk.content)
        for delta in chunk.tool_calls:
            call = calls.setdefault(delta.index, ToolCall(id="", name="", arguments=""))
            call.id = delta.id or call.id
            call.name = delta.name or call.name
            call.arguments += delta.arguments
        finish = chunk.finish_reason or finish
        usage = chunk.usage or usage
        model, ident = model or chunk.model, ident or chunk.id
    content = "".join(parts)
    return ChatResponse(id=ident or "", model=model or "", content=content if content or not calls else None,
                        finish_reason=finish or "stop", usage=usage or Usage(),
                        tool_calls=[calls[i] for i in sorted(calls)])

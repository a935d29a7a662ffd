"""Pure translation between the internal format and OpenAI's Chat Completions JSON."""
from __future__ import annotations

import base64
import json
import logging
import re
import struct
from typing import Any, Mapping

from providers.types import (ChatRequest, ChatResponse, Message, StreamChunk, Tool, ToolCall, ToolCallDelta,
                             ToolChoice, Usage)

log = logging.getLogger(__name__)

# OpenAI's own names pass through; vendor extras map onto them (see providers.md §7, §8).
FINISH_REASONS: dict[str, str] = {
    "stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter",
    "function_call": "tool_calls",
    "sensitive": "content_filter",                 # GLM: output cut by moderation
    "model_context_window_exceeded": "length",     # GLM newer models
    "network_error": "length",                     # GLM: inference failed, output cut short
    "insufficient_system_resource": "length",      # DeepSeek: generation cut short
}
_REASONING_MODELS = re.compile(r"^(o\d|gpt-5)")


def map_finish(reason: str | None) -> str:
    """An OpenAI finish reason for any vendor's value (unknown values become 'stop', logged)."""
    if reason is None:
        return "stop"
    mapped = FINISH_REASONS.get(reason)
    if mapped is None:
        log.warning("unknown finish_reason %r treated as stop", reason)
        return "stop"
    return mapped


def uses_completion_tokens(model: str) -> bool:
    """True for o-series and gpt-5* models, which reject max_tokens."""
    return bool(_REASONING_MODELS.match(model.lower()))


def to_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """OpenAI message dicts for internal messages."""
    return [to_message(m) for m in messages]


def to_message(m: Message) -> dict[str, Any]:
    """One OpenAI message dict."""
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id
        out["content"] = m.content or ""
    return out


def to_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    """OpenAI function tool definitions."""
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def to_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    """'auto' | 'none' | 'required' pass through; {'name': f} becomes OpenAI's function form."""
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def build_body(req: ChatRequest, *, max_tokens_field: str = "max_tokens") -> dict[str, Any]:
    """The Chat Completions body for a request (without stream flags)."""
    body: dict[str, Any] = {"model": req.model, "messages": to_messages(req.messages)}
    optional = {"temperature": req.temperature, "top_p": req.top_p, max_tokens_field: req.max_tokens,
                "stop": req.stop or None}
    body.update({k: v for k, v in optional.items() if v is not None})
    if req.tools:
        body["tools"] = to_tools(req.tools)
        if req.tool_choice is not None:
            body["tool_choice"] = to_tool_choice(req.tool_choice)
    if req.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def parse_usage(raw: Mapping[str, Any] | None) -> Usage | None:
    """Usage from OpenAI names plus DeepSeek's and Kimi's cache fields."""
    if not raw:
        return None
    prompt, completion = int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)
    details = raw.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or raw.get("cached_tokens") or 0
    reasoning = (raw.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=int(raw.get("total_tokens") or prompt + completion),
                 cached_tokens=int(cached), reasoning_tokens=int(reasoning))


def arguments_text(arguments: Any) -> str:
    """Tool arguments as JSON text (some vendors send an object instead of a string)."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


def arguments_object(text: str) -> dict[str, Any]:
    """Tool arguments as the object Anthropic (`input`) and Gemini (`args`) want; {} if unparseable."""
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        log.warning("tool call arguments are not valid JSON; sending an empty object")
        return {}
    return value if isinstance(value, dict) else {"value": value}


def parse_tool_calls(raw: list[dict[str, Any]] | None) -> list[ToolCall]:
    """Complete tool calls from a non-stream message."""
    calls = []
    for i, item in enumerate(raw or []):
        fn = item.get("function") or {}
        calls.append(ToolCall(id=item.get("id") or f"call_{i}", name=fn.get("name") or "",
                              arguments=arguments_text(fn.get("arguments"))))
    return calls


def parse_completion(payload: dict[str, Any]) -> ChatResponse:
    """A ChatResponse from a chat.completion object."""
    choice = (payload.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    return ChatResponse(id=payload.get("id") or "", model=payload.get("model") or "",
                        content=message.get("content"), finish_reason=map_finish(choice.get("finish_reason")),
                        usage=parse_usage(payload.get("usage")) or Usage(),
                        tool_calls=parse_tool_calls(message.get("tool_calls")))


def parse_tool_deltas(raw: list[dict[str, Any]] | None) -> list[ToolCallDelta]:
    """Tool-call fragments from a stream delta (index identifies the call)."""
    deltas = []
    for i, item in enumerate(raw or []):
        fn = item.get("function") or {}
        args = fn.get("arguments")
        deltas.append(ToolCallDelta(index=int(item.get("index", i)), id=item.get("id"), name=fn.get("name"),
                                    arguments="" if args is None else arguments_text(args)))
    return deltas


def parse_chunk_delta(choice: dict[str, Any]) -> StreamChunk | None:
    """The content/tool-call part of one stream choice, or None if it carries nothing."""
    delta = choice.get("delta") or {}
    content = delta.get("content") or ""
    tools = parse_tool_deltas(delta.get("tool_calls"))
    return StreamChunk(content=content, tool_calls=tools) if content or tools else None


def decode_embedding(raw: Any) -> list[float]:
    """A float vector, decoding base64 little-endian float32 if a server sent that anyway."""
    if isinstance(raw, str):
        data = base64.b64decode(raw)
        return list(struct.unpack(f"<{len(data) // 4}f", data))
    return [float(x) for x in raw]

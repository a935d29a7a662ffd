"""The /v1 edge: OpenAI's wire format to and from the internal format."""
from __future__ import annotations

import base64
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from errors import BadRequestError
from providers.types import (ChatRequest, ChatResponse, EmbeddingResult, Message, StreamChunk, Tool,
                             ToolCall, Usage)

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_MODELS = 8


@dataclass
class ChatCall:
    """A parsed /v1/chat/completions request: the internal request plus gateway options."""

    request: ChatRequest
    models: list[str]              # "auto" or "<provider>/<model>", in attempt order
    stream: bool
    raw_messages: list[dict] = field(default_factory=list)


def _fail(message: str, param: str | None = None) -> BadRequestError:
    err = BadRequestError(message, code="invalid_request")
    err.param = param
    return err


def _text(content: Any, where: str) -> str | None:
    """Message content as text: a string, null, or a list of text parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("text", "input_text") \
                    or not isinstance(part.get("text", ""), str):
                raise _fail(f"{where}: only text content parts (with string text) are supported",
                            "messages")
            parts.append(part.get("text", ""))
        return "".join(parts)
    raise _fail(f"{where}: content must be a string or a list of text parts", "messages")


def _tool_calls(raw: Any, where: str) -> list[ToolCall]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(f"{where}: tool_calls must be a list", "messages")
    calls = []
    for item in raw:
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _fail(f"{where}: each tool call needs function.name", "messages")
        args = fn.get("arguments", "{}")
        calls.append(ToolCall(id=str(item.get("id") or ""), name=fn["name"],
                              arguments=args if isinstance(args, str) else orjson.dumps(args).decode()))
    return calls


def parse_messages(raw: Any) -> list[Message]:
    """Validate and translate OpenAI messages."""
    if not isinstance(raw, list) or not raw:
        raise _fail("'messages' must be a non-empty list", "messages")
    out = []
    for i, item in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            raise _fail(f"{where}: role must be one of {', '.join(ROLES)}", "messages")
        role = "system" if item["role"] == "developer" else item["role"]
        tool_call_id = item.get("tool_call_id")
        if role == "tool" and not isinstance(tool_call_id, str):
            raise _fail(f"{where}: a tool message needs tool_call_id", "messages")
        out.append(Message(role=role, content=_text(item.get("content"), where),
                           tool_calls=_tool_calls(item.get("tool_calls"), where),
                           tool_call_id=tool_call_id, name=item.get("name")))
    return out


def parse_tools(raw: Any) -> list[Tool]:
    """OpenAI function tools."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail("'tools' must be a list", "tools")
    tools = []
    for item in raw:
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict) or item.get("type", "function") != "function" \
                or not isinstance(fn.get("name"), str):
            raise _fail("each tool must be {type: function, function: {name, parameters}}", "tools")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise _fail("tool parameters must be a JSON Schema object", "tools")
        tools.append(Tool(name=fn["name"], description=str(fn.get("description") or ""),
                          parameters=params))
    return tools


def parse_tool_choice(raw: Any) -> str | dict | None:
    """'auto' | 'none' | 'required' | {'name': ...}."""
    if raw is None or raw in ("auto", "none", "required"):
        return raw
    fn = raw.get("function") if isinstance(raw, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return {"name": fn["name"]}
    raise _fail("tool_choice must be auto, none, required or a function", "tool_choice")


def number(body: dict, name: str, kind: type, low: float, high: float) -> Any:
    """An optional number in [low, high]; with kind=int, a whole one (JSON's 2.0 is an integer)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
            or (kind is int and value != int(value)):
        what = "an integer" if kind is int else "a number"
        raise _fail(f"'{name}' must be {what} from {low} to {high}", name)
    return kind(value)


def parse_models(body: dict) -> list[str]:
    """'model' plus the optional OpenRouter-style 'models' fallback list."""
    model = body.get("model")
    extra = body.get("models") or []
    if not isinstance(model, str) or not model:
        raise _fail("'model' is required: '<provider>/<model>' or 'auto'", "model")
    if not isinstance(extra, list) or not all(isinstance(m, str) and m for m in extra):
        raise _fail("'models' must be a list of '<provider>/<model>' strings", "models")
    chain = [model] + [m for m in extra if m != model]
    if len(chain) > MAX_MODELS:
        raise _fail(f"at most {MAX_MODELS} models in a fallback chain", "models")
    for item in chain:
        if item != "auto" and "/" not in item:
            raise _fail(f"model '{item[:80]}' must be '<provider>/<model>' or 'auto'", "model")
    return chain


def parse_chat(body: Any) -> ChatCall:
    """Validate a chat completion body and build the internal request."""
    if not isinstance(body, dict):
        raise _fail("the body must be a JSON object")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _fail("'stop' must be a string or a list of strings", "stop")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    fmt = body.get("response_format") or {}
    request = ChatRequest(
        model="", messages=parse_messages(body.get("messages")),
        temperature=number(body, "temperature", float, 0, 2),
        max_tokens=number({"max_tokens": max_tokens}, "max_tokens", int, 1, 1_000_000),
        top_p=number(body, "top_p", float, 0, 1), stop=stop[:4],
        tools=parse_tools(body.get("tools")), tool_choice=parse_tool_choice(body.get("tool_choice")),
        json_mode=isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"))
    return ChatCall(request=request, models=parse_models(body), stream=bool(body.get("stream")),
                    raw_messages=body["messages"])


def usage_json(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage object."""
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}}


def _calls_json(calls: list[ToolCall]) -> list[dict]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls]


def chat_json(resp: ChatResponse, *, request_id: str, model: str) -> dict[str, Any]:
    """A chat.completion object."""
    message: dict[str, Any] = {"role": "assistant", "content": resp.content}
    if resp.tool_calls:
        message["tool_calls"] = _calls_json(resp.tool_calls)
    return {"id": request_id, "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "logprobs": None,
                                         "finish_reason": resp.finish_reason}],
            "usage": usage_json(resp.usage)}


def chunk_bytes(chunk: StreamChunk, *, request_id: str, model: str, created: int,
                first: bool = False) -> bytes:
    """One SSE event carrying a chat.completion.chunk."""
    delta: dict[str, Any] = {"role": "assistant"} if first else {}
    if chunk.content:
        delta["content"] = chunk.content
    if chunk.tool_calls:
        delta["tool_calls"] = [{"index": d.index, **({"id": d.id, "type": "function"} if d.id else {}),
                                "function": {k: v for k, v in (("name", d.name),
                                                               ("arguments", d.arguments)) if v or k == "arguments"}}
                               for d in chunk.tool_calls]
    return _event({"id": request_id, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                "finish_reason": chunk.finish_reason}]})


def usage_chunk_bytes(usage: Usage, *, request_id: str, model: str, created: int) -> bytes:
    """The final usage chunk (empty choices), always sent."""
    return _event({"id": request_id, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [], "usage": usage_json(usage)})


def error_event_bytes(message: str, type_: str, code: str | None) -> bytes:
    """An in-band SSE error event (the openai SDK raises APIError on it)."""
    return _event({"error": {"message": message, "type": type_, "code": code, "param": None}})


DONE = b"data: [DONE]\n\n"


def _event(obj: dict) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def embedding_json(result: EmbeddingResult, *, model: str, encoding: str) -> dict[str, Any]:
    """An embeddings list; base64 is little-endian float32, as the openai SDK expects."""
    def encode(vector: list[float]) -> Any:
        if encoding == "base64":
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        return vector
    return {"object": "list", "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": encode(v)}
                     for i, v in enumerate(result.vectors)],
            "usage": {"prompt_tokens": result.usage.prompt_tokens,
                      "total_tokens": result.usage.total_tokens or result.usage.prompt_tokens}}

"""Anthropic Messages API adapter."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from providers.base import HttpCall, Provider, StreamState
from providers.errormap import UpstreamErrorInfo, error_object
from providers.openai_format import arguments_object, arguments_text
from providers.sse import ServerSentEvent
from providers.types import ChatRequest, ChatResponse, Message, StreamChunk, ToolCall, ToolCallDelta, Usage

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                "tool_use": "tool_calls", "refusal": "content_filter", "model_context_window_exceeded": "length"}
# Anthropic has no JSON mode; an instruction in the system prompt is the documented workaround.
JSON_INSTRUCTION = "Respond with a single valid JSON object and nothing else."


def to_blocks(m: Message) -> list[dict[str, Any]]:
    """The content blocks of one internal message."""
    if m.role == "tool":
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content or ""}]
    blocks: list[dict[str, Any]] = []
    if m.content or not m.tool_calls:
        blocks.append({"type": "text", "text": m.content or ""})
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(c.arguments)}
               for c in m.tool_calls]
    return blocks


def to_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Anthropic messages: tool results become user turns and same-role turns are merged."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = "assistant" if m.role == "assistant" else "user"
        if out and out[-1]["role"] == role:
            out[-1]["content"] += to_blocks(m)
        else:
            out.append({"role": role, "content": to_blocks(m)})
    return out


def to_tool_choice(choice: str | dict) -> dict[str, Any]:
    """Anthropic's tool_choice object for 'auto' | 'required' | 'none' | {'name': f}."""
    if isinstance(choice, dict):
        return {"type": "tool", "name": choice["name"]}
    return {"type": {"required": "any"}.get(choice, choice)}


def parse_usage(raw: Mapping[str, Any] | None) -> Usage:
    """Usage in OpenAI terms: Anthropic's input_tokens excludes cache reads and writes."""
    raw = raw or {}
    cached = int(raw.get("cache_read_input_tokens") or 0)
    prompt = int(raw.get("input_tokens") or 0) + cached + int(raw.get("cache_creation_input_tokens") or 0)
    completion = int(raw.get("output_tokens") or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 cached_tokens=cached)


class AnthropicProvider(Provider):
    """Anthropic Claude through POST /v1/messages (no embeddings API)."""

    id = "anthropic"
    label = "Anthropic"
    default_base_url = "https://api.anthropic.com"
    api_version = "2023-06-01"

    def _auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.credentials.api_key.reveal(), "anthropic-version": self.api_version}

    def _probe_key(self) -> None:
        self._get_json("/v1/models")

    def _chat_call(self, req: ChatRequest, *, stream: bool) -> HttpCall:
        system = [m.content or "" for m in req.messages if m.role == "system"]
        if req.json_mode:
            system.append(JSON_INSTRUCTION)
        body: dict[str, Any] = {"model": req.model,
                                "max_tokens": req.max_tokens or self.settings.anthropic_default_max_tokens,
                                "messages": to_messages([m for m in req.messages if m.role != "system"])}
        optional = {"system": "\n\n".join(system) or None, "temperature": req.temperature, "top_p": req.top_p,
                    "stop_sequences": req.stop or None}
        body.update({k: v for k, v in optional.items() if v is not None})
        if req.tools:
            body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                             for t in req.tools]
            if req.tool_choice is not None:
                body["tool_choice"] = to_tool_choice(req.tool_choice)
        if stream:
            body["stream"] = True
        return HttpCall("/v1/messages", body)

    def _parse_chat(self, payload: dict[str, Any]) -> ChatResponse:
        blocks = payload.get("content") or []
        texts = [b.get("text") or "" for b in blocks if b.get("type") == "text"]
        calls = [ToolCall(id=b.get("id") or "", name=b.get("name") or "", arguments=arguments_text(b.get("input")))
                 for b in blocks if b.get("type") == "tool_use"]
        return ChatResponse(id=payload.get("id") or "", model=payload.get("model") or "",
                            content="".join(texts) if texts else None,
                            finish_reason=STOP_REASONS.get(payload.get("stop_reason") or "", "stop"),
                            usage=parse_usage(payload.get("usage")), tool_calls=calls)

    def _error_info(self, body: Any, *, status: int | None, headers: Mapping[str, str]) -> UpstreamErrorInfo:
        info = super()._error_info(body, status=status, headers=headers)
        err = error_object(body) or {}
        details = err.get("details")
        code = details.get("error_code") if isinstance(details, dict) else None   # e.g. spend limit
        return UpstreamErrorInfo(info.status, code=code or info.code, type=info.type, message=info.message,
                                 retry_after=info.retry_after)

    def _parse_stream(self, events: Iterator[ServerSentEvent], state: StreamState) -> Iterator[StreamChunk]:
        tool_index: dict[int, int] = {}   # content block index -> ordinal among tool_use blocks
        for event in events:
            if event.event == "message_stop":
                state.terminated = True
                return
            if event.event in (None, "ping"):
                continue   # the SDK dispatches on event names only
            payload = self._load_event(event)
            if payload is None:
                continue
            if event.event == "error" or payload.get("type") == "error":
                raise self._inband_error(payload)
            chunk = self._read_event(event.event, payload, state, tool_index)
            if chunk is not None:
                chunk.model, chunk.id = state.model, state.id
                yield chunk

    def _read_event(self, name: str, payload: dict[str, Any], state: StreamState,
                    tool_index: dict[int, int]) -> StreamChunk | None:
        if name == "message_start":
            message = payload.get("message") or {}
            state.note(model=message.get("model"), id=message.get("id"))
            state.usage = parse_usage(message.get("usage"))
        elif name == "message_delta":
            self._read_message_delta(payload, state)
        elif name == "content_block_start":
            return self._block_start(payload, tool_index)
        elif name == "content_block_delta":
            return self._block_delta(payload, tool_index)
        return None

    def _read_message_delta(self, payload: dict[str, Any], state: StreamState) -> None:
        reason = (payload.get("delta") or {}).get("stop_reason")
        if reason:
            state.finish_reason = STOP_REASONS.get(reason, "stop")
        usage = payload.get("usage") or {}
        before = state.usage or Usage()
        if "input_tokens" in usage:
            before = parse_usage(usage)
        completion = int(usage.get("output_tokens") or before.completion_tokens)   # cumulative count
        state.usage = Usage(prompt_tokens=before.prompt_tokens, completion_tokens=completion,
                            total_tokens=before.prompt_tokens + completion, cached_tokens=before.cached_tokens)

    def _block_start(self, payload: dict[str, Any], tool_index: dict[int, int]) -> StreamChunk | None:
        block = payload.get("content_block") or {}
        if block.get("type") == "tool_use":
            ordinal = tool_index[int(payload.get("index", 0))] = len(tool_index)
            return StreamChunk(tool_calls=[ToolCallDelta(index=ordinal, id=block.get("id"), name=block.get("name"))])
        if block.get("type") == "text" and block.get("text"):
            return StreamChunk(content=block["text"])
        return None

    def _block_delta(self, payload: dict[str, Any], tool_index: dict[int, int]) -> StreamChunk | None:
        delta = payload.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return StreamChunk(content=delta["text"])
        ordinal = tool_index.get(int(payload.get("index", -1)))
        if delta.get("type") == "input_json_delta" and delta.get("partial_json") and ordinal is not None:
            return StreamChunk(tool_calls=[ToolCallDelta(index=ordinal, arguments=delta["partial_json"])])
        return None

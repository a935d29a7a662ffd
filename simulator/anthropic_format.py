"""The Anthropic Messages wire family (providers.md §5): ``event:`` + ``data:`` SSE framing."""
from __future__ import annotations

from simulator import catalog
from simulator.content import ChatInput, count_tokens, text_of
from simulator.faults import inband_error
from simulator.wire import (BadRequestError, Call, Reply, StreamFrames, Template, json_reply,
                            slot, sse_event)

PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def resolve(provider: str, method: str, rest: str) -> str | None:
    """The endpoint name for a path under ``/v1/``, or None (404)."""
    return {("POST", "messages"): "chat", ("GET", "models"): "models",
            ("POST", "messages/count_tokens"): "count_tokens"}.get((method, rest.strip("/")))


def precheck(call: Call, environ: dict) -> tuple | None:
    """The API rejects requests without ``anthropic-version`` (any dated value is accepted)."""
    if not environ.get("HTTP_ANTHROPIC_VERSION"):
        return "bad_request", "anthropic-version: header is required"
    return None


def _block_text(block) -> str:
    """Text of a content block, including tool results."""
    if isinstance(block, dict) and block.get("type") == "tool_result":
        return text_of(block.get("content"))
    return text_of(block)


def _tool_result(message: dict) -> str | None:
    """The text of the tool_result blocks in a user message, or None if there are none."""
    content = message.get("content")
    if not isinstance(content, list):
        return None
    results = [_block_text(b) for b in content
               if isinstance(b, dict) and b.get("type") == "tool_result"]
    return "".join(results) if results else None


def _chars(body: dict) -> int:
    """Characters of the system prompt and all message text."""
    total = len(text_of(body.get("system")))
    for message in body["messages"]:
        content = message.get("content")
        blocks = content if isinstance(content, list) else [content]
        total += sum(len(_block_text(b)) for b in blocks)
    return total


def _validate(body: dict) -> None:
    """The checks Anthropic answers with 400 invalid_request_error."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) for m in messages):
        raise BadRequestError("messages: Field required")
    if not body.get("model"):
        raise BadRequestError("model: Field required")
    if not isinstance(body.get("max_tokens"), int):
        raise BadRequestError("max_tokens: Field required")


def parse_chat(call: Call) -> ChatInput:
    """Validate a Messages body and extract what the reply depends on."""
    body = call.body
    _validate(body)
    last = body["messages"][-1]
    result = _tool_result(last) if last.get("role") == "user" else None
    tools = [(t["name"], t.get("input_schema")) for t in body.get("tools") or []
             if isinstance(t, dict) and t.get("name")]
    choice = body.get("tool_choice") or {}
    return ChatInput(
        model=str(body["model"]), stream=bool(body.get("stream")), text_chars=_chars(body),
        tools=tools, last_kind="tool" if result is not None else (
            "user" if last.get("role") == "user" else "other"),
        tool_result=result or "", tools_disabled=choice.get("type") == "none")


def _ids(call: Call) -> tuple:
    """Deterministic message and tool-use ids."""
    return f"msg_sim{call.seq:017d}", f"toolu_sim{call.seq:015d}"


def _usage(call: Call, output: int) -> dict:
    """Anthropic usage with the cache fields the API always returns."""
    return {"input_tokens": call.plan.prompt_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": output, "service_tier": "standard"}


def _message(call: Call, content: list, stop_reason: str | None, output: int) -> dict:
    """A message object (the reply, or the message_start payload)."""
    return {"id": _ids(call)[0], "type": "message", "role": "assistant",
            "model": call.chat.model, "content": content, "stop_reason": stop_reason,
            "stop_sequence": None, "usage": _usage(call, output)}


def _stop_reason(call: Call) -> str:
    """stop_reason of the reply."""
    return "tool_use" if call.plan.tool_name else "end_turn"


def chat_reply(call: Call) -> Reply:
    """The non-streamed message."""
    plan = call.plan
    if plan.tool_name:
        content = [{"type": "tool_use", "id": _ids(call)[1], "name": plan.tool_name,
                    "input": plan.tool_args}]
    else:
        content = [{"type": "text", "text": plan.text}]
    return json_reply(200, _message(call, content, _stop_reason(call), plan.completion_tokens))


def _delta_template(delta: dict) -> Template:
    """A content_block_delta event for block 0 whose delta holds ``slot(0)``."""
    return Template({"type": "content_block_delta", "index": 0, "delta": delta},
                    head=b"event: content_block_delta\ndata: ")


def _start_block(call: Call) -> tuple:
    """(content_block_start payload, body frames, frame count) for text or tool use."""
    plan = call.plan
    if plan.tool_name:
        block = {"type": "tool_use", "id": _ids(call)[1], "name": plan.tool_name, "input": {}}
        pieces = ["", *plan.tool_pieces]
        template = _delta_template({"type": "input_json_delta", "partial_json": slot(0)})
        return block, (template.render(p) for p in pieces), len(pieces)
    block = {"type": "text", "text": ""}
    template = _delta_template({"type": "text_delta", "text": slot(0)})
    return block, (template.render(p) for p in plan.pieces), len(plan.pieces)


def stream_frames(call: Call) -> StreamFrames:
    """message_start, content_block_start, ping, deltas, content_block_stop, message_delta, stop."""
    block, body, count = _start_block(call)
    start = sse_event("message_start", {"type": "message_start",
                                        "message": _message(call, [], None, 1)})
    block_start = sse_event("content_block_start",
                            {"type": "content_block_start", "index": 0, "content_block": block})
    finale = [sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
              sse_event("message_delta", {
                  "type": "message_delta",
                  "delta": {"stop_reason": _stop_reason(call), "stop_sequence": None},
                  "usage": {"output_tokens": call.plan.completion_tokens}})]
    malformed = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,\n\n'
    return StreamFrames(prelude=[start, block_start, PING], body=body, count=count,
                        finale=finale, terminator=[sse_event("message_stop",
                                                             {"type": "message_stop"})],
                        malformed=malformed, error=sse_event("error", inband_error("anthropic", "overloaded")))


def content_filter(call: Call) -> Reply:
    """Anthropic filters in-band: HTTP 200 with stop_reason "refusal" and no content."""
    if not call.chat.stream:
        return json_reply(200, _message(call, [], "refusal", 0))
    frames = [sse_event("message_start", {"type": "message_start",
                                          "message": _message(call, [], None, 1)}),
              sse_event("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": "refusal", "stop_sequence": None},
                                          "usage": {"output_tokens": 0}}),
              sse_event("message_stop", {"type": "message_stop"})]
    return Reply(200, iter([b"".join(frames)]), content_type="text/event-stream")


def other(call: Call) -> Reply:
    """Model list and token counting."""
    if call.endpoint == "count_tokens":
        body = call.body
        if not isinstance(body.get("messages"), list):
            raise BadRequestError("messages: Field required")
        return json_reply(200, {"input_tokens": count_tokens(_chars(body))})
    return json_reply(200, catalog.anthropic_models())

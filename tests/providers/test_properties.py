"""Property tests: translator round trips for every provider format, and key masking."""
from __future__ import annotations

import json
import string
from typing import Any

import responses
from hypothesis import HealthCheck, given, settings, strategies as st

import providers
from providers.assemble import collect
from providers.types import ChatRequest, Credentials, Message, ToolCall
from secret import _KNOWN_PREFIXES, Secret, mask_key
from tests.providers.conftest import AZURE_META, KEYS, leaked_keys, named_sse, sse

OPENAI_FORMAT = ["openai", "deepseek", "azure_openai", "glm_4_6", "kimi_k2"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True)
json_args = st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=6) | st.booleans(), max_size=3)
texts = st.text(min_size=1, max_size=40)


@st.composite
def answers(draw: Any) -> Message:
    """An assistant turn: optional text plus 0-3 tool calls with JSON-object arguments."""
    calls = [ToolCall(id=f"call_{i}", name=draw(names), arguments=json.dumps(draw(json_args)))
             for i in range(draw(st.integers(0, 3)))]
    content = draw(st.none() | texts) if calls else draw(texts)
    return Message("assistant", content, tool_calls=calls)


def request_with(answer: Message, results: list[str]) -> ChatRequest:
    tool_turns = [Message("tool", r, tool_call_id=c.id, name=c.name) for c, r in zip(answer.tool_calls, results)]
    return ChatRequest(model="m-1", messages=[Message("user", "q"), answer, *tool_turns, Message("user", "next")])


def build(provider_id: str) -> providers.Provider:
    meta = AZURE_META if provider_id == "azure_openai" else {}
    return providers.build_provider(provider_id, Credentials(Secret(KEYS[provider_id]), meta))


def simulate(provider_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The provider's answer that repeats the assistant turn found in its own request body."""
    if provider_id == "anthropic":
        blocks = body["messages"][1]["content"]
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        return {"id": "msg", "model": "m", "content": blocks, "stop_reason": stop, "usage": {"input_tokens": 1}}
    if provider_id == "google_gemini":
        return {"candidates": [{"content": body["contents"][1], "finishReason": "STOP"}]}
    message = body["messages"][1]
    return {"id": "c", "model": "m", "choices": [{"index": 0, "message": message,
                                                  "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}]}


def same_calls(got: list[ToolCall], expected: list[ToolCall], *, ids: bool) -> bool:
    def key(calls: list[ToolCall]) -> list[tuple]:
        return [((c.id if ids else None), c.name, json.loads(c.arguments or "{}")) for c in calls]
    return key(got) == key(expected)


def tool_results_in(provider_id: str, body: dict[str, Any]) -> list[Any]:
    if provider_id == "anthropic":
        return [b["content"] for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]
    if provider_id == "google_gemini":
        return [p["functionResponse"]["response"]["content"] for c in body["contents"] for p in c["parts"]
                if "functionResponse" in p]
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


@SETTINGS
@given(st.sampled_from(list(providers.PROVIDERS)), answers(), st.lists(texts, min_size=3, max_size=3))
def test_request_to_provider_body_to_response_keeps_content_and_tool_calls(provider_id, answer, results):
    provider = build(provider_id)
    body = provider._chat_call(request_with(answer, results), stream=False).body
    resp = provider._parse_chat(simulate(provider_id, body))
    assert resp.content == answer.content
    assert same_calls(resp.tool_calls, answer.tool_calls, ids=provider_id != "google_gemini")
    assert resp.finish_reason == ("tool_calls" if answer.tool_calls else "stop")
    sent = tool_results_in(provider_id, body)
    expected = results[:len(answer.tool_calls)]
    if provider_id == "google_gemini":
        expected = [r if not isinstance(_loads(r), dict) else _loads(r) for r in expected]
    assert sent == expected


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [p for p in (text[a:b] for a, b in zip([0, *points], [*points, len(text)])) if p]


def openai_stream(answer: Message, pieces: list[str]) -> bytes:
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    calls = [chunk({"tool_calls": [{"index": i, "id": c.id, "function": {"name": c.name, "arguments": a}}]})
             for i, c in enumerate(answer.tool_calls) for a in split(c.arguments, [3, 7]) or [""]]
    finish = chunk({}, "tool_calls" if answer.tool_calls else "stop")
    return sse(*[chunk({"content": p}) for p in pieces], *calls, finish, "[DONE]")


def anthropic_stream(answer: Message, pieces: list[str]) -> bytes:
    events = [("message_start", {"message": {"id": "msg", "model": "m", "usage": {"input_tokens": 2}}})]
    events += [("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    for i, c in enumerate(answer.tool_calls, start=1):
        events.append(("content_block_start", {"index": i, "content_block": {"type": "tool_use", "id": c.id, "name": c.name}}))
        events += [("content_block_delta", {"index": i, "delta": {"type": "input_json_delta", "partial_json": a}})
                   for a in split(c.arguments, [2, 5])]
    stop = "tool_use" if answer.tool_calls else "end_turn"
    return named_sse(*events, ("message_delta", {"delta": {"stop_reason": stop}, "usage": {"output_tokens": 9}}),
                     ("message_stop", {}))


def gemini_stream(answer: Message, pieces: list[str]) -> bytes:
    def event(parts: list[dict], finish: str | None = None) -> dict:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 9}}
    calls = [{"functionCall": {"name": c.name, "args": json.loads(c.arguments)}} for c in answer.tool_calls]
    return sse(*[event([{"text": p}]) for p in pieces], event(calls, "STOP"))


STREAMS = {"anthropic": ("https://api.anthropic.com/v1/messages", anthropic_stream),
           "google_gemini": ("https://generativelanguage.googleapis.com/v1beta/models/m-1:streamGenerateContent",
                             gemini_stream),
           "deepseek": ("https://api.deepseek.com/chat/completions", openai_stream)}


@SETTINGS
@given(st.sampled_from(list(STREAMS)), answers(), st.lists(st.integers(0, 60), max_size=5))
def test_streamed_answer_assembles_to_the_same_content_and_tool_calls(provider_id, answer, cuts):
    url, render = STREAMS[provider_id]
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, url, body=render(answer, split(answer.content or "", cuts)))
        resp = collect(build(provider_id).stream(request_with(answer, ["r", "r", "r"])))
        assert not leaked_keys(mock.calls[0].request.url)
    assert (resp.content or None) == answer.content
    assert same_calls(resp.tool_calls, answer.tool_calls, ids=provider_id != "google_gemini")
    assert resp.finish_reason == ("tool_calls" if answer.tool_calls else "stop")


secret_chars = string.ascii_letters + string.digits + "-_"


@given(st.text(max_size=80) | st.builds(lambda p, s: p + s, st.sampled_from(_KNOWN_PREFIXES),
                                        st.text(alphabet=secret_chars, max_size=70)))
def test_mask_key_reveals_at_most_a_known_prefix_and_the_last_four(raw):
    masked = mask_key(raw)
    assert masked == mask_key(Secret(raw))
    if len(raw) < 16:
        assert masked == "***"
        return
    prefix, sep, tail = masked.partition("...")
    assert sep == "..." and tail == raw[-4:]
    assert prefix in ("", *_KNOWN_PREFIXES) and raw.startswith(prefix)
    assert len(raw) - len(prefix) >= 16

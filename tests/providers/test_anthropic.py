"""Anthropic adapter (providers.md §5): Messages API translation, named SSE events, errors."""
from __future__ import annotations

import pytest
import responses

import errors
from providers.assemble import collect
from providers.types import ChatRequest, EmbeddingRequest, Message, ProviderSettings, Tool, ToolCall
from tests.providers.conftest import KEYS, add_stream, named_sse, sent_json

BASE = "https://api.anthropic.com"
MESSAGES = f"{BASE}/v1/messages"
ANSWER = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
          "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": None,
          "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 5,
                    "output_tokens": 2, "service_tier": "standard"}}


def aerr(type_: str, message: str, **extra) -> dict:
    return {"type": "error", "error": {"type": type_, "message": message, **extra}, "request_id": "req_1"}


START = ("message_start", {"type": "message_start", "message": {
    "id": "msg_s", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [],
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": 1}}})


def text_block(index: int, *texts: str) -> list[tuple[str, dict]]:
    events = [("content_block_start", {"type": "content_block_start", "index": index,
                                       "content_block": {"type": "text", "text": ""}}),
              ("ping", {"type": "ping"})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": {"type": "text_delta", "text": t}}) for t in texts]
    return events + [("content_block_stop", {"type": "content_block_stop", "index": index})]


def tool_block(index: int, tool_id: str, name: str, *fragments: str) -> list[tuple[str, dict]]:
    events = [("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
        "type": "tool_use", "id": tool_id, "name": name, "input": {}}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": {"type": "input_json_delta", "partial_json": f}}) for f in fragments]
    return events + [("content_block_stop", {"type": "content_block_stop", "index": index})]


def end(reason: str, output_tokens: int) -> list[tuple[str, dict]]:
    return [("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                               "usage": {"output_tokens": output_tokens}}),
            ("message_stop", {"type": "message_stop"})]


def hi(**kw) -> ChatRequest:
    return ChatRequest(model="claude-sonnet-4-5", messages=[Message("system", "be brief"), Message("user", "hi")], **kw)


def test_key_check_valid(mock, make):
    mock.add(responses.GET, f"{BASE}/v1/models", json={"data": [{"type": "model", "id": "claude-sonnet-4-5-20250929",
                                                                  "display_name": "Claude Sonnet 4.5"}],
                                                        "has_more": False})
    assert make("anthropic").check_key().ok
    headers = mock.calls[0].request.headers
    assert headers["x-api-key"] == KEYS["anthropic"] and headers["anthropic-version"] == "2023-06-01"


def test_key_check_invalid(mock, make):
    mock.add(responses.GET, f"{BASE}/v1/models", json=aerr("authentication_error", "invalid x-api-key"), status=401)
    result = make("anthropic").check_key()
    assert (result.ok, result.status) == (False, "invalid_key") and "invalid x-api-key" in result.message


def test_chat_exact_content_usage_and_body(mock, make):
    mock.add(responses.POST, MESSAGES, json=ANSWER)
    resp = make("anthropic", ProviderSettings(anthropic_default_max_tokens=321)).chat(hi(stop=["Z"], temperature=0.3))
    assert (resp.content, resp.finish_reason, resp.id) == ("Hi", "stop", "msg_01")
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.cached_tokens) == (15, 2, 5)
    assert sent_json(mock) == {"model": "claude-sonnet-4-5", "max_tokens": 321, "system": "be brief",
                               "temperature": 0.3, "stop_sequences": ["Z"],
                               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}


def test_default_max_tokens_is_4096_and_json_mode_adds_instruction(mock, make):
    mock.add(responses.POST, MESSAGES, json=ANSWER)
    make("anthropic").chat(hi(json_mode=True))
    body = sent_json(mock)
    assert body["max_tokens"] == 4096 and body["system"].startswith("be brief\n\n") and "JSON" in body["system"]


@pytest.mark.parametrize("stop_reason, expected", [("end_turn", "stop"), ("stop_sequence", "stop"),
                                                   ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                                   ("refusal", "content_filter"),
                                                   ("model_context_window_exceeded", "length")])
def test_stop_reasons(mock, make, stop_reason, expected):
    mock.add(responses.POST, MESSAGES, json=dict(ANSWER, stop_reason=stop_reason))
    assert make("anthropic").chat(hi()).finish_reason == expected


def test_stream_exact_content_and_usage(mock, make):
    add_stream(mock, MESSAGES, named_sse(START, *text_block(0, "Hel", "lo"), *end("end_turn", 6)))
    chunks = list(make("anthropic").stream(hi()))
    resp = collect(chunks)
    assert (resp.content, resp.finish_reason, resp.id) == ("Hello", "stop", "msg_s")
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (11, 6, 17)
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage.completion_tokens == 6
    assert sent_json(mock)["stream"] is True


def test_tool_call_round_trip(mock, make):
    answer = dict(ANSWER, stop_reason="tool_use", content=[
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "Paris"}}])
    mock.add(responses.POST, MESSAGES, json=answer)
    schema = {"type": "object", "properties": {"location": {"type": "string"}}}
    req = ChatRequest(model="claude-sonnet-4-5", tools=[Tool("get_weather", "w", schema)], tool_choice="required",
                      messages=[Message("user", "weather?"),
                                Message("assistant", "checking", tool_calls=[
                                    ToolCall("toolu_a", "get_weather", '{"location":"Rome"}'),
                                    ToolCall("toolu_b", "get_weather", '{"location":"Oslo"}')]),
                                Message("tool", "sunny", tool_call_id="toolu_a"),
                                Message("tool", "snow", tool_call_id="toolu_b"),
                                Message("user", "and Paris?")])
    resp = make("anthropic").chat(req)
    assert (resp.content, resp.finish_reason) == ("Let me check.", "tool_calls")
    assert resp.tool_calls == [ToolCall("toolu_01", "get_weather", '{"location": "Paris"}')]
    body = sent_json(mock)
    assert body["tools"] == [{"name": "get_weather", "description": "w", "input_schema": schema}]
    assert body["tool_choice"] == {"type": "any"}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][1] == {"type": "tool_use", "id": "toolu_a", "name": "get_weather",
                                                 "input": {"location": "Rome"}}
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "snow"},
        {"type": "text", "text": "and Paris?"}]


@pytest.mark.parametrize("choice, expected", [("auto", {"type": "auto"}), ("none", {"type": "none"}),
                                              ({"name": "f"}, {"type": "tool", "name": "f"})])
def test_tool_choice_mapping(mock, make, choice, expected):
    mock.add(responses.POST, MESSAGES, json=ANSWER)
    make("anthropic").chat(hi(tools=[Tool("f")], tool_choice=choice))
    assert sent_json(mock)["tool_choice"] == expected


def test_stream_tool_use_index_is_the_tool_ordinal(mock, make):
    body = named_sse(START, *text_block(0, "One moment."), *tool_block(1, "toolu_x", "get_weather", "", '{"locati',
                                                                        'on": "Paris"}'),
                     *tool_block(2, "toolu_y", "get_time", '{}'), *end("tool_use", 40))
    add_stream(mock, MESSAGES, body)
    chunks = list(make("anthropic").stream(hi()))
    indexes = {d.index for c in chunks for d in c.tool_calls}
    assert indexes == {0, 1}
    resp = collect(chunks)
    assert resp.tool_calls == [ToolCall("toolu_x", "get_weather", '{"location": "Paris"}'),
                               ToolCall("toolu_y", "get_time", "{}")]
    assert (resp.content, resp.finish_reason, resp.usage.completion_tokens) == ("One moment.", "tool_calls", 40)


def test_stream_without_event_names_yields_nothing_and_is_incomplete(mock, make):
    add_stream(mock, MESSAGES, b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}\n\n')
    with pytest.raises(errors.IncompleteStreamError):
        assert list(make("anthropic").stream(hi())) == []


def test_inband_error_event_raises_mapped_error(mock, make):
    body = named_sse(START, *text_block(0, "Hel")[:3], ("error", {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}))
    add_stream(mock, MESSAGES, body)
    gen = make("anthropic").stream(hi())
    assert next(gen).content == "Hel"
    with pytest.raises(errors.OverloadedError, match="Anthropic: Overloaded"):
        next(gen)


def test_embeddings_are_unsupported(make):
    with pytest.raises(errors.UnsupportedOperationError, match="Anthropic has no embeddings API"):
        make("anthropic").embed(EmbeddingRequest(model="x", inputs=["a"]))


@pytest.mark.parametrize("status, body, headers, cls, retry_after", [
    (401, aerr("authentication_error", "invalid x-api-key"), {}, errors.InvalidKeyError, None),
    (402, aerr("billing_error", "billing problem"), {}, errors.QuotaExhaustedError, None),
    (400, aerr("invalid_request_error", "Your credit balance is too low to access the Anthropic API."), {},
     errors.QuotaExhaustedError, None),
    (403, aerr("permission_error", "Your API key does not have permission to use the specified resource."), {},
     errors.NoAccessError, None),
    (404, aerr("not_found_error", "model: claude-x"), {}, errors.ModelNotFoundError, None),
    (400, aerr("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"), {},
     errors.ContextLengthError, None),
    (400, aerr("invalid_request_error", "input length and `max_tokens` exceed context limit: 197537 + 8192 > 200000"),
     {}, errors.ContextLengthError, None),
    (400, aerr("invalid_request_error", "max_tokens: 10000 > 4096, which is the maximum allowed"), {},
     errors.UpstreamBadRequestError, None),
    (413, aerr("request_too_large", "Request exceeds the maximum allowed number of bytes."), {},
     errors.UpstreamBadRequestError, None),
    (429, aerr("rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests "
                                   "per minute."), {"retry-after": "13"}, errors.RateLimitError, 13.0),
    (429, aerr("rate_limit_error", "monthly spend limit", details={"error_code": "enforced_spend_limit_reached"}),
     {}, errors.QuotaExhaustedError, None),
    (500, aerr("api_error", "Internal server error"), {}, errors.UpstreamServerError, None),
    (504, aerr("timeout_error", "Request timed out"), {}, errors.UpstreamTimeoutError, None),
    (529, aerr("overloaded_error", "Overloaded"), {}, errors.OverloadedError, None),
])
def test_error_bodies_map_to_error_classes(mock, make, status, body, headers, cls, retry_after):
    mock.add(responses.POST, MESSAGES, json=body, status=status, headers=headers)
    with pytest.raises(errors.UpstreamError) as info:
        make("anthropic").chat(hi())
    assert type(info.value) is cls and info.value.retry_after == retry_after
    assert info.value.message.startswith("Anthropic: ")


def test_stream_cut_mid_answer_raises_incomplete(mock, make):
    add_stream(mock, MESSAGES, named_sse(START, *text_block(0, "Hel", "lo")[:3]))
    gen = make("anthropic").stream(hi())
    assert next(gen).content == "Hel"
    with pytest.raises(errors.IncompleteStreamError):
        next(gen)


def test_stream_with_stop_reason_but_no_message_stop_is_complete(mock, make):
    add_stream(mock, MESSAGES, named_sse(START, *text_block(0, "ok"), *end("end_turn", 3)[:1]))
    resp = collect(make("anthropic").stream(hi()))
    assert (resp.content, resp.finish_reason, resp.usage.completion_tokens) == ("ok", "stop", 3)


def test_upstream_response_closed_when_consumer_stops_early(mock, make, closes):
    add_stream(mock, MESSAGES, named_sse(START, *text_block(0, "a", "b"), *end("end_turn", 2)))
    gen = make("anthropic").stream(hi())
    next(gen)
    gen.close()
    assert len(closes) == 1

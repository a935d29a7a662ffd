"""OpenAI adapter against recorded-shape payloads (providers.md §3)."""
from __future__ import annotations

import pytest
import responses

import errors
from providers.assemble import collect
from providers.types import ChatRequest, EmbeddingRequest, Message, Tool, ToolCall
from tests.providers.conftest import KEYS, add_stream, sent_json, sse

BASE = "https://api.openai.com/v1"
CHAT = f"{BASE}/chat/completions"
MODELS = {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"}]}
BAD_KEY = {"error": {"message": "Incorrect API key provided: sk-pr***EFGH. You can find your API key at "
                                "https://platform.openai.com/account/api-keys.",
                     "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
COMPLETION = {
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1727346168, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": None, "annotations": []},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10,
              "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
    "service_tier": "default", "system_fingerprint": "fp_1"}


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-X", "object": "chat.completion.chunk", "created": 1727346168,
            "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1", "usage": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


USAGE_CHUNK = {"id": "chatcmpl-X", "object": "chat.completion.chunk", "created": 1727346168,
               "model": "gpt-4o-2024-08-06", "choices": [],
               "usage": {"prompt_tokens": 79, "completion_tokens": 11, "total_tokens": 90,
                         "completion_tokens_details": {"reasoning_tokens": 3}}}
STREAM = sse(chunk({"role": "assistant", "content": "", "refusal": None}), chunk({"content": "Hel"}),
             chunk({"content": "lo"}), chunk({}, "stop"), USAGE_CHUNK, "[DONE]")


def hi(model: str = "gpt-4o", **kw) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("system", "be brief"), Message("user", "hi")], **kw)


def test_key_check_valid_uses_free_models_list(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json=MODELS)
    result = make("openai").check_key()
    assert (result.ok, result.status) == (True, "ok")
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {KEYS['openai']}"


def test_key_check_invalid(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json=BAD_KEY, status=401)
    result = make("openai").check_key()
    assert (result.ok, result.status, result.status_code) == (False, "invalid_key", 401)
    assert "Incorrect API key provided" in result.message
    assert KEYS["openai"] not in result.message


def test_chat_exact_content_and_usage(mock, make):
    mock.add(responses.POST, CHAT, json=COMPLETION)
    resp = make("openai").chat(hi(temperature=0.2, max_tokens=50, stop=["END"]))
    assert (resp.content, resp.finish_reason, resp.model, resp.id) == ("Hi", "stop", "gpt-4o-2024-08-06", "chatcmpl-abc")
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (9, 1, 10)
    assert resp.usage.cached_tokens == 4
    body = sent_json(mock)
    assert body == {"model": "gpt-4o", "temperature": 0.2, "max_tokens": 50, "stop": ["END"],
                    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("model, field", [("gpt-4o", "max_tokens"), ("gpt-5-mini", "max_completion_tokens"),
                                          ("o3", "max_completion_tokens"), ("o4-mini", "max_completion_tokens")])
def test_max_tokens_field_depends_on_model(mock, make, model, field):
    mock.add(responses.POST, CHAT, json=COMPLETION)
    make("openai").chat(hi(model, max_tokens=7))
    body = sent_json(mock)
    other = ({"max_tokens", "max_completion_tokens"} - {field}).pop()
    assert body[field] == 7 and other not in body


def test_json_mode_sets_response_format(mock, make):
    mock.add(responses.POST, CHAT, json=COMPLETION)
    make("openai").chat(hi(json_mode=True))
    assert sent_json(mock)["response_format"] == {"type": "json_object"}


def test_stream_exact_content_and_usage(mock, make):
    add_stream(mock, CHAT, STREAM)
    chunks = list(make("openai").stream(hi()))
    resp = collect(chunks)
    assert (resp.content, resp.finish_reason) == ("Hello", "stop")
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (79, 11, 90)
    assert resp.usage.reasoning_tokens == 3
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None
    assert all(c.finish_reason is None for c in chunks[:-1])
    body = sent_json(mock)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert mock.calls[0].request.headers["Accept"] == "text/event-stream"


def test_tool_call_round_trip(mock, make):
    args = '{"city":"Paris"}'
    answer = dict(COMPLETION, choices=[{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": args}}]}}])
    mock.add(responses.POST, CHAT, json=answer)
    tool = Tool("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})
    req = ChatRequest(model="gpt-4o", tools=[tool], tool_choice={"name": "get_weather"}, messages=[
        Message("user", "weather?"),
        Message("assistant", None, tool_calls=[ToolCall("call_1", "get_weather", '{"city":"Rome"}')]),
        Message("tool", "sunny", tool_call_id="call_1"), Message("user", "and Paris?")])
    resp = make("openai").chat(req)
    assert resp.tool_calls == [ToolCall("call_9", "get_weather", args)]
    assert (resp.content, resp.finish_reason) == (None, "tool_calls")
    body = sent_json(mock)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": tool.parameters}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["messages"][1]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]
    assert body["messages"][2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


def test_stream_tool_call_deltas_assemble_by_index(mock, make):
    first = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
        {"index": 0, "id": "call_A", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}
    body = sse(chunk(first), chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
               chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Paris"}'}}]}),
               chunk({"tool_calls": [{"index": 1, "id": "call_B", "function": {"name": "f2", "arguments": "{}"}}]}),
               chunk({}, "tool_calls"), USAGE_CHUNK, "[DONE]")
    add_stream(mock, CHAT, body)
    resp = collect(make("openai").stream(hi(tools=[Tool("get_weather")])))
    assert resp.tool_calls == [ToolCall("call_A", "get_weather", '{"city":"Paris"}'), ToolCall("call_B", "f2", "{}")]
    assert resp.finish_reason == "tool_calls"


def test_embeddings_in_input_order_as_floats(mock, make):
    mock.add(responses.POST, f"{BASE}/embeddings", json={
        "object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2},
        "data": [{"object": "embedding", "index": 1, "embedding": [0.5, 0.25]},
                 {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]})
    result = make("openai").embed(EmbeddingRequest(model="text-embedding-3-small", inputs=["a", "b"], dimensions=2))
    assert result.vectors == [[0.1, 0.2], [0.5, 0.25]]
    assert (result.usage.prompt_tokens, result.usage.estimated) == (2, False)
    assert sent_json(mock) == {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 2,
                               "encoding_format": "float"}


RATE = {"error": {"message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit "
                             "30000, Used 29000, Requested 2000. Please try again in 1.2s.",
                  "type": "tokens", "param": None, "code": "rate_limit_exceeded"}}
QUOTA = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                   "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
CONTEXT = {"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages "
                                "resulted in 130021 tokens.", "type": "invalid_request_error", "param": "messages",
                     "code": "context_length_exceeded"}}
MISSING = {"error": {"message": "The model `x` does not exist or you do not have access to it.",
                     "type": "invalid_request_error", "param": None, "code": "model_not_found"}}
SERVER = {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                    "type": "server_error", "param": None, "code": None}}
BUSY = {"error": {"message": "The engine is currently overloaded, please try again later", "type": "server_error",
                  "param": None, "code": None}}
UNSAFE = {"error": {"message": "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
                    "type": "invalid_request_error", "param": None, "code": "invalid_prompt"}}
BAD = {"error": {"message": "Unrecognized request argument supplied: foo", "type": "invalid_request_error",
                 "param": None, "code": None}}


@pytest.mark.parametrize("status, body, headers, cls, retry_after", [
    (401, BAD_KEY, {}, errors.InvalidKeyError, None),
    (429, RATE, {}, errors.RateLimitError, 1.2),
    (429, RATE, {"retry-after": "7"}, errors.RateLimitError, 7.0),
    (429, RATE, {"retry-after-ms": "2500", "retry-after": "7"}, errors.RateLimitError, 2.5),
    (429, QUOTA, {}, errors.QuotaExhaustedError, None),
    (400, CONTEXT, {}, errors.ContextLengthError, None),
    (404, MISSING, {}, errors.ModelNotFoundError, None),
    (500, SERVER, {}, errors.UpstreamServerError, None),
    (503, BUSY, {}, errors.OverloadedError, None),
    (400, UNSAFE, {}, errors.ContentFilterError, None),
    (400, BAD, {}, errors.UpstreamBadRequestError, None),
])
def test_error_bodies_map_to_error_classes(mock, make, status, body, headers, cls, retry_after):
    mock.add(responses.POST, CHAT, json=body, status=status, headers=headers)
    with pytest.raises(errors.UpstreamError) as info:
        make("openai").chat(hi())
    err = info.value
    assert type(err) is cls
    assert (err.provider, err.upstream_status, err.retry_after) == ("openai", status, retry_after)
    assert err.message.startswith("OpenAI: ") and body["error"]["message"][:30] in err.message


def test_error_message_never_echoes_the_key(mock, make):
    echo = {"error": {"message": f"Incorrect API key provided: {KEYS['openai']}.", "type": "invalid_request_error",
                      "code": "invalid_api_key"}}
    mock.add(responses.POST, CHAT, json=echo, status=401)
    with pytest.raises(errors.InvalidKeyError) as info:
        make("openai").chat(hi())
    assert KEYS["openai"] not in info.value.message and "[REDACTED]" in info.value.message
    assert KEYS["openai"] not in str(info.value)


def test_html_gateway_page_is_readable(mock, make):
    mock.add(responses.POST, CHAT, body="<html><body><h1>503 Service Unavailable</h1></body></html>", status=503)
    with pytest.raises(errors.OverloadedError) as info:
        make("openai").chat(hi())
    assert "503 Service Unavailable" in info.value.message and "<h1>" not in info.value.message


def test_inband_stream_error_raises_after_yielding_what_arrived(mock, make, closes):
    add_stream(mock, CHAT, sse(chunk({"content": "Hel"}), {"error": {"message": "boom", "type": "server_error"}}))
    gen = make("openai").stream(hi())
    assert next(gen).content == "Hel"
    with pytest.raises(errors.UpstreamServerError, match="OpenAI: boom"):
        next(gen)
    assert len(closes) == 1


def test_stream_cut_mid_answer_raises_incomplete(mock, make, closes):
    add_stream(mock, CHAT, sse(chunk({"content": "Hel"}), chunk({"content": "lo"})))
    gen = make("openai").stream(hi())
    assert [next(gen).content, next(gen).content] == ["Hel", "lo"]
    with pytest.raises(errors.IncompleteStreamError):
        next(gen)
    assert len(closes) == 1


def test_stream_with_finish_and_usage_but_no_done_is_complete(mock, make):
    add_stream(mock, CHAT, sse(chunk({"content": "Hi"}), chunk({}, "length"), USAGE_CHUNK))
    resp = collect(make("openai").stream(hi()))
    assert (resp.content, resp.finish_reason, resp.usage.total_tokens) == ("Hi", "length", 90)


def test_upstream_response_closed_when_consumer_stops_early(mock, make, closes):
    add_stream(mock, CHAT, STREAM)
    gen = make("openai").stream(hi())
    assert next(gen).content == "Hel"
    assert closes == []
    gen.close()
    assert len(closes) == 1


def test_malformed_chunk_is_skipped_with_a_warning(mock, make, caplog):
    add_stream(mock, CHAT, sse(chunk({"content": "a"}), "{not json", chunk({"content": "b"}, "stop"), "[DONE]"))
    assert collect(make("openai").stream(hi())).content == "ab"
    assert any("malformed JSON" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

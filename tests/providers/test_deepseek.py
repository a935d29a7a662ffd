"""DeepSeek adapter (providers.md §7): keep-alive comments, cache-hit usage, no embeddings."""
from __future__ import annotations

import pytest
import responses

import errors
from providers.assemble import collect
from providers.types import ChatRequest, EmbeddingRequest, Message, Tool, ToolCall
from tests.providers.conftest import KEYS, add_stream, sent_json, sse

BASE = "https://api.deepseek.com"
CHAT = f"{BASE}/chat/completions"
USAGE = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25, "prompt_cache_hit_tokens": 16,
         "prompt_cache_miss_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 2}}
COMPLETION = {"id": "ds-1", "object": "chat.completion", "created": 1, "model": "deepseek-v4-flash",
              "system_fingerprint": "fp_x_prod0820_fp8_kvcache",
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "你好", "reasoning_content": "thinking"}}],
              "usage": USAGE}
BAD_KEY = {"error": {"message": "Authentication Fails, Your api key: ****cd99 is invalid",
                     "type": "authentication_error", "param": None, "code": "invalid_request_error"}}


def err(message: str, type_: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": "invalid_request_error"}}


def piece(delta: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    return {"id": "ds-1", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-v4-flash",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], "usage": usage}


def hi(**kw) -> ChatRequest:
    return ChatRequest(model="deepseek-v4-flash", messages=[Message("user", "hi")], **kw)


def test_key_check_valid(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json={"object": "list", "data": [
        {"id": "deepseek-v4-flash", "object": "model", "owned_by": "deepseek"}]})
    result = make("deepseek").check_key()
    assert result.ok and mock.calls[0].request.headers["Authorization"] == f"Bearer {KEYS['deepseek']}"


def test_key_check_invalid(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json=BAD_KEY, status=401)
    result = make("deepseek").check_key()
    assert (result.ok, result.status) == (False, "invalid_key") and "Authentication Fails" in result.message


def test_chat_exact_content_and_cache_usage(mock, make):
    mock.add(responses.POST, CHAT, json=COMPLETION)
    resp = make("deepseek").chat(hi(max_tokens=10))
    assert (resp.content, resp.finish_reason) == ("你好", "stop")
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.cached_tokens,
            resp.usage.reasoning_tokens) == (20, 5, 16, 2)
    assert sent_json(mock)["max_tokens"] == 10


def test_stream_with_keep_alive_comments_and_usage_on_finish_chunk(mock, make):
    body = (b": keep-alive\n\n: keep-alive\n\n"
            + sse(piece({"role": "assistant", "content": None, "reasoning_content": "hmm"}),
                  piece({"content": "Hel"}), piece({"content": "lo"}), piece({"content": ""}, "stop", USAGE),
                  {"id": "ds-1", "choices": [], "usage": USAGE}, "[DONE]"))
    add_stream(mock, CHAT, body)
    resp = collect(make("deepseek").stream(hi()))
    assert (resp.content, resp.finish_reason, resp.usage.total_tokens, resp.usage.cached_tokens) == ("Hello", "stop", 25, 16)


def test_stream_usage_on_finish_chunk_alone_is_enough(mock, make):
    add_stream(mock, CHAT, sse(piece({"content": "ok"}), piece({}, "stop", USAGE), "[DONE]"))
    resp = collect(make("deepseek").stream(hi()))
    assert (resp.content, resp.usage.prompt_tokens) == ("ok", 20)


def test_tool_call_round_trip(mock, make):
    answer = dict(COMPLETION, choices=[{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "", "tool_calls": [
            {"index": 0, "id": "call_0_x", "type": "function", "function": {"name": "calc", "arguments": '{"a":1}'}}]}}])
    mock.add(responses.POST, CHAT, json=answer)
    req = hi(tools=[Tool("calc", "adds")], tool_choice="auto")
    req.messages += [Message("assistant", None, tool_calls=[ToolCall("c1", "calc", '{"a":0}')]),
                     Message("tool", "0", tool_call_id="c1")]
    resp = make("deepseek").chat(req)
    assert resp.tool_calls == [ToolCall("call_0_x", "calc", '{"a":1}')] and resp.finish_reason == "tool_calls"
    body = sent_json(mock)
    assert body["tool_choice"] == "auto" and body["tools"][0]["function"]["name"] == "calc"
    assert body["messages"][-1] == {"role": "tool", "content": "0", "tool_call_id": "c1"}


def test_embeddings_are_unsupported(make):
    with pytest.raises(errors.UnsupportedOperationError, match="DeepSeek has no embeddings API"):
        make("deepseek").embed(EmbeddingRequest(model="x", inputs=["a"]))


@pytest.mark.parametrize("status, body, cls", [
    (401, BAD_KEY, errors.InvalidKeyError),
    (402, err("Insufficient Balance", "unknown_error"), errors.QuotaExhaustedError),
    (400, err("This model's maximum context length is 131072 tokens. However, you requested 140000 tokens "
              "(139000 in the messages, 1000 in the completion)."), errors.ContextLengthError),
    (400, err("Content Exists Risk"), errors.ContentFilterError),
    (400, err("Model Not Exist"), errors.ModelNotFoundError),
    (400, err("Invalid Format"), errors.UpstreamBadRequestError),
    (422, err("Invalid Parameters"), errors.UpstreamBadRequestError),
    (429, err("Rate Limit Reached", "rate_limit_error"), errors.RateLimitError),
    (500, err("Server Error", "api_error"), errors.UpstreamServerError),
    (503, err("Server Overloaded", "api_error"), errors.OverloadedError),
])
def test_error_bodies_map_to_error_classes(mock, make, status, body, cls):
    mock.add(responses.POST, CHAT, json=body, status=status)
    with pytest.raises(errors.UpstreamError) as info:
        make("deepseek").chat(hi())
    assert type(info.value) is cls and info.value.message.startswith("DeepSeek: ")


def test_stream_cut_mid_answer_raises_incomplete(mock, make):
    add_stream(mock, CHAT, b": keep-alive\n\n" + sse(piece({"content": "Hel"})))
    gen = make("deepseek").stream(hi())
    assert next(gen).content == "Hel"
    with pytest.raises(errors.IncompleteStreamError):
        next(gen)


def test_upstream_response_closed_when_consumer_stops_early(mock, make, closes):
    add_stream(mock, CHAT, sse(piece({"content": "a"}), piece({"content": "b"}), piece({}, "stop", USAGE), "[DONE]"))
    gen = make("deepseek").stream(hi())
    next(gen)
    gen.close()
    assert len(closes) == 1

"""Moonshot Kimi adapter (providers.md §9): usage inside choices[0], typed errors, no embeddings."""
from __future__ import annotations

import pytest
import responses

import errors
from providers.assemble import collect
from providers.types import ChatRequest, EmbeddingRequest, Message, Tool, ToolCall
from tests.providers.conftest import KEYS, add_stream, sent_json, sse

BASE = "https://api.moonshot.cn/v1"
CHAT = f"{BASE}/chat/completions"
COMPLETION = {"id": "chatcmpl-k", "object": "chat.completion", "created": 1, "model": "kimi-k2-0905-preview",
              "system_fingerprint": "fpv0_1",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "你好"}}],
              "usage": {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32, "cached_tokens": 8}}


def kerr(type_: str, message: str) -> dict:
    return {"error": {"message": message, "type": type_}}


def piece(delta: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    if usage:
        choice["usage"] = usage
    return {"id": "cmpl-k", "object": "chat.completion.chunk", "created": 1698999575, "model": "kimi-k2-0905-preview",
            "choices": [choice]}


USAGE = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}


def hi(**kw) -> ChatRequest:
    return ChatRequest(model="kimi-k2-0905-preview", messages=[Message("user", "hi")], **kw)


def test_key_check_valid(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json={"object": "list", "data": [
        {"id": "kimi-k2.6", "object": "model", "created": 1, "owned_by": "moonshot"}]})
    assert make("kimi_k2").check_key().ok
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {KEYS['kimi_k2']}"


def test_key_check_invalid_on_international_host(mock, make):
    mock.add(responses.GET, "https://api.moonshot.ai/v1/models",
             json=kerr("invalid_authentication_error", "Invalid Authentication"), status=401)
    result = make("kimi_k2", region="intl").check_key()
    assert (result.ok, result.status) == (False, "invalid_key") and "Invalid Authentication" in result.message


def test_chat_exact_content_and_usage(mock, make):
    mock.add(responses.POST, CHAT, json=COMPLETION)
    resp = make("kimi_k2").chat(hi(max_tokens=100))
    assert (resp.content, resp.usage.prompt_tokens, resp.usage.total_tokens, resp.usage.cached_tokens) == ("你好", 19, 32, 8)


def test_stream_usage_inside_the_final_choice(mock, make):
    add_stream(mock, CHAT, sse(piece({"role": "assistant", "content": ""}), piece({"content": "你"}),
                               piece({"content": "好"}), piece({}, "stop", USAGE), "[DONE]"))
    resp = collect(make("kimi_k2").stream(hi()))
    assert (resp.content, resp.finish_reason, resp.usage.prompt_tokens, resp.usage.completion_tokens) == (
        "你好", "stop", 19, 13)


def test_tool_call_round_trip(mock, make):
    answer = dict(COMPLETION, choices=[{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "", "tool_calls": [
            {"index": 0, "id": "search:0", "type": "function", "function": {"name": "search", "arguments": '{"q":"k2"}'}}]}}])
    mock.add(responses.POST, CHAT, json=answer)
    req = hi(tools=[Tool("search")])
    req.messages += [Message("assistant", None, tool_calls=[ToolCall("search:9", "search", '{"q":"a"}')]),
                     Message("tool", "result", tool_call_id="search:9")]
    resp = make("kimi_k2").chat(req)
    assert resp.tool_calls == [ToolCall("search:0", "search", '{"q":"k2"}')]
    body = sent_json(mock)
    assert "tool_choice" not in body and body["messages"][1]["tool_calls"][0]["id"] == "search:9"


def test_embeddings_are_unsupported(make):
    with pytest.raises(errors.UnsupportedOperationError, match="Moonshot Kimi"):
        make("kimi_k2").embed(EmbeddingRequest(model="x", inputs=["a"]))


@pytest.mark.parametrize("status, body, cls, retry_after", [
    (400, kerr("content_filter", "The request was rejected because it was considered high risk"),
     errors.ContentFilterError, None),
    (400, kerr("invalid_request_error", "Invalid request: Your request exceeded model token limit: 262144 "
                                        "(requested: 269030)"), errors.ContextLengthError, None),
    (400, kerr("invalid_request_error", "Input token length too long"), errors.ContextLengthError, None),
    (400, kerr("invalid_request_error", "Invalid request: invalid temperature: only 1 is allowed for this model"),
     errors.UpstreamBadRequestError, None),
    (401, kerr("incorrect_api_key_error", "Incorrect API key provided"), errors.InvalidKeyError, None),
    (429, kerr("exceeded_current_quota_error", "Your account org-1<ak-1> is suspended due to insufficient balance, "
                                               "please recharge your account or check your plan and billing details"),
     errors.QuotaExhaustedError, None),
    (403, kerr("exceeded_current_quota_error", "insufficient balance"), errors.QuotaExhaustedError, None),
    (403, kerr("permission_denied_error", "The API you are accessing is not open"), errors.NoAccessError, None),
    (404, kerr("resource_not_found_error", "Not found the model kimi-x or Permission denied"),
     errors.ModelNotFoundError, None),
    (429, kerr("engine_overloaded_error", "The engine is currently overloaded, please try again later"),
     errors.OverloadedError, None),
    (429, kerr("rate_limit_reached_error", "Your account org-1<ak-1> request reached organization max concurrency: "
                                           "3, please try again after 1 seconds"), errors.RateLimitError, 1.0),
    (500, kerr("server_error", "unexpected_output"), errors.UpstreamServerError, None),
])
def test_error_bodies_map_to_error_classes(mock, make, status, body, cls, retry_after):
    mock.add(responses.POST, CHAT, json=body, status=status)
    with pytest.raises(errors.UpstreamError) as info:
        make("kimi_k2").chat(hi())
    assert type(info.value) is cls and info.value.retry_after == retry_after
    assert info.value.message.startswith("Moonshot Kimi: ")


def test_stream_cut_mid_answer_raises_incomplete(mock, make):
    add_stream(mock, CHAT, sse(piece({"content": "你"})))
    gen = make("kimi_k2").stream(hi())
    assert next(gen).content == "你"
    with pytest.raises(errors.IncompleteStreamError):
        next(gen)


def test_upstream_response_closed_when_consumer_stops_early(mock, make, closes):
    add_stream(mock, CHAT, sse(piece({"content": "a"}), piece({"content": "b"}), piece({}, "stop", USAGE), "[DONE]"))
    gen = make("kimi_k2").stream(hi())
    next(gen)
    gen.close()
    assert len(closes) == 1

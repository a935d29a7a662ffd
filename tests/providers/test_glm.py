"""Zhipu GLM adapter (providers.md §8): string error codes, top-level stream usage, embeddings."""
from __future__ import annotations

import pytest
import responses

import errors
from providers.assemble import collect
from providers.types import ChatRequest, EmbeddingRequest, Message, Tool, ToolCall
from tests.providers.conftest import KEYS, add_stream, sent_json, sse

BASE = "https://open.bigmodel.cn/api/paas/v4"
CHAT = f"{BASE}/chat/completions"
COMPLETION = {"id": "2024090615170503e5eb37d22a4e96", "request_id": "2024090615170503e5eb37d22a4e96",
              "created": 1725607026, "model": "glm-4.6",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "你好！"}}],
              "usage": {"prompt_tokens": 22, "completion_tokens": 25, "total_tokens": 47,
                        "prompt_tokens_details": {"cached_tokens": 3}}}


def zerr(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def piece(content: str, finish: str | None = None, usage: dict | None = None) -> dict:
    choice = {"index": 0, "delta": {"role": "assistant", "content": content}}
    if finish:
        choice["finish_reason"] = finish
    out = {"id": "2025081814023662804f889e1d4242", "created": 1755496956, "model": "glm-4.6", "choices": [choice]}
    if usage:
        out["usage"] = usage
    return out


USAGE = {"prompt_tokens": 13414, "completion_tokens": 135, "total_tokens": 13549}


def hi(**kw) -> ChatRequest:
    return ChatRequest(model="glm-4.6", messages=[Message("user", "你好")], **kw)


def test_key_check_valid_uses_models_list(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json={"object": "list", "data": [{"id": "glm-4.6"}]})
    assert make("glm_4_6").check_key().ok
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {KEYS['glm_4_6']}"


def test_key_check_invalid(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json=zerr("1000", "身份验证失败。"), status=401)
    result = make("glm_4_6").check_key()
    assert (result.ok, result.status) == (False, "invalid_key") and "身份验证失败" in result.message


def test_key_check_unfunded_key_is_quota_exhausted(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json=zerr("1113", "余额不足或无可用资源包,请充值。"), status=429)
    result = make("glm_4_6").check_key()
    assert (result.ok, result.status) == (False, "quota_exhausted")


def test_international_region_uses_z_ai(mock, make):
    mock.add(responses.POST, "https://api.z.ai/api/paas/v4/chat/completions", json=COMPLETION)
    assert make("glm_4_6", region="intl").chat(hi()).content == "你好！"


def test_chat_exact_content_and_usage(mock, make):
    mock.add(responses.POST, CHAT, json=COMPLETION)
    resp = make("glm_4_6").chat(hi(temperature=0.5))
    assert (resp.content, resp.finish_reason, resp.usage.total_tokens, resp.usage.cached_tokens) == ("你好！", "stop", 47, 3)


def test_stream_usage_is_top_level_on_final_chunk(mock, make):
    add_stream(mock, CHAT, sse(piece("你"), piece("好"), piece("", "stop", USAGE), "[DONE]"))
    chunks = list(make("glm_4_6").stream(hi()))
    resp = collect(chunks)
    assert (resp.content, resp.finish_reason, resp.usage.prompt_tokens, resp.usage.completion_tokens) == (
        "你好", "stop", 13414, 135)
    assert sent_json(mock)["stream_options"] == {"include_usage": True}


def test_sensitive_finish_reason_is_content_filter(mock, make):
    add_stream(mock, CHAT, sse(piece("部分"), piece("", "sensitive", USAGE), "[DONE]"))
    assert collect(make("glm_4_6").stream(hi())).finish_reason == "content_filter"


def test_tool_call_round_trip(mock, make):
    answer = dict(COMPLETION, choices=[{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_-1", "type": "function", "index": 0, "function": {"name": "weather", "arguments": '{"c":"北京"}'}}]}}])
    mock.add(responses.POST, CHAT, json=answer)
    req = hi(tools=[Tool("weather")], tool_choice="auto")
    req.messages += [Message("assistant", None, tool_calls=[ToolCall("t0", "weather", '{"c":"上海"}')]),
                     Message("tool", "晴", tool_call_id="t0")]
    resp = make("glm_4_6").chat(req)
    assert resp.tool_calls == [ToolCall("call_-1", "weather", '{"c":"北京"}')]
    assert sent_json(mock)["messages"][-1] == {"role": "tool", "content": "晴", "tool_call_id": "t0"}


def test_stream_whole_tool_call_in_one_delta(mock, make):
    call = {"role": "assistant", "tool_calls": [
        {"id": "call_1", "index": 0, "type": "function", "function": {"name": "weather", "arguments": '{"c":"x"}'}}]}
    body = sse({"id": "g", "model": "glm-4.6", "choices": [{"index": 0, "delta": call}]},
               {"id": "g", "model": "glm-4.6", "choices": [{"index": 0, "finish_reason": "tool_calls",
                                                            "delta": {"role": "assistant", "content": ""}}],
                "usage": USAGE}, "[DONE]")
    add_stream(mock, CHAT, body)
    resp = collect(make("glm_4_6").stream(hi()))
    assert resp.tool_calls == [ToolCall("call_1", "weather", '{"c":"x"}')] and resp.finish_reason == "tool_calls"


def test_embeddings_without_encoding_format(mock, make):
    mock.add(responses.POST, f"{BASE}/embeddings", json={
        "model": "embedding-3", "object": "list", "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3},
        "data": [{"embedding": [0.1, -0.2], "index": 0, "object": "embedding"},
                 {"embedding": [0.3, 0.4], "index": 1, "object": "embedding"}]})
    result = make("glm_4_6").embed(EmbeddingRequest(model="embedding-3", inputs=["a", "b"]))
    assert result.vectors == [[0.1, -0.2], [0.3, 0.4]] and result.usage.prompt_tokens == 3
    assert sent_json(mock) == {"model": "embedding-3", "input": ["a", "b"]}


@pytest.mark.parametrize("status, body, cls", [
    (401, zerr("1000", "身份验证失败。"), errors.InvalidKeyError),
    (401, zerr("1002", "invalid token"), errors.InvalidKeyError),
    (429, zerr("1113", "余额不足或无可用资源包,请充值。"), errors.QuotaExhaustedError),
    (429, zerr("1310", "quota"), errors.QuotaExhaustedError),
    (400, zerr("1211", "模型不存在，请检查模型代码。"), errors.ModelNotFoundError),
    (400, zerr("1261", "Prompt exceeds max length"), errors.ContextLengthError),
    (400, zerr("1301", "系统检测到输入或生成内容可能包含不安全或敏感内容"), errors.ContentFilterError),
    (429, zerr("1302", "您的账户已达到速率限制，请您控制请求频率"), errors.RateLimitError),
    (429, zerr("1305", "该模型当前访问量过大，请您稍后再试"), errors.OverloadedError),
    (400, zerr("1210", "max_tokens参数非法：限制数值范围[1,98304]"), errors.UpstreamBadRequestError),
    (429, zerr("1112", "account locked"), errors.NoAccessError),
    (500, zerr("500", "Internal Error"), errors.UpstreamServerError),
])
def test_error_bodies_map_to_error_classes(mock, make, status, body, cls):
    mock.add(responses.POST, CHAT, json=body, status=status)
    with pytest.raises(errors.UpstreamError) as info:
        make("glm_4_6").chat(hi())
    assert type(info.value) is cls and info.value.message.startswith("Zhipu GLM: ")


def test_inband_stream_error_raises(mock, make):
    add_stream(mock, CHAT, sse(piece("a"), zerr("1301", "unsafe")))
    with pytest.raises(errors.ContentFilterError):
        list(make("glm_4_6").stream(hi()))


def test_stream_cut_mid_answer_raises_incomplete(mock, make):
    add_stream(mock, CHAT, sse(piece("你")))
    gen = make("glm_4_6").stream(hi())
    assert next(gen).content == "你"
    with pytest.raises(errors.IncompleteStreamError):
        next(gen)


def test_upstream_response_closed_when_consumer_stops_early(mock, make, closes):
    add_stream(mock, CHAT, sse(piece("a"), piece("b"), piece("", "stop", USAGE), "[DONE]"))
    gen = make("glm_4_6").stream(hi())
    next(gen)
    gen.close()
    assert len(closes) == 1

"""Gemini adapter (providers.md §6): header auth, contents translation, terminator-less SSE, errors."""
from __future__ import annotations

import json

import pytest
import responses

import errors
from providers.assemble import collect
from providers.types import ChatRequest, EmbeddingRequest, Message, Tool, ToolCall
from tests.providers.conftest import KEYS, add_stream, sent_json, sse

BASE = "https://generativelanguage.googleapis.com/v1beta"
GENERATE = f"{BASE}/models/gemini-2.5-flash:generateContent"
STREAM = f"{BASE}/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
USAGE = {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 12, "thoughtsTokenCount": 5,
         "cachedContentTokenCount": 2, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}]}
ANSWER = {"candidates": [{"content": {"parts": [{"text": "Hi there"}], "role": "model"}, "finishReason": "STOP",
                          "index": 0}],
          "usageMetadata": USAGE, "modelVersion": "gemini-2.5-flash", "responseId": "qpc2afWVFJK4vr0Pq6WiyAU"}


def gerr(code: int, status: str, message: str, *details: dict) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


KEY_INVALID = gerr(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                   {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                   {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key."})


def quota(delay: str, quota_id: str, value: str = "10") -> dict:
    return gerr(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.",
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                    {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                     "quotaId": quota_id, "quotaValue": value}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})


def piece(text: str | None = None, finish: str | None = None, calls: list[dict] | None = None,
          tokens: int = 1) -> dict:
    parts = ([{"text": text}] if text is not None else []) + [{"functionCall": c} for c in calls or []]
    candidate = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "IZI2acSKMoWl0",
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": tokens, "totalTokenCount": 4 + tokens}}


def hi(**kw) -> ChatRequest:
    return ChatRequest(model="gemini-2.5-flash", messages=[Message("system", "be brief"), Message("user", "hello")], **kw)


def test_key_check_valid_key_only_in_header(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json={"models": [{"name": "models/gemini-2.5-flash"}]})
    assert make("google_gemini").check_key().ok
    request = mock.calls[0].request
    assert request.headers["x-goog-api-key"] == KEYS["google_gemini"] and "key=" not in request.url


def test_key_check_invalid_is_a_400(mock, make):
    mock.add(responses.GET, f"{BASE}/models", json=KEY_INVALID, status=400)
    result = make("google_gemini").check_key()
    assert (result.ok, result.status, result.status_code) == (False, "invalid_key", 400)
    assert "API key not valid" in result.message


def test_chat_exact_content_usage_and_body(mock, make):
    mock.add(responses.POST, GENERATE, json=ANSWER)
    resp = make("google_gemini").chat(hi(temperature=0.2, max_tokens=50, stop=["X"], top_p=0.9, json_mode=True))
    assert (resp.content, resp.finish_reason, resp.id, resp.model) == ("Hi there", "stop", "qpc2afWVFJK4vr0Pq6WiyAU",
                                                                       "gemini-2.5-flash")
    usage = resp.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.reasoning_tokens,
            usage.cached_tokens) == (4, 8, 12, 5, 2)
    assert sent_json(mock) == {
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 50, "stopSequences": ["X"],
                             "responseMimeType": "application/json"}}


@pytest.mark.parametrize("reason, expected", [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                              ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
                                              ("SPII", "content_filter"), ("BLOCKLIST", "content_filter")])
def test_finish_reasons(mock, make, reason, expected):
    answer = {**ANSWER, "candidates": [{**ANSWER["candidates"][0], "finishReason": reason}]}
    mock.add(responses.POST, GENERATE, json=answer)
    assert make("google_gemini").chat(hi()).finish_reason == expected


def test_blocked_prompt_raises_content_filter(mock, make):
    mock.add(responses.POST, GENERATE, json={"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": USAGE})
    with pytest.raises(errors.ContentFilterError, match="blocked"):
        make("google_gemini").chat(hi())


def test_stream_exact_content_and_cumulative_usage(mock, make):
    add_stream(mock, STREAM, sse(piece("Okay, "), piece("let's ", tokens=2), piece("go.", "STOP", tokens=3),
                                 sep="\r\n\r\n"))
    chunks = list(make("google_gemini").stream(hi()))
    resp = collect(chunks)
    assert (resp.content, resp.finish_reason) == ("Okay, let's go.", "stop")
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (4, 3, 7)
    assert mock.calls[0].request.url == STREAM


def test_stream_without_finish_reason_is_incomplete(mock, make, closes):
    add_stream(mock, STREAM, sse(piece("Okay, "), piece("let's ")))
    gen = make("google_gemini").stream(hi())
    assert [next(gen).content, next(gen).content] == ["Okay, ", "let's "]
    with pytest.raises(errors.IncompleteStreamError):
        next(gen)
    assert len(closes) == 1


def test_tool_call_round_trip(mock, make):
    answer = {**ANSWER, "candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "getWeather", "args": {"location": "Tokyo"}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "getTime", "args": {}}}]}, "finishReason": "STOP",
        "finishMessage": "Model generated function call(s)."}]}
    mock.add(responses.POST, GENERATE, json=answer)
    schema = {"$schema": "x", "type": "object", "additionalProperties": False,
              "properties": {"location": {"type": "string"}, "additionalProperties": {"type": "string"}}}
    req = ChatRequest(model="gemini-2.5-flash", tools=[Tool("getWeather", "w", schema)], tool_choice={"name": "getWeather"},
                      messages=[Message("user", "weather?"),
                                Message("assistant", None, tool_calls=[ToolCall("call_0", "getWeather", '{"location":"Oslo"}')]),
                                Message("tool", '{"temp": 3}', tool_call_id="call_0"),
                                Message("tool", "plain text", tool_call_id="x", name="other")])
    resp = make("google_gemini").chat(req)
    assert resp.finish_reason == "tool_calls" and resp.content is None
    assert [(c.id, c.name, json.loads(c.arguments)) for c in resp.tool_calls] == [
        ("call_0", "getWeather", {"location": "Tokyo"}), ("call_1", "getTime", {})]
    body = sent_json(mock)
    assert body["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "getWeather",
                                                                                 "args": {"location": "Oslo"}}}]}
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "getWeather", "response": {"content": {"temp": 3}}}},
        {"functionResponse": {"name": "other", "response": {"content": "plain text"}}}]}
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["parameters"] == {"type": "object", "properties": {
        "location": {"type": "string"}, "additionalProperties": {"type": "string"}}}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["getWeather"]}}


@pytest.mark.parametrize("choice, mode", [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")])
def test_tool_choice_modes(mock, make, choice, mode):
    mock.add(responses.POST, GENERATE, json=ANSWER)
    make("google_gemini").chat(hi(tools=[Tool("f")], tool_choice=choice))
    assert sent_json(mock)["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_tool_result_without_known_name_is_a_clear_error(make):
    req = ChatRequest(model="gemini-2.5-flash", messages=[Message("tool", "x", tool_call_id="nope")])
    with pytest.raises(errors.BadRequestError, match="function name"):
        make("google_gemini").chat(req)


def test_stream_function_calls_get_stable_ids(mock, make):
    body = sse(piece(calls=[{"name": "a", "args": {"x": 1}}]), piece(calls=[{"name": "b", "args": {}}], finish="STOP"))
    add_stream(mock, STREAM, body)
    resp = collect(make("google_gemini").stream(hi()))
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [("call_0", "a", '{"x": 1}'), ("call_1", "b", "{}")]
    assert resp.finish_reason == "tool_calls"


def test_embeddings_single_and_batch(mock, make):
    mock.add(responses.POST, f"{BASE}/models/gemini-embedding-001:embedContent", json={"embedding": {"values": [0.1, 0.2]}})
    mock.add(responses.POST, f"{BASE}/models/gemini-embedding-001:batchEmbedContents",
             json={"embeddings": [{"values": [1, 2]}, {"values": [3, 4]}]})
    provider = make("google_gemini")
    one = provider.embed(EmbeddingRequest(model="gemini-embedding-001", inputs=["hello world"], dimensions=768))
    assert one.vectors == [[0.1, 0.2]] and one.usage.estimated and one.usage.prompt_tokens == 3
    assert sent_json(mock, 0) == {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello world"}]},
                                  "outputDimensionality": 768}
    many = provider.embed(EmbeddingRequest(model="gemini-embedding-001", inputs=["a", "b"]))
    assert many.vectors == [[1.0, 2.0], [3.0, 4.0]]
    assert [r["content"]["parts"][0]["text"] for r in sent_json(mock, 1)["requests"]] == ["a", "b"]


@pytest.mark.parametrize("status, body, cls, retry_after", [
    (400, KEY_INVALID, errors.InvalidKeyError, None),
    (400, gerr(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key."), errors.InvalidKeyError, None),
    (403, gerr(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established "
                                         "identity). Please use API Key or other form of API consumer identity to call "
                                         "this API."), errors.InvalidKeyError, None),
    (403, gerr(403, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use another API key."),
     errors.InvalidKeyError, None),
    (429, quota("37s", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"), errors.RateLimitError, 37.0),
    (429, quota("57.23s", "GenerateContentInputTokensPerModelPerMinute-FreeTier"), errors.RateLimitError, 57.23),
    (429, quota("3s", "GenerateRequestsPerDayPerProjectPerModel-FreeTier"), errors.QuotaExhaustedError, 3.0),
    (400, gerr(400, "INVALID_ARGUMENT", "The input token count (1196265) exceeds the maximum number of tokens allowed "
                                        "(1048576)."), errors.ContextLengthError, None),
    (404, gerr(404, "NOT_FOUND", "models/x is not found for API version v1beta, or is not supported for "
                                 "generateContent."), errors.ModelNotFoundError, None),
    (400, gerr(400, "FAILED_PRECONDITION", "User location is not supported for the API use."), errors.NoAccessError, None),
    (500, gerr(500, "INTERNAL", "An internal error has occurred."), errors.UpstreamServerError, None),
    (503, gerr(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), errors.OverloadedError, None),
    (504, gerr(504, "DEADLINE_EXCEEDED", "Deadline exceeded"), errors.UpstreamTimeoutError, None),
    (400, [gerr(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")], errors.UpstreamBadRequestError, None),
])
def test_error_bodies_map_to_error_classes(mock, make, status, body, cls, retry_after):
    mock.add(responses.POST, GENERATE, json=body, status=status)
    with pytest.raises(errors.UpstreamError) as info:
        make("google_gemini").chat(hi())
    assert type(info.value) is cls and info.value.retry_after == retry_after
    assert info.value.message.startswith("Google Gemini: ")


def test_inband_error_in_stream(mock, make):
    add_stream(mock, STREAM, sse(piece("a"), gerr(503, "UNAVAILABLE", "The model is overloaded.")))
    gen = make("google_gemini").stream(hi())
    assert next(gen).content == "a"
    with pytest.raises(errors.OverloadedError):
        next(gen)


def test_upstream_response_closed_when_consumer_stops_early(mock, make, closes):
    add_stream(mock, STREAM, sse(piece("a"), piece("b"), piece("c", "STOP")))
    gen = make("google_gemini").stream(hi())
    next(gen)
    gen.close()
    assert len(closes) == 1

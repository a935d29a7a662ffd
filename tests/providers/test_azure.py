"""Azure OpenAI adapter (providers.md §4): deployment URLs, api-key header, filter chunks."""
from __future__ import annotations

import pytest
import responses

import errors
from providers.assemble import collect
from providers.types import ChatRequest, EmbeddingRequest, Message, Tool, ToolCall
from tests.providers.conftest import AZURE_ENDPOINT, KEYS, add_stream, sent_json, sse

DEPLOY = f"{AZURE_ENDPOINT}/openai/deployments/gpt4o-prod"
CHAT = f"{DEPLOY}/chat/completions?api-version=2024-10-21"
FILTERS = {"hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
           "sexual": {"filtered": False, "severity": "safe"}, "violence": {"filtered": False, "severity": "safe"}}
COMPLETION = {
    "id": "chatcmpl-az", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-11-20",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
    "choices": [{"index": 0, "finish_reason": "stop", "content_filter_results": FILTERS,
                 "message": {"role": "assistant", "content": "Hello from Azure"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}}
BAD_KEY = {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. "
                     "Make sure to provide a valid key for an active subscription and use a correct regional API "
                     "endpoint for your resource."}}
NO_DEPLOYMENT = {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not "
                           "exist. If you created the deployment within the last 5 minutes, please wait a moment "
                           "and try again."}}
RATE = {"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
                  "version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                  "Please retry after 6 seconds."}}
FILTERED = {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                      "management policy.", "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                      "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                          "violence": {"filtered": True, "severity": "medium"}}}}}
CONTEXT = {"error": {"message": "This model's maximum context length is 128000 tokens.", "type": "invalid_request_error",
                     "param": "messages", "code": "context_length_exceeded"}}
BUSY = {"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unable to process your request."}}
INTERNAL = {"error": {"code": "InternalServerError", "message": "The server had an error."}}


def hi(**kw) -> ChatRequest:
    return ChatRequest(model="gpt-4o", messages=[Message("user", "hi")], **kw)


def piece(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-az", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-11-20",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "content_filter_results": FILTERS}]}


PROMPT_FILTER_CHUNK = {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                       "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}]}
USAGE = {"id": "chatcmpl-az", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-11-20",
         "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}}


def test_key_check_valid_is_a_one_token_chat_to_the_deployment(mock, make):
    mock.add(responses.POST, CHAT, json=COMPLETION)
    result = make("azure_openai").check_key()
    assert (result.ok, result.status) == (True, "ok")
    request = mock.calls[0].request
    assert request.headers["api-key"] == KEYS["azure_openai"] and "Authorization" not in request.headers
    assert sent_json(mock)["max_tokens"] == 1


def test_key_check_invalid(mock, make):
    mock.add(responses.POST, CHAT, json=BAD_KEY, status=401)
    result = make("azure_openai").check_key()
    assert (result.ok, result.status) == (False, "invalid_key") and "Access denied" in result.message


def test_key_check_missing_deployment_is_no_access(mock, make):
    mock.add(responses.POST, CHAT, json=NO_DEPLOYMENT, status=404)
    result = make("azure_openai").check_key()
    assert (result.ok, result.status) == (False, "no_access") and "gpt4o-prod" in result.message


def test_key_check_retries_with_max_completion_tokens_for_reasoning_deployments(mock, make):
    reject = {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                        "'max_completion_tokens' instead.", "type": "invalid_request_error", "code": "unsupported_parameter"}}
    mock.add(responses.POST, CHAT, json=reject, status=400)
    mock.add(responses.POST, CHAT, json=COMPLETION)
    assert make("azure_openai").check_key().ok
    assert sent_json(mock, 1)["max_completion_tokens"] == 1


def test_key_check_without_deployment_lists_models(mock, make):
    mock.add(responses.GET, f"{AZURE_ENDPOINT}/openai/models?api-version=2024-10-21", json={"data": []})
    assert make("azure_openai", endpoint=AZURE_ENDPOINT).check_key().ok


def test_chat_exact_content_and_usage(mock, make):
    mock.add(responses.POST, f"{DEPLOY}/chat/completions?api-version=2025-01-01", json=COMPLETION)
    resp = make("azure_openai", endpoint=AZURE_ENDPOINT, deployment="gpt4o-prod", api_version="2025-01-01").chat(hi())
    assert (resp.content, resp.model, resp.usage.total_tokens) == ("Hello from Azure", "gpt-4o-2024-11-20", 16)


def test_model_names_the_deployment_when_metadata_has_none(mock, make):
    mock.add(responses.POST, f"{AZURE_ENDPOINT}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
             json=COMPLETION)
    assert make("azure_openai", endpoint=AZURE_ENDPOINT).chat(hi()).content == "Hello from Azure"


def test_stream_skips_prompt_filter_chunk(mock, make):
    add_stream(mock, CHAT, sse(PROMPT_FILTER_CHUNK, piece({"role": "assistant", "content": ""}),
                               piece({"content": "Hi "}), piece({"content": "there"}), piece({}, "stop"), USAGE, "[DONE]"))
    chunks = list(make("azure_openai").stream(hi()))
    resp = collect(chunks)
    assert (resp.content, resp.finish_reason, resp.usage.prompt_tokens, resp.usage.completion_tokens) == (
        "Hi there", "stop", 12, 2)
    assert chunks[0].content == "Hi "
    assert sent_json(mock)["stream_options"] == {"include_usage": True}


def test_stream_blocked_completion_finishes_with_content_filter(mock, make):
    add_stream(mock, CHAT, sse(PROMPT_FILTER_CHUNK, piece({"content": "I"}), piece({}, "content_filter"), "[DONE]"))
    assert collect(make("azure_openai").stream(hi())).finish_reason == "content_filter"


def test_tool_call_round_trip(mock, make):
    answer = dict(COMPLETION, choices=[{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_z", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}}]}}])
    mock.add(responses.POST, CHAT, json=answer)
    req = hi(tools=[Tool("lookup")], tool_choice="required")
    req.messages += [Message("assistant", None, tool_calls=[ToolCall("call_1", "lookup", "{}")]),
                     Message("tool", '{"r":1}', tool_call_id="call_1")]
    resp = make("azure_openai").chat(req)
    assert resp.tool_calls == [ToolCall("call_z", "lookup", '{"q":"x"}')] and resp.finish_reason == "tool_calls"
    body = sent_json(mock)
    assert body["tool_choice"] == "required" and body["messages"][2]["tool_call_id"] == "call_1"


def test_embeddings_at_the_embedding_deployment(mock, make):
    mock.add(responses.POST, f"{AZURE_ENDPOINT}/openai/deployments/emb/embeddings?api-version=2024-10-21", json={
        "object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 1, "total_tokens": 1},
        "data": [{"object": "embedding", "index": 0, "embedding": [1.0, 2.0]}]})
    provider = make("azure_openai", endpoint=AZURE_ENDPOINT, embedding_deployment="emb")
    result = provider.embed(EmbeddingRequest(model="text-embedding-3-small", inputs=["a"]))
    assert result.vectors == [[1.0, 2.0]] and sent_json(mock)["encoding_format"] == "float"


@pytest.mark.parametrize("status, body, headers, cls, retry_after", [
    (401, BAD_KEY, {}, errors.InvalidKeyError, None),
    (404, NO_DEPLOYMENT, {}, errors.ModelNotFoundError, None),
    (429, RATE, {"retry-after": "6", "retry-after-ms": "6000"}, errors.RateLimitError, 6.0),
    (429, RATE, {}, errors.RateLimitError, 6.0),
    (400, FILTERED, {}, errors.ContentFilterError, None),
    (400, CONTEXT, {}, errors.ContextLengthError, None),
    (503, BUSY, {}, errors.OverloadedError, None),
    (500, INTERNAL, {}, errors.UpstreamServerError, None),
])
def test_error_bodies_map_to_error_classes(mock, make, status, body, headers, cls, retry_after):
    mock.add(responses.POST, CHAT, json=body, status=status, headers=headers)
    with pytest.raises(errors.UpstreamError) as info:
        make("azure_openai").chat(hi())
    assert type(info.value) is cls and info.value.retry_after == retry_after
    assert info.value.message.startswith("Azure OpenAI: ")


def test_stream_cut_mid_answer_raises_incomplete(mock, make):
    add_stream(mock, CHAT, sse(PROMPT_FILTER_CHUNK, piece({"content": "Hi"})))
    gen = make("azure_openai").stream(hi())
    assert next(gen).content == "Hi"
    with pytest.raises(errors.IncompleteStreamError):
        next(gen)


def test_upstream_response_closed_when_consumer_stops_early(mock, make, closes):
    add_stream(mock, CHAT, sse(piece({"content": "a"}), piece({"content": "b"}), piece({}, "stop"), "[DONE]"))
    gen = make("azure_openai").stream(hi())
    next(gen)
    gen.close()
    assert len(closes) == 1

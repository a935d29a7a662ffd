"""Injected faults: real error bodies per provider, connection faults and stream faults."""
from __future__ import annotations

import json
import time

import pytest

openai = pytest.importorskip("openai")

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client_for(sim, cached):
    """openai SDK client (1 s timeout, no retries) for an OpenAI-format provider."""
    def make(provider: str, key: str = "sk-test-abcdefyz") -> openai.OpenAI:
        if provider == "azure":
            return cached(("azure", key), lambda: openai.AzureOpenAI(
                azure_endpoint=sim.url_for("azure"), api_key=key, api_version="2024-10-21",
                max_retries=0, timeout=1.0))
        return cached((provider, key), lambda: openai.OpenAI(
            base_url=sim.url_for(provider), api_key=key, max_retries=0, timeout=1.0))
    return make


def wait_for(predicate, timeout: float = 3.0):
    """Poll until predicate() is truthy (the log is updated asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize(("provider", "fault", "error_class", "status", "error"), [
    ("openai", "quota", "RateLimitError", 429, {"code": "insufficient_quota",
                                                  "type": "insufficient_quota"}),
    ("openai", "rate_limit", "RateLimitError", 429, {"code": "rate_limit_exceeded"}),
    ("openai", "context_length", "BadRequestError", 400, {"code": "context_length_exceeded",
                                                            "param": "messages"}),
    ("openai", "model_not_found", "NotFoundError", 404, {"code": "model_not_found"}),
    ("openai", "overloaded", "InternalServerError", 503, {"type": "server_error"}),
    ("openai", "server_error", "InternalServerError", 500, {"type": "server_error"}),
    ("openai", "content_filter", "BadRequestError", 400, {"code": "invalid_prompt"}),
    ("azure", "model_not_found", "NotFoundError", 404, {"code": "DeploymentNotFound"}),
    ("azure", "content_filter", "BadRequestError", 400, {"code": "content_filter"}),
    ("azure", "invalid_key", "AuthenticationError", 401, {"code": "401"}),
    ("deepseek", "quota", "APIStatusError", 402, {"message": "Insufficient Balance"}),
    ("deepseek", "content_filter", "BadRequestError", 400, {"message": "Content Exists Risk"}),
    ("kimi", "quota", "RateLimitError", 429, {"type": "exceeded_current_quota_error"}),
    ("kimi", "overloaded", "RateLimitError", 429, {"type": "engine_overloaded_error"}),
    ("kimi", "model_not_found", "NotFoundError", 404, {"type": "resource_not_found_error"}),
    ("glm", "overloaded", "RateLimitError", 429, {"code": "1305"}),
    ("glm", "quota", "RateLimitError", 429, {"code": "1113"}),
])
def test_http_faults_have_real_bodies(sim, client_for, provider, fault, error_class, status,
                                      error):
    sim.script(provider, {"fault": fault})
    with pytest.raises(getattr(openai, error_class)) as caught:
        client_for(provider).chat.completions.create(model="gpt-4o", messages=HI)
    assert caught.value.status_code == status
    body = caught.value.body if "error" not in (caught.value.body or {}) else \
        caught.value.body["error"]
    assert error.items() <= body.items()


@pytest.mark.parametrize(("provider", "message"), [
    ("openai", "Incorrect API key provided: sk-in***yz. You can find your API key at "
               "https://platform.openai.com/account/api-keys."),
    ("deepseek", "Authentication Fails, Your api key: ****yzyz is invalid"),
    ("kimi", "Invalid Authentication")])
def test_a_key_containing_invalid_is_rejected_like_the_provider(sim, client_for, provider,
                                                                 message):
    client = client_for(provider, key="sk-invalid-abcdyzyz")
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="m", messages=HI)
    assert caught.value.message.endswith(message) or message in str(caught.value.body)


def test_missing_key_is_openais_no_key_401(sim, http):
    reply = http.post(sim.url_for("openai") + "/chat/completions",
                      json={"model": "m", "messages": HI})
    assert reply.status_code == 401
    assert reply.json()["error"]["message"].startswith("You didn't provide an API key.")


def test_retry_headers_are_sent_when_asked(sim, client_for):
    sim.script("azure", {"fault": "rate_limit", "retry_after": 0, "retry_after_ms": 5})
    with pytest.raises(openai.RateLimitError) as caught:
        client_for("azure").chat.completions.create(model="dep", messages=HI)
    headers = caught.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("0", "5")
    assert "Please retry after 0 seconds" in caught.value.body["message"]


def test_reset_drops_the_connection_before_headers(sim, client_for):
    sim.script("openai", {"fault": "reset"})
    with pytest.raises(openai.APIConnectionError):
        client_for("openai").chat.completions.create(model="m", messages=HI)
    assert sim.requests("openai")[-1]["fault"] == "reset"


def test_hang_ends_when_the_client_gives_up(sim, client_for):
    sim.script("openai", {"fault": "hang", "hang_s": 10})
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client_for("openai").with_options(timeout=0.3).chat.completions.create(
            model="m", messages=HI)
    assert time.monotonic() - started < 3
    assert wait_for(lambda: sim.requests("openai")[-1]["client_disconnected"])


def test_cut_stream_sends_some_chunks_then_closes(sim, client_for):
    sim.script("openai", {"fault": "cut", "after_chunks": 2})
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client_for("openai").chat.completions.create(model="m", messages=HI,
                                                                  stream=True):
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "Hell", "o fr"]
    entry = sim.requests("openai")[-1]
    assert entry["stream_started"] and entry["stream_ended"] and not entry["completed"]


def test_stall_goes_silent_until_the_client_times_out(sim, client_for):
    sim.script("openai", {"fault": "stall", "stall_s": 10, "after_chunks": 1})
    seen = []
    with pytest.raises(openai.APITimeoutError):
        for chunk in client_for("openai").with_options(timeout=0.3).chat.completions.create(
                model="m", messages=HI, stream=True):
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "Hell"]
    assert wait_for(lambda: sim.requests("openai")[-1]["client_disconnected"])


def test_malformed_chunk_is_invalid_json_mid_stream(sim, client_for):
    sim.script("openai", {"fault": "malformed_chunk", "after_chunks": 1})
    with pytest.raises(json.JSONDecodeError):
        list(client_for("openai").chat.completions.create(model="m", messages=HI, stream=True))


def test_malformed_chunk_then_the_stream_continues(sim, http):
    sim.script("kimi", {"fault": "malformed_chunk", "after_chunks": 1})
    raw = http.post(sim.url_for("kimi") + "/chat/completions", headers={
        "Authorization": "Bearer sk-x"}, json={"model": "m", "messages": HI, "stream": True})
    events = [e for e in raw.content.split(b"\n\n") if e]
    bad = [e for e in events if e.startswith(b"data: {") and not _is_json(e[6:])]
    assert len(bad) == 1 and events[-1] == b"data: [DONE]"


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def test_no_done_ends_after_usage_without_terminator(sim, http):
    sim.script("openai", {"fault": "no_done"})
    raw = http.post(sim.url_for("openai") + "/chat/completions", headers={
        "Authorization": "Bearer sk-x"}, json={"model": "m", "messages": HI, "stream": True,
                                               "stream_options": {"include_usage": True}})
    events = [e for e in raw.content.split(b"\n\n") if e]
    assert b"[DONE]" not in raw.content
    assert json.loads(events[-1][6:])["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize("provider", ("openai", "deepseek", "kimi", "glm"))
def test_midstream_error_is_an_in_band_error_event(sim, client_for, provider):
    sim.script(provider, {"fault": "midstream_error", "after_chunks": 2})
    with pytest.raises(openai.APIError) as caught:
        list(client_for(provider).chat.completions.create(model="m", messages=HI, stream=True))
    assert caught.value.body  # the provider's error object


def test_non_stream_cut_truncates_the_body(sim, client_for):
    sim.script("openai", {"fault": "cut"})
    with pytest.raises(openai.APIConnectionError):
        client_for("openai").chat.completions.create(model="m", messages=HI)


def test_faults_apply_to_embeddings_too(sim, client_for):
    sim.script("openai", {"fault": "rate_limit"})
    with pytest.raises(openai.RateLimitError):
        client_for("openai").embeddings.create(model="text-embedding-3-small", input="x")


def test_raw_status_override(sim, client_for):
    sim.script("openai", {"status": 418, "body": {"error": {"message": "teapot"}},
                          "headers": {"x-custom": "1"}})
    with pytest.raises(openai.APIStatusError) as caught:
        client_for("openai").chat.completions.create(model="m", messages=HI)
    assert caught.value.status_code == 418 and caught.value.response.headers["x-custom"] == "1"

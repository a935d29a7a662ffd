"""The /__sim control API, the request log, timing settings and byte-level framing."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.simulator.conftest import sse_events

HI = [{"role": "user", "content": "hi"}]
BEARER = {"Authorization": "Bearer sk-secret-value"}


def chat(sim, http, provider="openai", *, stream=False, headers=BEARER, **extra):
    """POST a chat request to an OpenAI-format provider."""
    return http.post(sim.url_for(provider) + "/chat/completions", headers=headers,
                     json={"model": "m", "messages": HI, "stream": stream, **extra})


def test_script_fifo_is_consumed_one_per_request_then_defaults(sim, http):
    sim.script("openai", {"content": "first"}, {"content": "second"})
    sim.script("*", {"content": "shared"})
    texts = [chat(sim, http).json()["choices"][0]["message"]["content"] for _ in range(4)]
    assert texts == ["first", "second", "shared", "Hello from openai."]


def test_scripts_are_per_provider(sim, http):
    sim.script("deepseek", {"content": "only deepseek"})
    assert chat(sim, http).json()["choices"][0]["message"]["content"] == "Hello from openai."
    assert chat(sim, http, "deepseek").json()["choices"][0]["message"]["content"] == \
        "only deepseek"


def test_concurrent_requests_consume_each_entry_exactly_once(sim):
    sim.script("openai", *[{"content": f"r{i}"} for i in range(40)])

    def one(_):
        with requests.Session() as session:
            return chat(sim, session).json()["choices"][0]["message"]["content"]
    with ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(one, range(40)))
    assert sorted(seen) == sorted(f"r{i}" for i in range(40))


def test_config_sets_defaults_per_provider_and_global(sim, http):
    sim.configure("*", chunks=2, content="global text")
    sim.configure("kimi", content="kimi text")
    assert chat(sim, http).json()["choices"][0]["message"]["content"] == "global text"
    kimi = chat(sim, http, "kimi").json()
    assert kimi["choices"][0]["message"]["content"] == "kimi text"
    assert kimi["usage"]["completion_tokens"] == 2
    sim.reset()
    assert chat(sim, http, "kimi").json()["usage"]["completion_tokens"] == 5


def test_timing_settings(sim, http):
    sim.configure("openai", chunks=4, chunk_delay_ms=40, first_chunk_delay_ms=60)
    started = time.monotonic()
    raw = chat(sim, http, stream=True)
    assert time.monotonic() - started >= 0.06 + 3 * 0.04
    assert raw.content.endswith(b"data: [DONE]\n\n")
    sim.script("openai", {"latency_ms": 80})
    started = time.monotonic()
    chat(sim, http)
    assert time.monotonic() - started >= 0.08


@pytest.mark.parametrize("body", [
    {"provider": "nobody", "responses": []},
    {"provider": "openai", "responses": [{"fault": "meltdown"}]},
    {"provider": "openai", "responses": [{"chunk_delay": 5}]},
    {"provider": "openai"}])
def test_bad_scripts_are_rejected(sim, body):
    reply = requests.post(sim.base_url + "/__sim/script", json=body)
    assert reply.status_code == 400 and reply.json()["error"]


def test_bad_config_is_rejected(sim):
    assert requests.post(sim.base_url + "/__sim/config", json={"chunkz": 3}).status_code == 400


def test_log_records_request_without_raw_keys(sim, http):
    chat(sim, http, stream=True, stream_options={"include_usage": True})
    entry = sim.requests("openai")[-1]
    assert entry["method"] == "POST" and entry["path"] == "/openai/v1/chat/completions"
    assert entry["body"]["stream_options"] == {"include_usage": True}
    assert "authorization" in entry["headers"] and entry["auth_present"]
    assert entry["key_hash"] == sim.key_hash("sk-secret-value")
    assert entry["stream"] and entry["completed"] and not entry["client_disconnected"]
    assert entry["ts"] <= entry["stream_started"] <= entry["stream_ended"]
    assert "sk-secret-value" not in json.dumps(sim.requests())


def test_log_marks_a_client_that_disconnects_mid_stream(sim):
    sim.configure("openai", chunks=50, chunk_delay_ms=20)
    with requests.post(sim.url_for("openai") + "/chat/completions", headers=BEARER, stream=True,
                       json={"model": "m", "messages": HI, "stream": True}) as reply:
        next(reply.iter_content(64))
    deadline = time.monotonic() + 3
    while not sim.requests("openai")[-1]["client_disconnected"] and time.monotonic() < deadline:
        time.sleep(0.02)
    entry = sim.requests("openai")[-1]
    assert entry["client_disconnected"] and not entry["completed"]


def test_requests_can_be_filtered(sim, http):
    chat(sim, http)
    chat(sim, http, "kimi")
    first = sim.requests()[0]["id"]
    assert [e["provider"] for e in sim.requests("kimi")] == ["kimi"]
    assert [e["provider"] for e in sim.requests(since=first)] == ["kimi"]
    assert [e["provider"] for e in sim.requests(limit=1)] == ["kimi"]


@pytest.mark.parametrize(("provider", "path", "status", "check"), [
    ("openai", "/nope", 404, lambda b: b["error"]["message"] == "Invalid URL (POST /v1/nope)"),
    ("anthropic", "/v1/nope", 404, lambda b: b["error"]["type"] == "not_found_error"),
    ("gemini", "/v1beta/nope", 404, lambda b: b["error"]["status"] == "NOT_FOUND"),
    ("kimi", "/embeddings", 404, lambda b: b["error"]["type"] == "resource_not_found_error"),
    ("azure", "/openai/deployments/d/completions", 404,
     lambda b: b["error"]["code"] == "404")])
def test_unknown_endpoints_are_404_in_provider_shape(sim, http, provider, path, status, check):
    reply = http.post(sim.url_for(provider) + path, headers=BEARER, json={})
    assert reply.status_code == status and check(reply.json())


@pytest.mark.parametrize(("provider", "path"), [
    ("openai", "/chat/completions"), ("anthropic", "/v1/messages"),
    ("gemini", "/v1beta/models/gemini-2.5-flash:generateContent"), ("glm", "/chat/completions")])
def test_unparsable_bodies_are_400_in_provider_shape(sim, http, provider, path):
    headers = {**BEARER, "x-goog-api-key": "k", "Content-Type": "application/json"}
    reply = http.post(sim.url_for(provider) + path, headers=headers, data=b"{not json")
    assert reply.status_code == 400 and "error" in reply.json()


def test_unknown_prefix_is_404(sim, http):
    assert http.get(sim.base_url + "/mistral/v1/models").status_code == 404


def test_non_stream_uses_content_length_and_streams_are_chunked(sim, http):
    plain = chat(sim, http)
    assert plain.headers["content-type"] == "application/json"
    assert int(plain.headers["content-length"]) == len(plain.content)
    streamed = chat(sim, http, stream=True)
    assert streamed.headers["content-type"] == "text/event-stream"
    assert streamed.headers["transfer-encoding"] == "chunked"


def test_deepseek_sends_keepalive_comments_before_the_first_chunk(sim, http):
    raw = chat(sim, http, "deepseek", stream=True).content
    assert raw.startswith(b": keep-alive\n\n: keep-alive\n\ndata: {")
    finish = json.loads(sse_events(raw)[-2][0][6:])
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["usage"]["total_tokens"] == 6


def test_glm_chunks_have_no_finish_reason_key_until_the_last(sim, http):
    events = sse_events(chat(sim, http, "glm", stream=True).content)
    bodies = [json.loads(e[0][6:]) for e in events[:-1]]
    assert all("finish_reason" not in b["choices"][0] for b in bodies[:-1])
    assert bodies[-1]["choices"][0]["finish_reason"] == "stop" and "usage" in bodies[-1]
    assert events[-1] == [b"data: [DONE]"]


def test_gemini_stream_has_no_terminator(sim, http):
    raw = http.post(sim.url_for("gemini") + "/v1beta/models/g:streamGenerateContent?alt=sse",
                    headers={"x-goog-api-key": "k"},
                    json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).content
    events = sse_events(raw)
    assert all(len(e) == 1 and e[0].startswith(b"data: {") for e in events)
    assert json.loads(events[-1][0][6:])["candidates"][0]["finishReason"] == "STOP"


def test_azure_classic_stream_first_chunk_is_the_prompt_filter(sim, http):
    raw = http.post(sim.url_for("azure") + "/openai/deployments/d/chat/completions",
                    params={"api-version": "2024-10-21"}, headers={"api-key": "k"},
                    json={"messages": HI, "stream": True}).content
    first = json.loads(sse_events(raw)[0][0][6:])
    assert first["choices"] == [] and first["id"] == "" and first["created"] == 0
    assert first["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {
        "filtered": False, "detected": False}


@pytest.mark.parametrize(("provider", "path", "body"), [
    ("openai", "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": 5}],
                                     "stream_options": "yes", "tools": "none"}),
    ("openai", "/chat/completions", {"model": ["x"], "messages": "hi"}),
    ("openai", "/embeddings", {"model": "text-embedding-3-small", "input": None}),
    ("glm", "/chat/completions", {"model": "glm-4.6", "messages": [None]}),
    ("anthropic", "/v1/messages", {"model": "m", "max_tokens": 1, "messages": [
        {"role": "user", "content": [{"type": "tool_result"}, 3]}], "tools": [1]}),
    ("gemini", "/v1beta/models/g:generateContent", {"contents": [{"parts": "x"}],
                                                    "tools": [{"functionDeclarations": 7}]}),
    ("gemini", "/v1beta/models/g:batchEmbedContents", {"requests": [{"content": 1}]})])
def test_ill_typed_bodies_never_crash_the_simulator(sim, http, provider, path, body):
    headers = {**BEARER, "x-goog-api-key": "k", "anthropic-version": "2023-06-01"}
    reply = http.post(sim.url_for(provider) + path, headers=headers, json=body)
    assert reply.status_code in (200, 400), reply.text
    assert "error" in reply.json() or reply.status_code == 200
    assert http.get(sim.base_url + "/__sim/health").json()["ok"]


def test_anthropic_requires_a_version_header(sim, http):
    reply = http.post(sim.url_for("anthropic") + "/v1/messages", headers={"x-api-key": "k"},
                      json={"model": "m", "max_tokens": 1, "messages": HI})
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "anthropic-version: header is required"


def test_azure_dated_api_requires_api_version(sim, http):
    reply = http.post(sim.url_for("azure") + "/openai/deployments/d/chat/completions",
                      headers={"api-key": "k"}, json={"messages": HI})
    assert reply.status_code == 404
    assert reply.json() == {"error": {"code": "404", "message": "Resource not found"}}

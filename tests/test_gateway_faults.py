"""Fault handling of the /v1 gateway against the simulator: retries, fallback, streams, breakers."""
from __future__ import annotations

import functools
import time

import openai
import pytest

from tests.helpers.gateway import (API, CHAT_MODELS, SIM_IDS, chat_body, chat_log, inprocess_sdk,
                                   label, sdk_args, sse_events, stream_text, usage_rows, wait_for)

pytest_plugins = ["tests.helpers.gateway_fixtures"]

OPENAI = "openai/gpt-4o-mini"
DEEPSEEK = "deepseek/deepseek-v4-flash"
ERROR_KEYS = {"message", "type", "code"}


@pytest.fixture
def gw(gw_factory):
    """(app, client) with every key stored."""
    return gw_factory()


# -- retries that succeed ----------------------------------------------------------------------
TRANSIENT = {
    "openai-429-retry-after": ("openai", {"fault": "rate_limit", "retry_after": 0.4}, 0.4),
    "gemini-429-retryinfo": ("google_gemini", {"fault": "rate_limit", "retry_after": 0.4}, 0.4),
    "anthropic-529": ("anthropic", {"fault": "overloaded"}, 0.0),
    "openai-500": ("openai", {"fault": "server_error"}, 0.0),
    "openai-reset": ("openai", {"fault": "reset"}, 0.0),
}


@pytest.mark.parametrize("case", TRANSIENT)
def test_transient_failure_is_retried_once_and_succeeds(gw, sim, case):
    provider, fault, hinted = TRANSIENT[case]
    sim.script(SIM_IDS[provider], fault)
    app, client = gw
    resp = client.post("/v1/chat/completions", json=chat_body(label(provider), DEEPSEEK))
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["X-BYOK-Provider"] == label(provider)
    assert resp.get_json()["choices"][0]["message"]["content"] == f"Hello from {SIM_IDS[provider]}."
    first, second = chat_log(sim, provider)   # exactly two upstream requests
    assert first["fault"] == fault["fault"] and second["status"] == 200
    assert second["ts"] - first["ts"] >= hinted * 0.95   # the provider's hint was waited out
    assert second["ts"] - first["ts"] < hinted + 1.0
    assert chat_log(sim, "deepseek") == []
    assert usage_rows(client)[-1]["attempts"] == 2


# -- persistent failures move on to the next candidate ---------------------------------------
PERSISTENT = {
    "openai-429": ("openai", {"fault": "rate_limit", "retry_after": 0}),
    "openai-503": ("openai", {"fault": "overloaded"}),
    "openai-reset": ("openai", {"fault": "reset"}),
    "openai-hang": ("openai", {"fault": "hang", "hang_s": 3}),
    "anthropic-529": ("anthropic", {"fault": "overloaded"}),
    "gemini-429-retryinfo": ("google_gemini", {"fault": "rate_limit", "retry_after": 0.05}),
}


@pytest.mark.parametrize("case", PERSISTENT)
def test_persistent_failure_falls_back_to_next_candidate(gw_factory, sim, case):
    provider, fault = PERSISTENT[case]
    app, client = gw_factory(read_timeout_s=0.5)
    sim.script(SIM_IDS[provider], fault, fault)
    started = time.monotonic()
    resp = client.post("/v1/chat/completions", json=chat_body(label(provider), DEEPSEEK))
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["X-BYOK-Provider"] == DEEPSEEK
    assert resp.get_json()["model"] == DEEPSEEK
    assert resp.get_json()["choices"][0]["message"]["content"] == "Hello from deepseek."
    assert len(chat_log(sim, provider)) == 2 and len(chat_log(sim, "deepseek")) == 1
    assert time.monotonic() - started < 3.0   # hang: two 0.5 s read timeouts
    assert usage_rows(client)[-1]["attempts"] == 3


def test_retry_after_beyond_the_cap_moves_on_without_waiting(gw, sim):
    _, client = gw   # retry_cap_s is 2 in the fast settings
    sim.script("openai", {"fault": "rate_limit", "retry_after": 30})
    started = time.monotonic()
    resp = client.post("/v1/chat/completions", json=chat_body(OPENAI, DEEPSEEK))
    assert resp.headers["X-BYOK-Provider"] == DEEPSEEK and time.monotonic() - started < 1.5
    assert len(chat_log(sim, "openai")) == 1


def test_everything_rate_limited_is_a_429_the_sdk_raises(gw, sim):
    app, _ = gw
    sim.script("openai", *[{"fault": "rate_limit", "retry_after": 0}] * 2)
    sim.script("deepseek", *[{"fault": "rate_limit", "retry_after": 0}] * 2)
    with pytest.raises(openai.RateLimitError) as info:
        inprocess_sdk(app).chat.completions.create(**sdk_args(OPENAI, DEEPSEEK))
    assert info.value.status_code == 429
    assert set(info.value.body) >= ERROR_KEYS and info.value.code == "upstream_rate_limited"
    assert "DeepSeek" in info.value.message
    assert len(chat_log(sim, "openai")) == 2 and len(chat_log(sim, "deepseek")) == 2


# -- final errors: no retry, no fallback ------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider, reason", [
    ("openai", "flagged as potentially violating our usage policy"),
    ("glm_4_6", "系统检测到输入或生成内容可能包含不安全或敏感内容"),
    ("google_gemini", "the prompt was blocked (SAFETY)"),
])
def test_content_filter_is_a_clear_400_without_retry(gw, sim, provider, reason, stream):
    app, _ = gw
    sim.script(SIM_IDS[provider], {"fault": "content_filter"})
    with pytest.raises(openai.BadRequestError) as info:
        inprocess_sdk(app).chat.completions.create(**sdk_args(label(provider), DEEPSEEK),
                                                   stream=stream)
    assert info.value.status_code == 400 and info.value.code == "content_filter"
    assert set(info.value.body) >= ERROR_KEYS and reason in info.value.message
    assert len(chat_log(sim, provider)) == 1 and chat_log(sim, "deepseek") == []


def test_context_length_moves_to_a_larger_window_never_the_same_model(gw, sim):
    _, client = gw
    sim.script("openai", {"fault": "context_length"})
    body = chat_body("openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-4.1")   # 128k, 128k, 1M
    resp = client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200 and resp.get_json()["model"] == "openai/gpt-4.1"
    assert [e["model"] for e in chat_log(sim, "openai")] == ["gpt-4o-mini", "gpt-4.1"]


def test_context_length_with_no_larger_window_is_a_400(gw, sim):
    _, client = gw
    sim.script("openai", {"fault": "context_length"})
    resp = client.post("/v1/chat/completions", json=chat_body(OPENAI, "openai/gpt-4o"))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "context_length_exceeded"
    assert len(chat_log(sim, "openai")) == 1


# -- streams ----------------------------------------------------------------------------------
def _stream(client, body: dict):
    resp = client.post("/v1/chat/completions", json={**body, "stream": True})
    return resp, sse_events(resp.data)


def test_slow_first_token_falls_back_before_any_byte(gw_factory, sim):
    app, client = gw_factory(ttft_deadline_s=0.5)
    sim.script("openai", {"first_chunk_delay_ms": 1500})
    resp, events = _stream(client, chat_body(OPENAI, DEEPSEEK))
    assert resp.status_code == 200 and resp.headers["X-BYOK-Provider"] == DEEPSEEK
    assert stream_text(events) == "Hello from deepseek."
    assert all(e["model"] == DEEPSEEK for e in events if isinstance(e, dict))
    assert events[-1] == "[DONE]" and events[-2]["usage"]["completion_tokens"] == 5
    assert len(chat_log(sim, "openai")) == 1   # a missed TTFT is not retried on the same model


def test_stream_cut_mid_answer_ends_with_error_event_never_done(gw, sim):
    app, client = gw
    sim.script("openai", {"fault": "cut", "after_chunks": 2})
    resp, events = _stream(client, chat_body(OPENAI, DEEPSEEK))
    text = stream_text(events)
    assert text and "Hello from openai.".startswith(text) and text != "Hello from openai."
    assert "[DONE]" not in events
    error = events[-1]["error"]
    assert set(error) >= ERROR_KEYS and error["code"] == "incomplete_stream"
    assert chat_log(sim, "deepseek") == []   # content already went out: no fallback
    assert usage_rows(client)[-1]["status"] == "incomplete"


def test_stream_cut_makes_the_sdk_raise_after_the_content(gw, sim):
    app, _ = gw
    sim.script("openai", {"fault": "cut", "after_chunks": 2})
    received = []
    with pytest.raises(openai.APIError):
        for chunk in inprocess_sdk(app).chat.completions.create(**sdk_args(OPENAI), stream=True):
            received += [c.delta.content or "" for c in chunk.choices]
    assert "".join(received) and "Hello from openai.".startswith("".join(received))


def test_steady_stream_slower_than_ttft_but_within_stall_deadline_completes(gw_factory, sim):
    app, client = gw_factory(ttft_deadline_s=0.4, stall_deadline_s=3.0)
    sim.script("openai", {"chunks": 3, "chunk_delay_ms": 700})
    resp, events = _stream(client, chat_body(OPENAI))
    assert stream_text(events) == "Hello from openai." and events[-1] == "[DONE]"


def test_stream_stall_ends_with_error_event_and_closes_upstream(gw_factory, sim):
    app, client = gw_factory(stall_deadline_s=0.5)
    sim.script("openai", {"fault": "stall", "stall_s": 5, "after_chunks": 2})
    started = time.monotonic()
    resp, events = _stream(client, chat_body(OPENAI))
    assert time.monotonic() - started < 2.5
    assert stream_text(events) and "[DONE]" not in events
    assert events[-1]["error"]["code"] == "incomplete_stream"
    wait_for(lambda: chat_log(sim, "openai")[0]["client_disconnected"], timeout=3)


def test_midstream_error_event_is_forwarded_as_sse_error(gw, sim):
    app, client = gw
    sim.script("openai", {"fault": "midstream_error", "after_chunks": 2})
    resp, events = _stream(client, chat_body(OPENAI))
    assert "[DONE]" not in events and set(events[-1]["error"]) >= ERROR_KEYS


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google_gemini", "glm_4_6"])
def test_malformed_chunk_is_skipped_and_stream_completes(gw, sim, provider):
    app, client = gw
    sim.script(SIM_IDS[provider], {"fault": "malformed_chunk"})
    resp, events = _stream(client, chat_body(label(provider)))
    assert resp.status_code == 200 and events[-1] == "[DONE]"
    # a malformed frame carries no text, so the answer is whole
    assert stream_text(events) == f"Hello from {SIM_IDS[provider]}."
    assert events[-2]["usage"]["completion_tokens"] == 5
    assert client.get("/health").status_code == 200
    again = client.post("/v1/chat/completions", json=chat_body(label(provider)))
    assert again.status_code == 200


@pytest.mark.parametrize("provider", ["openai", "glm_4_6", "kimi_k2", "anthropic"])
def test_stream_without_done_is_finalised_with_usage(gw, sim, provider):
    app, client = gw
    sim.script(SIM_IDS[provider], {"fault": "no_done", "usage": {"prompt_tokens": 11,
                                                                 "completion_tokens": 7}})
    resp, events = _stream(client, chat_body(label(provider)))
    assert stream_text(events) == f"Hello from {SIM_IDS[provider]}."
    assert events[-1] == "[DONE]" and events[-2]["choices"] == []
    usage = events[-2]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (11, 7)
    row = usage_rows(client)[-1]
    assert row["status"] == "ok" and not row["estimated"] and row["completion_tokens"] == 7


# -- circuit breaker and key health ---------------------------------------------------------
BREAKER = {
    "openai-503": ("openai", {"fault": "overloaded"}),
    "anthropic-529": ("anthropic", {"fault": "overloaded"}),
    "gemini-429-retryinfo": ("google_gemini", {"fault": "rate_limit", "retry_after": 0}),
}


def _served_by(client, body: dict) -> str:
    resp = client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200
    return resp.headers["X-BYOK-Provider"]


@pytest.mark.parametrize("case", BREAKER)
def test_primary_down_then_back_opens_and_closes_the_breaker(gw_factory, sim, case):
    provider, fault = BREAKER[case]
    app, client = gw_factory(breaker_failures=2, breaker_cooldown_s=0.4)
    breaker = app.extensions["byok"].extra["breaker"]
    key = breaker.key("current-user", provider, CHAT_MODELS[provider])
    served_by = functools.partial(_served_by, client, chat_body(label(provider), DEEPSEEK))
    sim.script(SIM_IDS[provider], fault, fault)
    assert served_by() == DEEPSEEK and breaker.is_open(key)   # 2 failures: open
    assert served_by() == DEEPSEEK   # skipped while cooling down
    assert len(chat_log(sim, provider)) == 2
    time.sleep(0.45)
    assert served_by() == label(provider)   # the probe succeeds...
    assert not breaker.is_open(key) and len(chat_log(sim, provider)) == 3
    assert served_by() == label(provider)   # ...and it stays closed
    assert len(chat_log(sim, "deepseek")) == 2


def test_failed_probe_reopens_the_breaker(gw_factory, sim):
    app, client = gw_factory(breaker_failures=2, breaker_cooldown_s=0.3)
    breaker = app.extensions["byok"].extra["breaker"]
    key = breaker.key("current-user", "openai", "gpt-4o-mini")
    sim.script("openai", *[{"fault": "overloaded"}] * 4)
    served_by = functools.partial(_served_by, client, chat_body(OPENAI, DEEPSEEK))
    assert served_by() == DEEPSEEK
    time.sleep(0.35)
    assert served_by() == DEEPSEEK and breaker.is_open(key)
    assert served_by() == DEEPSEEK
    assert len(chat_log(sim, "openai")) == 4   # 2 + probe (with its one retry), then skipped


def test_zhipu_1113_quota_falls_back_at_once_and_marks_the_key(gw, sim):
    app, client = gw
    sim.script("glm", {"fault": "quota"})
    body = chat_body("glm_4_6/glm-4.6", OPENAI)
    resp = client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200 and resp.headers["X-BYOK-Provider"] == OPENAI
    assert len(chat_log(sim, "glm_4_6")) == 1   # never retried
    status = client.get(f"{API}/status").get_json()["status"]["glm_4_6"]
    assert status["key_health"] == "quota_exhausted" and "余额不足" in status["test_result"]["message"]
    assert _served_by(client, body) == OPENAI and len(chat_log(sim, "glm_4_6")) == 1  # skipped
    models = [m["id"] for m in client.get("/v1/models").get_json()["data"]]
    assert not any(m.startswith("glm_4_6/") for m in models)
    alone = client.post("/v1/chat/completions", json=chat_body("glm_4_6/glm-4.6"))
    assert alone.status_code == 400 and alone.get_json()["error"]["code"] == "no_usable_provider"


def test_refused_provider_key_is_a_502_in_openai_error_body(gw, sim):
    _, client = gw
    sim.script("openai", {"fault": "invalid_key"})
    resp = client.post("/v1/chat/completions", json=chat_body(OPENAI))
    error = resp.get_json()["error"]
    assert resp.status_code == 502 and set(error) >= ERROR_KEYS and error["code"] == "invalid_provider_key"

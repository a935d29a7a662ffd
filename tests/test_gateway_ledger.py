"""The usage ledger behind /v1: provider usage, catalogue cost, savings, unpriced, failures, disconnects."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests

import catalogue
import ledger as ledger_module
from ledger import UsageEvent
from providers.types import Usage
from tests.helpers.gateway import (API, CHAT_MODELS, SIM_IDS, chat_body, sse_events, usage_rows,
                                   wait_for)

pytest_plugins = ["tests.helpers.gateway_fixtures"]

PROMPT, COMPLETION = 1234, 567          # scripted provider usage: distinctive, never estimated
# What each simulated provider reports as the answering model.
ANSWERED = {**CHAT_MODELS, "azure_openai": "gpt-4o-2024-11-20"}
# The catalogue entry that prices it (Azure answers with its dated snapshot name).
PRICED_AS = {**CHAT_MODELS}


def _baseline(prompt: int, completion: int) -> float:
    return catalogue.model_info("openai", "gpt-4o").cost_usd(prompt, completion)


def _group(client, model: str) -> dict:
    body = client.get(f"{API}/usage?group_by=model").get_json()
    assert body["group_by"] == "model"
    (group,) = [g for g in body["groups"] if g["key"] == model]
    return group


def _response_usage(resp, stream: bool) -> dict:
    if not stream:
        return resp.get_json()["usage"]
    events = sse_events(resp.data)
    assert events[-1] == "[DONE]" and events[-2]["choices"] == []
    return events[-2]["usage"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", sorted(SIM_IDS))
def test_recorded_usage_and_cost_match_provider_and_catalogue(gw_factory, sim, provider, stream):
    _, client = gw_factory(providers=[provider])
    sim.script(SIM_IDS[provider], {"usage": {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION}})
    resp = client.post("/v1/chat/completions",
                       json=chat_body(f"{provider}/{CHAT_MODELS[provider]}", stream=stream))
    assert resp.status_code == 200
    usage = _response_usage(resp, stream)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (PROMPT, COMPLETION)

    (row,) = usage_rows(client)
    cost = catalogue.model_info(provider, PRICED_AS[provider]).cost_usd(PROMPT, COMPLETION)
    assert (row["provider"], row["model"]) == (provider, ANSWERED[provider])
    assert (row["prompt_tokens"], row["completion_tokens"]) == (PROMPT, COMPLETION)
    assert row["status"] == "ok" and row["streamed"] is stream and not row["estimated"]
    assert not row["unpriced"] and row["cost_usd"] == pytest.approx(cost, rel=1e-9)
    assert row["baseline_cost_usd"] == pytest.approx(_baseline(PROMPT, COMPLETION), rel=1e-9)
    assert row["savings_usd"] == pytest.approx(_baseline(PROMPT, COMPLETION) - cost, rel=1e-9)

    group = _group(client, ANSWERED[provider])
    assert (group["requests"], group["prompt_tokens"], group["completion_tokens"]) == (1, PROMPT, COMPLETION)
    assert group["cost_usd"] == pytest.approx(cost, abs=1e-8)
    assert group["savings_usd"] == pytest.approx(_baseline(PROMPT, COMPLETION) - cost, abs=1e-8)
    assert group["unpriced_count"] == 0 and group["failed_count"] == 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_unknown_model_is_flagged_unpriced_with_null_cost(gw_factory, sim, stream):
    _, client = gw_factory(providers=["openai"])
    resp = client.post("/v1/chat/completions",
                       json=chat_body("openai/some-unknown-model", stream=stream))
    assert resp.status_code == 200 and _response_usage(resp, stream)["completion_tokens"] == 5
    (row,) = usage_rows(client)
    assert row["model"] == "some-unknown-model" and row["unpriced"]
    assert row["cost_usd"] is None and row["savings_usd"] is None        # never 0
    assert row["completion_tokens"] == 5 and row["baseline_cost_usd"] > 0
    group = _group(client, "some-unknown-model")
    assert group["unpriced_count"] == 1 and group["cost_usd"] == 0.0
    totals = client.get(f"{API}/usage").get_json()["totals"]
    assert totals["unpriced_count"] == 1


def test_dated_snapshot_is_priced_as_its_catalogue_alias(gw_factory, sim):
    _, client = gw_factory(providers=["openai"])
    sim.script("openai", {"usage": {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION}})
    resp = client.post("/v1/chat/completions", json=chat_body("openai/gpt-4o-mini-2024-07-18"))
    assert resp.get_json()["model"] == "openai/gpt-4o-mini-2024-07-18"
    (row,) = usage_rows(client)
    cost = catalogue.model_info("openai", "gpt-4o-mini").cost_usd(PROMPT, COMPLETION)
    assert row["model"] == "gpt-4o-mini-2024-07-18" and not row["unpriced"]
    assert row["cost_usd"] == pytest.approx(cost, rel=1e-9)


def test_null_priced_catalogue_embedding_is_unpriced(gw_factory, sim):
    assert catalogue.model_info("google_gemini", "text-embedding-004").price_input is None
    _, client = gw_factory(providers=["google_gemini", "openai"])
    resp = client.post("/v1/embeddings", json={"model": "google_gemini/text-embedding-004",
                                                "input": "some text to embed"})
    assert resp.status_code == 200
    priced = client.post("/v1/embeddings", json={"model": "openai/text-embedding-3-small",
                                                  "input": "some text to embed"})
    tokens = priced.get_json()["usage"]["prompt_tokens"]
    unpriced, ok = usage_rows(client)
    assert unpriced["kind"] == "embedding" and unpriced["unpriced"] and unpriced["cost_usd"] is None
    assert ok["kind"] == "embedding" and not ok["unpriced"] and ok["prompt_tokens"] == tokens
    assert ok["cost_usd"] == pytest.approx(tokens * 0.02 / 1_000_000, rel=1e-9)


def test_failed_attempts_are_counted_on_the_successful_row(gw_factory, sim):
    _, client = gw_factory(providers=["openai", "deepseek"])
    sim.script("openai", {"fault": "server_error"}, {"fault": "server_error"})
    sim.script("deepseek", {"fault": "rate_limit", "retry_after": 0},
               {"usage": {"prompt_tokens": 40, "completion_tokens": 9}})
    body = chat_body("openai/gpt-4o-mini", "deepseek/deepseek-v4-flash")
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    (row,) = usage_rows(client)
    assert row["attempts"] == 4 and row["status"] == "ok" and row["provider"] == "deepseek"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (40, 9)   # billed once


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_failed_request_is_recorded_as_error_without_billable_tokens(gw_factory, sim, stream):
    _, client = gw_factory(providers=["openai", "deepseek"])
    sim.script("openai", *[{"fault": "overloaded"}] * 2)
    sim.script("deepseek", *[{"fault": "overloaded"}] * 2)
    body = chat_body("openai/gpt-4o-mini", "deepseek/deepseek-v4-flash", stream=stream)
    resp = client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "upstream_overloaded"
    (row,) = usage_rows(client)
    assert row["status"] == "error" and row["error_code"] == "upstream_overloaded"
    assert row["attempts"] == 4 and row["streamed"] is stream
    assert row["prompt_tokens"] == row["completion_tokens"] == 0
    assert not row["cost_usd"] and not row["unpriced"]
    totals = client.get(f"{API}/usage").get_json()["totals"]
    assert totals["failed_count"] == 1 and totals["total_tokens"] == 0


def test_client_disconnect_closes_upstream_and_records_received_usage(local_server, sim):
    sim.configure("openai", chunks=60, chunk_delay_ms=50, content="word " * 60)
    resp = requests.post(local_server.base + "/v1/chat/completions", stream=True, timeout=20,
                         json=chat_body("openai/gpt-4o-mini", stream=True))
    events = [json.loads(line[6:]) for line, _ in zip(resp.iter_lines(), range(6))
              if line.startswith(b"data: ")]
    assert events and "word" in events[-1]["choices"][0]["delta"]["content"]
    resp.close()                                                # the client goes away
    closed = time.time()
    entry = wait_for(lambda: next((e for e in sim.requests("openai")
                                   if e["client_disconnected"]), None), timeout=5)
    assert entry["stream_ended"] - closed < 1.5                # upstream closed promptly
    assert not entry["completed"]

    def recorded():
        rows = usage_rows(_Http(local_server.base))
        return next((r for r in rows if r["request_id"] == events[0]["id"]), None)
    row = wait_for(recorded, timeout=5)
    assert row["status"] == "client_disconnected" and row["streamed"]
    assert row["estimated"] and row["prompt_tokens"] > 0
    assert row["completion_tokens"] < 60                       # only what was received
    priced = catalogue.model_info("openai", "gpt-4o-mini").cost_usd(row["prompt_tokens"],
                                                                     row["completion_tokens"])
    assert row["cost_usd"] == pytest.approx(priced, rel=1e-9)


class _Http:
    """A requests-based stand-in for the test client's get(path)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str):
        return requests.get(self.base + path, timeout=10)


def test_usage_query_waits_for_an_in_flight_flush(make_app):
    ledger = make_app(usage_flush_s=3600).extensions["byok"].extra["ledger"]
    real, entered, release = ledger._sessions, threading.Event(), threading.Event()

    def slow_writer_sessions():
        if threading.current_thread().name == "writer":
            entered.set()
            release.wait(5)
        return real()

    ledger._sessions = slow_writer_sessions
    ledger.record(UsageEvent(user_id="u", provider="openai", model="gpt-4o-mini",
                             usage=Usage(10, 5, 15)))
    writer = threading.Thread(target=ledger.flush, name="writer")
    writer.start()
    assert entered.wait(5)
    seen: dict = {}
    reader = threading.Thread(target=lambda: seen.update(
        ledger.summary("u", start=None, end=None, group_by=None)))
    reader.start()
    time.sleep(0.1)
    release.set()
    reader.join(5)
    writer.join(5)
    assert seen["totals"]["requests"] == 1


def test_client_hang_up_during_a_silent_upstream_closes_it_at_once(local_server, sim):
    sim.script("openai", {"fault": "stall", "stall_s": 20, "after_chunks": 2})
    resp = requests.post(local_server.base + "/v1/chat/completions", stream=True, timeout=20,
                         json=chat_body("openai/gpt-4o-mini", stream=True))
    lines = resp.iter_lines()
    assert next(line for line in lines if line.startswith(b"data: "))
    resp.close()                        # upstream is silent now: no write can notice the hang-up
    closed = time.time()
    entry = wait_for(lambda: next((e for e in sim.requests("openai")
                                   if e["client_disconnected"]), None), timeout=5)
    assert entry["stream_ended"] - closed < 1.5 and not entry["completed"]


def test_flush_writes_in_small_transactions_and_keeps_what_failed(make_app, monkeypatch):
    ledger = make_app(usage_flush_s=3600).extensions["byok"].extra["ledger"]
    monkeypatch.setattr(ledger_module, "WRITE_BATCH", 2)
    real_write, calls = ledger._write, []

    def second_write_fails(rows):
        calls.append(len(rows))
        return False if len(calls) == 2 else real_write(rows)
    monkeypatch.setattr(ledger, "_write", second_write_fails)
    for n in range(5):
        ledger.record(UsageEvent(user_id="u", provider="openai", model="gpt-4o-mini",
                                 usage=Usage(10 + n, 5, 15 + n), request_id=f"r{n}"))
    assert ledger.flush() == 2 and calls == [2, 2]          # the first transaction landed
    assert ledger.flush() == 3 and calls == [2, 2, 2, 1]     # the rest, nothing lost or doubled
    totals = ledger.summary("u", start=None, end=None, group_by=None)["totals"]
    assert totals["requests"] == 5 and totals["prompt_tokens"] == sum(10 + n for n in range(5))

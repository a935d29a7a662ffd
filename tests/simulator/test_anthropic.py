"""The Anthropic Messages surface, exercised with the official anthropic SDK (and raw HTTP)."""
from __future__ import annotations

import pytest

from tests.simulator.conftest import sse_events

anthropic = pytest.importorskip("anthropic")

HI = [{"role": "user", "content": "hello there"}]
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


@pytest.fixture
def claude(sim, cached):
    """anthropic SDK client (SDK >= 2 sends Authorization: Bearer)."""
    return cached("claude", lambda: anthropic.Anthropic(
        base_url=sim.url_for("anthropic"), api_key="sk-ant-api03-test", max_retries=0))


def test_message_text_model_and_usage(sim, claude):
    reply = claude.messages.create(model="claude-sonnet-4-5", max_tokens=64, system="be brief",
                                   messages=HI)
    assert reply.model == "claude-sonnet-4-5"
    assert [b.text for b in reply.content] == ["Hello from anthropic."]
    assert reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (5, 5)  # ceil(19/4), chunks
    logged = sim.requests("anthropic")[-1]
    assert logged["auth_scheme"] == "bearer" and "anthropic-version" in logged["headers"]


def test_stream_text_and_cumulative_output_tokens(sim, claude):
    sim.script("anthropic", {"content": "one two three", "chunks": 3,
                             "usage": {"prompt_tokens": 11, "completion_tokens": 42}})
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["one t", "wo t", "hree"]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 42)
    assert final.stop_reason == "end_turn"


def test_stream_event_order_on_the_wire(sim, http):
    raw = http.post(sim.url_for("anthropic") + "/v1/messages",
                    json={"model": "m", "max_tokens": 5, "stream": True, "messages": HI},
                    headers={"x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01"})
    assert raw.headers["content-type"].startswith("text/event-stream")
    names = [event[0] for event in sse_events(raw.content)]
    assert names == [b"event: message_start", b"event: content_block_start", b"event: ping",
                     *[b"event: content_block_delta"] * 5, b"event: content_block_stop",
                     b"event: message_delta", b"event: message_stop"]
    assert sse_events(raw.content)[2][1] == b'data: {"type": "ping"}'
    assert sim.requests("anthropic")[-1]["auth_scheme"] == "x-api-key"


def test_tool_use_block_and_round_trip(sim, claude):
    first = claude.messages.create(model="m", max_tokens=64, messages=HI, tools=[WEATHER])
    block = first.content[0]
    assert (first.stop_reason, block.type, block.name, block.input) == (
        "tool_use", "tool_use", "get_weather", {"city": "Paris"})
    messages = HI + [{"role": "assistant", "content": [block.model_dump()]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id,
                                                   "content": "rainy, 12C"}]}]
    second = claude.messages.create(model="m", max_tokens=64, messages=messages, tools=[WEATHER])
    assert second.content[0].text == "Tool result: rainy, 12C"


def test_streamed_tool_use_uses_input_json_deltas(sim, claude):
    with claude.messages.stream(model="m", max_tokens=64, messages=HI, tools=[WEATHER]) as stream:
        kinds = {event.delta.type for event in stream if event.type == "content_block_delta"}
        final = stream.get_final_message()
    assert kinds == {"input_json_delta"}
    assert final.content[0].input == {"city": "Paris"} and final.stop_reason == "tool_use"


def test_models_and_count_tokens(sim, claude):
    assert "claude-sonnet-4-5-20250929" in [m.id for m in claude.models.list()]
    counted = claude.messages.count_tokens(model="m", messages=HI)
    assert counted.input_tokens == 3


@pytest.mark.parametrize(("fault", "error_class", "status"), [
    ("invalid_key", "AuthenticationError", 401), ("rate_limit", "RateLimitError", 429),
    ("quota", "EnforcedSpendLimitReachedError", 429), ("overloaded", "OverloadedError", 529),
    ("server_error", "InternalServerError", 500), ("context_length", "BadRequestError", 400),
    ("model_not_found", "NotFoundError", 404)])
def test_faults_raise_the_sdk_exception(sim, claude, fault, error_class, status):
    sim.script("anthropic", {"fault": fault})
    with pytest.raises(getattr(anthropic, error_class)) as caught:
        claude.messages.create(model="m", max_tokens=8, messages=HI)
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error"


def test_billing_variant_is_402(sim, claude):
    sim.script("anthropic", {"fault": "quota", "variant": "billing"})
    with pytest.raises(anthropic.PaymentRequiredError) as caught:
        claude.messages.create(model="m", max_tokens=8, messages=HI)
    assert caught.value.body["error"]["type"] == "billing_error"


def test_invalid_key_is_real_401(sim):
    bad = anthropic.Anthropic(base_url=sim.url_for("anthropic"), api_key="sk-ant-invalid",
                              max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.models.list()
    assert caught.value.body["error"] == {"type": "authentication_error",
                                          "message": "invalid x-api-key"}


def test_content_filter_is_an_in_band_refusal(sim, claude):
    sim.script("anthropic", {"fault": "content_filter"}, {"fault": "content_filter"})
    assert claude.messages.create(model="m", max_tokens=8, messages=HI).stop_reason == "refusal"
    with claude.messages.stream(model="m", max_tokens=8, messages=HI) as stream:
        assert stream.get_final_message().stop_reason == "refusal"


def test_midstream_error_event_raises(sim, claude):
    sim.script("anthropic", {"fault": "midstream_error", "after_chunks": 2})
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(model="m", max_tokens=8, messages=HI) as stream:
            seen.extend(stream.text_stream)
    assert seen == ["Hello", " fro"]
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_missing_max_tokens_is_400_in_anthropic_shape(sim, http):
    reply = http.post(sim.url_for("anthropic") + "/v1/messages", json={"model": "m",
                      "messages": HI}, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert reply.status_code == 400
    assert reply.json()["error"] == {"type": "invalid_request_error",
                                     "message": "max_tokens: Field required"}

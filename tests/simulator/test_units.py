"""Pure unit tests of the deterministic content rules and the stream template (no server)."""
from __future__ import annotations

import orjson
import pytest

from simulator.content import (ChatInput, count_tokens, embedding_vector, encode_base64,
                               make_plan, split_text, tool_arguments)
from simulator.control import ControlError, SimState
from simulator.faults import error_reply, mask_key
from simulator.wire import Template, slot, sse

SETTINGS = {"chunks": 4, "content": None}


def test_split_text_is_near_equal_and_lossless():
    assert split_text("abcdefghij", 3) == ["abcd", "efg", "hij"]
    assert split_text("ab", 4) == ["a", "b", "", ""]
    assert "".join(split_text("Hello from glm.", 7)) == "Hello from glm."


def test_count_tokens_is_a_quarter_of_the_characters_rounded_up():
    assert [count_tokens(n) for n in (0, 1, 4, 5, 11)] == [1, 1, 1, 2, 3]


def test_tool_arguments_follow_the_schema():
    assert tool_arguments(None) == {"city": "Paris"}
    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}, "ok": {"type": "boolean"},
                                               "u": {"enum": ["c", "f"]}}, "required": ["n", "u"]}
    assert tool_arguments(schema) == {"n": 1, "u": "c"}


def test_plan_priorities():
    chat = ChatInput(model="m", text_chars=9, last_kind="tool", tool_result="42")
    plan = make_plan("openai", chat, {}, SETTINGS)
    assert (plan.text, plan.prompt_tokens, plan.completion_tokens) == ("Tool result: 42", 3, 4)
    scripted = make_plan("openai", chat, {"content": "x", "usage": {"completion_tokens": 9}},
                         SETTINGS)
    assert (scripted.text, scripted.completion_tokens) == ("x", 9)
    tools = ChatInput(model="m", tools=[("f", None)])
    assert make_plan("kimi", tools, {}, SETTINGS).tool_name == "f"
    assert make_plan("kimi", tools, {"tool_call": False}, SETTINGS).text == "Hello from kimi."


def test_embeddings_are_deterministic_and_exact_in_float32():
    vector = embedding_vector("hello", 8)
    assert vector == embedding_vector("hello", 8) != embedding_vector("hellp", 8)
    import base64
    import struct
    assert list(struct.unpack("<8f", base64.b64decode(encode_base64(vector)))) == vector


@pytest.mark.parametrize("value", ["plain", "quote\" and \\ back", "你好", "", "\n\u2028"])
def test_template_render_is_byte_identical_to_dumping(value):
    shape = {"a": 1, "choices": [{"delta": {"content": slot(0)}, "n": slot(1)}], "z": None}
    expected = sse({"a": 1, "choices": [{"delta": {"content": value}, "n": 7}], "z": None})
    assert Template(shape).render(value, 7) == expected


def test_masked_key_and_error_bodies():
    assert mask_key("sk-abcdefghyz") == "sk-ab***yz"
    status, body, headers = error_reply("openai", "rate_limit", ctx={"model": "gpt-4o"},
                                        opts={"retry_after": 2})
    assert status == 429 and "gpt-4o" in body["error"]["message"]
    assert headers == [("retry-after", "2")]
    orjson.dumps(body)


def test_state_validates_scripts_and_fifo_order():
    state = SimState()
    with pytest.raises(ControlError):
        state.add_scripts("openai", [{"chunks": "many"}])
    with pytest.raises(ControlError):
        state.add_scripts("openai", [{"latency_ms": -1}])
    state.add_scripts("openai", [{"content": "a"}, {"content": "b"}])
    assert [state.next_script("openai")["content"] for _ in range(2)] == ["a", "b"]
    assert state.next_script("openai") is None

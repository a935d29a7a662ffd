"""The Zhipu GLM surface, exercised with the official zhipuai SDK."""
from __future__ import annotations

import json

import pytest

zhipuai = pytest.importorskip("zhipuai")

KEY = "0123456789abcdef0123456789abcdef.secretSecret1234"
HI = [{"role": "user", "content": "hello there"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.fixture
def glm(sim, cached):
    """zhipuai client (sends the raw key as a Bearer token; SDK retries disabled)."""
    return cached("glm", lambda: zhipuai.ZhipuAI(api_key=KEY, base_url=sim.url_for("glm"),
                                                 max_retries=0))


def test_chat_accepts_sdk_nulls_and_echoes_model(sim, glm):
    reply = glm.chat.completions.create(model="glm-4.6", messages=HI, temperature=0.5)
    assert reply.choices[0].message.content == "Hello from glm."
    assert reply.model == "glm-4.6"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 5)
    body = sim.requests("glm")[-1]["body"]
    assert body["response_format"] is None and body["thinking"] is None
    assert sim.requests("glm")[-1]["key_hash"] == sim.key_hash(KEY)


def test_stream_content_and_usage_exactly_as_scripted(sim, glm):
    sim.script("glm", {"content": "你好，世界", "chunks": 2,
                       "usage": {"prompt_tokens": 13, "completion_tokens": 2}})
    chunks = list(glm.chat.completions.create(model="glm-4.6", messages=HI, stream=True))
    assert [c.choices[0].delta.content for c in chunks] == ["你好，", "世界", ""]
    assert all(c.choices[0].delta.role == "assistant" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (13, 2)


def test_stream_tool_call_arrives_whole(sim, glm):
    chunks = list(glm.chat.completions.create(model="glm-4.6", messages=HI, tools=[WEATHER],
                                              stream=True))
    calls = [t for c in chunks for t in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings(sim, glm):
    reply = glm.embeddings.create(model="embedding-3", input=["a", "b"], dimensions=512)
    assert [len(d.embedding) for d in reply.data] == [512, 512]
    assert len(glm.embeddings.create(model="embedding-2", input="a").data[0].embedding) == 1024


@pytest.mark.parametrize(("fault", "error_class", "code"), [
    ("invalid_key", "APIAuthenticationError", "1000"), ("quota", "APIReachLimitError", "1113"),
    ("overloaded", "APIReachLimitError", "1305"), ("rate_limit", "APIReachLimitError", "1302"),
    ("context_length", "APIRequestFailedError", "1261"),
    ("content_filter", "APIRequestFailedError", "1301"),
    ("model_not_found", "APIRequestFailedError", "1211"),
    ("server_error", "APIInternalError", "500")])
def test_faults_raise_the_sdk_exception_with_real_code(sim, glm, fault, error_class, code):
    sim.script("glm", {"fault": fault})
    with pytest.raises(getattr(zhipuai, error_class)) as caught:
        glm.chat.completions.create(model="glm-4.6", messages=HI)
    assert json.loads(caught.value.response.text)["error"]["code"] == code


def test_invalid_key_gets_1000(sim):
    bad = zhipuai.ZhipuAI(api_key="x.invalid", base_url=sim.url_for("glm"), max_retries=0)
    with pytest.raises(zhipuai.APIAuthenticationError) as caught:
        bad.chat.completions.create(model="glm-4.6", messages=HI)
    assert caught.value.response.json() == {"error": {"code": "1000", "message": "身份验证失败。"}}

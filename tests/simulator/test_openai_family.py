"""OpenAI, Azure, DeepSeek, Kimi and GLM surfaces, exercised with the official openai SDK."""
from __future__ import annotations

import json
import math

import pytest

openai = pytest.importorskip("openai")

OPENAI_STYLE = ("openai", "deepseek", "kimi", "glm")
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
HI = [{"role": "user", "content": "hello there"}]  # 11 chars -> ceil(11/4) = 3 prompt tokens


@pytest.fixture
def client_for(sim, cached):
    """openai SDK client for one simulated provider (cached per module)."""
    def make(provider: str, key: str = "sk-test-key-1234") -> openai.OpenAI:
        return cached(("openai", provider, key), lambda: openai.OpenAI(
            base_url=sim.url_for(provider), api_key=key, max_retries=0))
    return make


@pytest.fixture
def azure(sim, cached) -> openai.AzureOpenAI:
    """The classic Azure client (api-key header, deployment paths, api-version query)."""
    return cached("azure", lambda: openai.AzureOpenAI(
        azure_endpoint=sim.url_for("azure"), api_key="0123456789abcdef0123456789abcdef",
        api_version="2024-10-21", max_retries=0))


@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_chat_echoes_model_with_default_text_and_usage(sim, client_for, provider):
    reply = client_for(provider).chat.completions.create(model="some-model", messages=HI)
    assert reply.model == "some-model"
    assert reply.choices[0].message.content == f"Hello from {provider}."
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 5)
    assert reply.usage.total_tokens == 8


def test_openai_stream_has_scripted_content_and_usage_only_on_the_last_chunk(sim, client_for):
    sim.script("openai", {"content": "abcdefghij", "chunks": 3,
                          "usage": {"prompt_tokens": 7, "completion_tokens": 9}})
    chunks = list(client_for("openai").chat.completions.create(
        model="gpt-4o", messages=HI, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert texts == ["abcd", "efg", "hij"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (7, 9)


def test_openai_stream_without_include_usage_has_no_usage(sim, client_for):
    chunks = list(client_for("openai").chat.completions.create(
        model="gpt-4o", messages=HI, stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from openai."


def test_deepseek_stream_puts_usage_on_the_finish_chunk_and_a_usage_chunk(sim, client_for):
    chunks = list(client_for("deepseek").chat.completions.create(
        model="deepseek-v4-flash", messages=HI, stream=True,
        stream_options={"include_usage": True}))
    finish = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert finish.usage.completion_tokens == 5
    assert finish.usage.model_extra["prompt_cache_miss_tokens"] == 3
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 8


def test_kimi_stream_puts_usage_inside_the_choice(sim, client_for):
    chunks = list(client_for("kimi").chat.completions.create(
        model="kimi-k2.6", messages=HI, stream=True))
    last = chunks[-1]
    assert last.usage is None
    assert last.choices[0].finish_reason == "stop"
    assert last.choices[0].model_extra["usage"] == {
        "prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_glm_stream_repeats_role_and_puts_usage_on_the_finish_chunk(sim, client_for):
    chunks = list(client_for("glm").chat.completions.create(
        model="glm-4.6", messages=HI, stream=True))
    assert all(c.choices[0].delta.role == "assistant" for c in chunks)
    assert "".join(c.choices[0].delta.content for c in chunks) == "Hello from glm."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.total_tokens == 8
    assert all(c.usage is None for c in chunks[:-1])


@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_stream_tool_call_reassembles_to_json_arguments(sim, client_for, provider):
    stream = client_for(provider).chat.completions.create(
        model="m", messages=HI, tools=[WEATHER_TOOL], stream=True)
    calls: dict = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0] if chunk.choices else None
        for delta in (choice.delta.tool_calls or []) if choice else []:
            slot = calls.setdefault(delta.index, {"name": None, "args": ""})
            slot["name"] = slot["name"] or (delta.function.name if delta.function else None)
            slot["args"] += (delta.function.arguments or "") if delta.function else ""
        finish = (choice.finish_reason if choice else None) or finish
    assert calls == {0: {"name": "get_weather", "args": '{"city":"Paris"}'}}
    assert finish == "tool_calls"


def test_tool_arguments_fit_the_declared_schema(sim, client_for):
    tool = {"type": "function", "function": {"name": "forecast", "parameters": {
        "type": "object", "required": ["location", "days", "unit"],
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"},
                       "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}
    reply = client_for("openai").chat.completions.create(model="m", messages=HI, tools=[tool])
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.content is None
    assert json.loads(call.function.arguments) == {"location": "Paris", "days": 1,
                                                   "unit": "celsius"}


@pytest.mark.parametrize("provider", OPENAI_STYLE)
def test_tool_result_round_trip_is_echoed(sim, client_for, provider):
    client = client_for(provider)
    first = client.chat.completions.create(model="m", messages=HI, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    messages = HI + [first.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}]
    second = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Tool result: sunny, 21C"
    assert second.choices[0].finish_reason == "stop"


def test_tool_choice_none_gives_text(sim, client_for):
    reply = client_for("openai").chat.completions.create(
        model="m", messages=HI, tools=[WEATHER_TOOL], tool_choice="none")
    assert reply.choices[0].message.content == "Hello from openai."


def test_openai_embeddings_default_base64_matches_float_list(sim, client_for):
    client = client_for("openai")
    b64 = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    floats = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"],
                                      encoding_format="float")
    assert sim.requests("openai")[0]["body"]["encoding_format"] == "base64"
    assert [len(d.embedding) for d in b64.data] == [1536, 1536]
    assert [d.embedding for d in b64.data] == [d.embedding for d in floats.data]
    assert b64.data[0].embedding != b64.data[1].embedding
    assert b64.usage.prompt_tokens == math.ceil(len("alphabeta") / 4)


def test_openai_embeddings_honour_dimensions(sim, client_for):
    reply = client_for("openai").embeddings.create(
        model="text-embedding-3-large", input="x", dimensions=256)
    assert len(reply.data[0].embedding) == 256


@pytest.mark.parametrize(("model", "dimensions", "size"), [
    ("embedding-2", None, 1024), ("embedding-2", 256, 1024), ("embedding-3", None, 2048),
    ("embedding-3", 512, 512)])
def test_glm_embedding_sizes(sim, client_for, model, dimensions, size):
    extra = {"dimensions": dimensions} if dimensions else {}
    reply = client_for("glm").embeddings.create(model=model, input="hi", **extra)
    assert len(reply.data[0].embedding) == size


@pytest.mark.parametrize("provider", ("deepseek", "kimi"))
def test_embeddings_are_404_where_the_provider_has_none(sim, client_for, provider):
    with pytest.raises(openai.NotFoundError):
        client_for(provider).embeddings.create(model="x", input="hi")


@pytest.mark.parametrize(("provider", "expected"), [
    ("openai", "gpt-4o"), ("deepseek", "deepseek-v4-flash"), ("kimi", "kimi-k2.6"),
    ("glm", "glm-4.6")])
def test_model_lists(sim, client_for, provider, expected):
    assert expected in [m.id for m in client_for(provider).models.list()]


def test_deepseek_v1_alias_and_balances(sim, http):
    reply = openai.OpenAI(base_url=sim.url_for("deepseek") + "/v1", api_key="sk-x",
                          max_retries=0).chat.completions.create(model="deepseek-chat", messages=HI)
    assert reply.choices[0].message.content == "Hello from deepseek."
    auth = {"Authorization": "Bearer sk-x"}
    deepseek = http.get(sim.url_for("deepseek") + "/user/balance", headers=auth).json()
    assert deepseek["is_available"] is True and deepseek["balance_infos"][0]["currency"] == "CNY"
    kimi = http.get(sim.url_for("kimi") + "/users/me/balance", headers=auth).json()
    assert kimi["data"]["available_balance"] == 49.58 and kimi["status"] is True


def test_azure_chat_uses_deployment_path_api_key_and_underlying_model(sim, azure):
    reply = azure.chat.completions.create(model="my-deployment", messages=HI)
    assert reply.model == "gpt-4o-2024-11-20"
    assert reply.choices[0].message.content == "Hello from azure."
    assert reply.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    logged = sim.requests("azure")[-1]
    assert logged["path"] == "/azure/openai/deployments/my-deployment/chat/completions"
    assert logged["query"] == "api-version=2024-10-21"
    assert logged["auth_scheme"] == "api-key"


def test_azure_stream_starts_with_prompt_filter_chunk(sim, azure):
    chunks = list(azure.chat.completions.create(
        model="dep", messages=HI, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices == [] and chunks[0].model_extra["prompt_filter_results"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "Hello from azure."
    assert chunks[-1].usage.completion_tokens == 5


def test_azure_embeddings_models_and_v1_surface(sim, azure):
    client = azure
    assert len(client.embeddings.create(model="emb", input="x").data[0].embedding) == 1536
    assert "gpt-4o-2024-11-20" in [m.id for m in client.models.list()]
    v1 = openai.OpenAI(base_url=sim.url_for("azure") + "/openai/v1/", api_key="azure-key",
                       max_retries=0)
    assert v1.chat.completions.create(model="dep", messages=HI).model == "gpt-4o-2024-11-20"
    assert sim.requests("azure")[-1]["auth_scheme"] == "bearer"

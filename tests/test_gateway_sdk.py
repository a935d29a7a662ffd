"""The official openai SDK against the RUNNING gateway (python main_api_app.py) and the simulator."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import openai
import pytest
import requests

from simulator.content import count_tokens, embedding_vector
from tests.helpers.gateway import (API, CHAT_MODELS, SERVER_KEYED, SIM_IDS, key_body, server_env,
                                   sse_events)
from tests.helpers.servers import ROOT, GatewayProcess

pytest_plugins = ["tests.helpers.gateway_fixtures"]
pytestmark = pytest.mark.e2e
KEYED = SERVER_KEYED   # the shared server stores only these keys
PROMPT = "Hi there"
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


@pytest.fixture
def server(local_server):
    """The shared running local-mode gateway."""
    return local_server


@pytest.fixture
def client(server, sim):
    """An SDK client on the gateway; the simulator is reset for each test."""
    with openai.OpenAI(base_url=server.base + "/v1", api_key="unused-in-local-mode",
                       max_retries=0, timeout=20) as sdk:
        yield sdk


def _reply(provider: str) -> str:
    return f"Hello from {SIM_IDS[provider]}."


def _ask(model: str, **extra) -> dict:
    return dict(model=model, messages=[{"role": "user", "content": PROMPT}], **extra)


@pytest.mark.parametrize("provider", KEYED)
def test_chat_plain(client, provider):
    label = f"{provider}/{CHAT_MODELS[provider]}"
    raw = client.chat.completions.with_raw_response.create(**_ask(label))
    resp = raw.parse()
    assert raw.headers["X-BYOK-Provider"] == label
    assert resp.model == label and resp.object == "chat.completion"
    assert resp.choices[0].message.content == _reply(provider)
    assert resp.choices[0].finish_reason == "stop"
    # simulator: prompt = ceil(chars / 4), completion = number of chunks (5 by default)
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (count_tokens(len(PROMPT)), 5)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + 5


@pytest.mark.parametrize("provider", KEYED)
def test_chat_stream_ends_with_usage_chunk(client, provider, sim):
    sim.configure(SIM_IDS[provider], chunks=4)
    label = f"{provider}/{CHAT_MODELS[provider]}"
    raw = client.chat.completions.with_raw_response.create(**_ask(label), stream=True)
    assert raw.headers["X-BYOK-Provider"] == label
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == _reply(provider)
    assert all(c.model == label for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (count_tokens(len(PROMPT)), 4)
    assert sum(1 for c in chunks if c.usage) == 1


@pytest.mark.parametrize("provider", KEYED)
def test_tool_call_and_tool_result_round_trip(client, provider):
    label = f"{provider}/{CHAT_MODELS[provider]}"
    first = client.chat.completions.create(**_ask(label), tools=WEATHER)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    history = [{"role": "user", "content": PROMPT}, message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "22C and sunny"}]
    second = client.chat.completions.create(model=label, messages=history, tools=WEATHER)
    answer = second.choices[0].message.content
    assert answer.startswith("Tool result: ") and "22C and sunny" in answer
    assert second.choices[0].finish_reason == "stop" and not second.choices[0].message.tool_calls


@pytest.mark.parametrize("provider", KEYED)
def test_streamed_tool_call_is_openai_shaped(client, provider):
    label = f"{provider}/{CHAT_MODELS[provider]}"
    chunks = list(client.chat.completions.create(**_ask(label), tools=WEATHER, stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas and deltas[0].id and deltas[0].function.name == "get_weather"
    assert {d.index for d in deltas} == {0}
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None


EMBED_MODELS = {"openai": "text-embedding-3-small", "google_gemini": "gemini-embedding-001",
                "glm_4_6": "embedding-3"}


@pytest.mark.parametrize("provider", sorted(EMBED_MODELS))
@pytest.mark.parametrize("encoding", [None, "float"])
def test_embeddings_default_base64_and_float(client, provider, encoding):
    texts = ["first text", "a second, longer text"]
    extra = {"encoding_format": encoding} if encoding else {}   # None: the SDK's base64 default
    label = f"{provider}/{EMBED_MODELS[provider]}"
    resp = client.embeddings.create(model=label, input=texts, dimensions=8, **extra)
    assert resp.model == label
    assert [d.index for d in resp.data] == [0, 1]
    for item, text in zip(resp.data, texts):
        assert item.embedding == embedding_vector(text, 8)   # exact: values are float32-safe
    if provider != "google_gemini":                            # Gemini reports no usage
        assert resp.usage.prompt_tokens == count_tokens(sum(map(len, texts)))


def test_embeddings_wire_is_base64_by_default(server, client):
    body = {"model": "openai/text-embedding-3-small", "input": "x", "dimensions": 4,
            "encoding_format": "base64"}
    data = requests.post(server.base + "/v1/embeddings", json=body).json()["data"][0]
    assert isinstance(data["embedding"], str)


def test_models_list_only_providers_with_keys(client):
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "auto"
    owners = {i.partition("/")[0] for i in ids[1:]}
    assert owners == set(KEYED)
    for provider in KEYED:
        assert f"{provider}/{CHAT_MODELS[provider]}" in ids
    assert not any(i.startswith(("deepseek/", "kimi_k2/", "azure_openai/")) for i in ids)


def test_unknown_provider_model_is_an_sdk_error(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**_ask("deepseek/deepseek-v4-flash"))
    assert info.value.code == "no_usable_provider"


def _create_token(workdir, env: dict) -> str:
    """`flask --app main_api_app tokens create current-user` in the server's cwd and env."""
    full = {**env, "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"),
            "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "main_api_app", "tokens",
                          "create", "current-user"], cwd=workdir, env=full, capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_token_mode_with_cli_token(sim, tmp_path):
    env = server_env(sim, BYOK_AUTH_MODE="token")
    token = _create_token(tmp_path, env)
    with GatewayProcess(tmp_path, env) as gw:
        auth = {"Authorization": f"Bearer {token}"}
        saved = requests.post(f"{gw.base}{API}/keys/openai", json=key_body("openai"), headers=auth)
        assert saved.status_code == 200
        sdk = openai.OpenAI(base_url=gw.base + "/v1", api_key=token, max_retries=0, timeout=20)
        wrong = openai.OpenAI(base_url=gw.base + "/v1", api_key="byok_wrong", max_retries=0)
        resp = sdk.chat.completions.create(**_ask("openai/gpt-4o-mini"))
        assert resp.choices[0].message.content == _reply("openai")
        stream = sdk.chat.completions.create(**_ask("openai/gpt-4o-mini"), stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == _reply("openai")
        assert [m.id for m in sdk.models.list()][1].startswith("openai/")
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(**_ask("openai/gpt-4o-mini"))
        raw = requests.post(gw.base + "/v1/chat/completions", json=_ask("openai/gpt-4o-mini"))
        assert raw.status_code == 401 and set(raw.json()["error"]) >= {"message", "type", "code"}
        sdk.close()
        wrong.close()
        assert token not in gw.output()


def test_raw_stream_bytes_end_with_usage_then_done(server, client):
    body = {**_ask("glm_4_6/glm-4.6"), "stream": True}
    raw = requests.post(server.base + "/v1/chat/completions", json=body, timeout=20)
    events = sse_events(raw.content)
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"] == [] and events[-2]["usage"]["completion_tokens"] == 5

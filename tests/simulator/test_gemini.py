"""The Gemini surface (v1beta and v1), exercised with the official google-genai SDK."""
from __future__ import annotations

import pytest

genai = pytest.importorskip("google.genai")
types = pytest.importorskip("google.genai.types")
errors = pytest.importorskip("google.genai.errors")

WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")},
                            required=["city"]))])


@pytest.fixture(params=["v1beta", "v1"])
def gemini(request, sim, cached):
    """google-genai client on v1beta (REST docs) and on v1 (the SDK 3.x default)."""
    def make():
        options = {"base_url": sim.url_for("gemini")}
        if request.param == "v1beta":
            options["api_version"] = "v1beta"
        return genai.Client(api_key="AIzaSyTestKey", http_options=types.HttpOptions(**options))
    client = cached(("gemini", request.param), make)
    client.version = request.param
    return client


def test_generate_content_text_model_and_usage(sim, gemini):
    reply = gemini.models.generate_content(
        model="gemini-2.5-flash", contents="hello there",
        config=types.GenerateContentConfig(system_instruction="be brief"))
    assert reply.text == "Hello from gemini."
    assert reply.model_version == "gemini-2.5-flash"
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP
    usage = reply.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count) == (5, 5)
    logged = sim.requests("gemini")[-1]
    assert logged["path"] == f"/gemini/{gemini.version}/models/gemini-2.5-flash:generateContent"
    assert logged["auth_scheme"] == "x-goog-api-key"


def test_stream_has_cumulative_usage_and_finish_only_last(sim, gemini):
    sim.script("gemini", {"content": "abcdef", "chunks": 3,
                          "usage": {"prompt_tokens": 4, "completion_tokens": 6}})
    chunks = list(gemini.models.generate_content_stream(model="gemini-2.5-pro",
                                                        contents="hello there"))
    assert [c.text for c in chunks] == ["ab", "cd", "ef"]
    assert [c.usage_metadata.candidates_token_count for c in chunks] == [2, 4, 6]
    assert [c.candidates[0].finish_reason for c in chunks] == [None, None,
                                                               types.FinishReason.STOP]
    assert sim.requests("gemini")[-1]["query"] == "alt=sse"


def test_function_call_and_round_trip(sim, gemini):
    config = types.GenerateContentConfig(tools=[WEATHER])
    first = gemini.models.generate_content(model="gemini-2.5-flash", contents="weather?",
                                           config=config)
    call = first.function_calls[0]
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    contents = [types.Content(role="user", parts=[types.Part(text="weather?")]),
                first.candidates[0].content,
                types.Content(role="user", parts=[types.Part.from_function_response(
                    name="get_weather", response={"result": "sunny"})])]
    second = gemini.models.generate_content(model="gemini-2.5-flash", contents=contents,
                                            config=config)
    assert second.text == 'Tool result: {"result":"sunny"}'


def test_embeddings_batch_and_dimensions(sim, gemini):
    reply = gemini.models.embed_content(model="gemini-embedding-001", contents=["a", "b"],
                                        config=types.EmbedContentConfig(output_dimensionality=768))
    assert [len(e.values) for e in reply.embeddings] == [768, 768]
    assert reply.embeddings[0].values != reply.embeddings[1].values
    default = gemini.models.embed_content(model="gemini-embedding-001", contents="a")
    assert len(default.embeddings[0].values) == 3072


def test_model_list(sim, gemini):
    assert "models/gemini-2.5-flash" in [m.name for m in gemini.models.list()]


def test_query_key_is_accepted_and_redacted(sim, http):
    reply = http.post(sim.url_for("gemini") + "/v1beta/models/gemini-embedding-001:embedContent",
                      params={"key": "AIzaSecret"},
                      json={"content": {"parts": [{"text": "x"}]}})
    assert len(reply.json()["embedding"]["values"]) == 3072
    logged = sim.requests("gemini")[-1]
    assert logged["auth_scheme"] == "query-key"
    assert "AIzaSecret" not in str(logged)
    assert logged["query"] == f"key=sha256%3A{sim.key_hash('AIzaSecret')}"


def test_invalid_key_is_400_api_key_invalid(sim):
    bad = genai.Client(api_key="AIza-invalid", http_options=types.HttpOptions(
        base_url=sim.url_for("gemini"), api_version="v1beta"))
    with pytest.raises(errors.ClientError) as caught:
        bad.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_missing_key_is_403(sim, http):
    reply = http.get(sim.url_for("gemini") + "/v1beta/models")
    assert reply.status_code == 403 and reply.json()["error"]["status"] == "PERMISSION_DENIED"


def test_rate_limit_carries_retry_info_not_a_header(sim, gemini):
    sim.script("gemini", {"fault": "rate_limit", "retry_after": 7})
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert caught.value.details["error"]["details"][-1] == {
        "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    assert "retry-after" not in {k.lower() for k in caught.value.response.headers}


def test_overloaded_is_server_error(sim, gemini):
    sim.script("gemini", {"fault": "overloaded"})
    with pytest.raises(errors.ServerError) as caught:
        gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")


def test_content_filter_is_200_with_block_reason(sim, gemini):
    sim.script("gemini", {"fault": "content_filter"})
    reply = gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert reply.candidates is None
    assert reply.prompt_feedback.block_reason == types.BlockedReason.SAFETY


def test_midstream_error_raises_during_iteration(sim, gemini):
    sim.script("gemini", {"fault": "midstream_error", "after_chunks": 1})
    seen = []
    with pytest.raises(errors.APIError) as caught:
        for chunk in gemini.models.generate_content_stream(model="gemini-2.5-flash",
                                                           contents="hi"):
            seen.append(chunk.text)
    assert seen == ["Hell"] and caught.value.code == 500

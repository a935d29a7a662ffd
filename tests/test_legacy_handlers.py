"""ATOM's GLM-4.6 and Kimi K2 handler classes (contract §4) against the provider simulator."""
from __future__ import annotations

import math
import time

import pytest
from cryptography.fernet import Fernet

import glm_46_handler_real
import kimi_k2_handler_real
import legacy_handler
from config import Config
from glm_46_handler_real import GLM46ServiceReal
from kimi_k2_handler_real import (KimiK2ServiceReal, estimate_tokens, prompt_budget, smallest_fitting_model,
                                  split_text)
from providers.types import ProviderSettings, Timeouts
from simulator.harness import SimulatorProcess
from user_api_key_service import UserAPIKeyService

UNREACHABLE = "http://127.0.0.1:9"
KEYS = {"glm": "glm-test-key-123456789", "kimi": "sk-kimi-test-123456789"}
CLASSES = {"glm": GLM46ServiceReal, "kimi": KimiK2ServiceReal}
NAMES = {"glm": "GLM-4.6", "kimi": "Kimi K2"}
FAMILY = {"glm": "GLM", "kimi": "Kimi K2"}
DEFAULTS = {"glm": ("https://open.bigmodel.cn/api/paas/v4", "glm-4.6", "Zhipu AI"),
            "kimi": ("https://api.moonshot.cn/v1", "moonshot-v1-8k", "Moonshot AI")}
HI = [{"role": "user", "content": "hi there"}]


@pytest.fixture(scope="module")
def sim():
    """One simulator process for this module."""
    with SimulatorProcess() as process:
        yield process


@pytest.fixture(autouse=True)
def _fresh(sim):
    """Clear the simulator's log, scripts and config before each test."""
    sim.reset()


@pytest.fixture(params=["glm", "kimi"])
def short(request) -> str:
    """Each test using this runs for both handlers."""
    return request.param


def make(sim: SimulatorProcess, short: str, key: str | None = None):
    """A handler with a key, pointed at the simulator."""
    handler = CLASSES[short]()
    handler.api_key = KEYS[short] if key is None else key
    handler.base_url = sim.url_for(short)
    return handler


def chats(sim, short):
    """The chat completion requests the simulator received for a provider."""
    return [r for r in sim.requests(short) if r["endpoint"] == "chat"]


def expected_usage(messages: list[dict], completion: int = 5) -> dict:
    """The simulator's usage rule: ceil(chars / 4) prompt tokens, one completion token per chunk."""
    prompt = max(1, math.ceil(sum(len(m["content"]) for m in messages) / 4))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll until predicate() is true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# -- attributes, module level, configure ------------------------------------------------------------

def test_original_attributes_and_module_level(short):
    handler = CLASSES[short]()
    base_url, model, _ = DEFAULTS[short]
    assert (handler.api_key, handler.base_url, handler.default_model, handler.timeout) == ("", base_url, model, 60)
    module, accessor = {"glm": (glm_46_handler_real, "get_glm_46_service_real"),
                        "kimi": (kimi_k2_handler_real, "get_kimi_k2_service_real")}[short]
    instance = getattr(module, accessor)()
    assert isinstance(instance, CLASSES[short]) and instance is getattr(module, accessor)()
    assert instance is getattr(module, {"glm": "glm_46_service_real", "kimi": "kimi_k2_service_real"}[short])


def test_glm_has_embeddings_and_kimi_does_not():
    assert callable(GLM46ServiceReal().embedding)
    assert not hasattr(KimiK2ServiceReal(), "embedding")


@pytest.mark.parametrize("short, region, url", [
    ("glm", "intl", "https://api.z.ai/api/paas/v4"), ("glm", "cn", "https://open.bigmodel.cn/api/paas/v4"),
    ("kimi", "intl", "https://api.moonshot.ai/v1"), ("kimi", "CN", "https://api.moonshot.cn/v1"),
    ("kimi", "mars", "https://api.moonshot.cn/v1")])
def test_configure_region_picks_the_base_url(short, region, url):
    handler = CLASSES[short]()
    handler.configure(metadata={"region": region})
    assert handler.base_url == url


def test_configure_settings_override_timeouts_and_precedence(short):
    provider_id = {"glm": "glm_4_6", "kimi": "kimi_k2"}[short]
    settings = ProviderSettings(timeouts=Timeouts(connect=2.0, read=33.0),
                                base_urls={provider_id: "http://operator.example/v1"})
    handler = CLASSES[short]()
    handler.configure(metadata={"region": "intl"}, settings=settings)
    assert (handler.base_url, handler.timeout, handler._connect_timeout) == ("http://operator.example/v1", 33.0, 2.0)
    handler.configure(metadata={"base_url": "http://per-key.example/v1"}, settings=settings)
    assert handler.base_url == "http://per-key.example/v1"   # per-key beats the operator override


def test_configure_keeps_a_base_url_the_caller_set(short):
    handler = CLASSES[short]()
    handler.base_url = "http://caller.example/v1"
    handler.configure(metadata={"region": "intl", "base_url": "http://per-key.example"})
    assert handler.base_url == "http://caller.example/v1"


def test_the_instance_base_url_is_where_requests_go(sim, short):
    handler = CLASSES[short]()
    handler.api_key = KEYS[short]
    handler.configure(metadata={"region": "intl"})
    handler.base_url = sim.url_for(short)          # changed after configure: still honoured
    assert handler.test_connection()["success"] is True
    assert len(sim.requests(short)) == 1


def test_key_test_through_the_vault_service_uses_configure(sim, tmp_path):
    config = Config(data_dir=tmp_path, encryption_keys=Fernet.generate_key().decode(),
                    base_urls={"glm_4_6": sim.url_for("glm"), "kimi_k2": sim.url_for("kimi")})
    service = UserAPIKeyService(str(tmp_path / "keys.db"), config=config)
    try:
        for short, provider_id in (("glm", "glm_4_6"), ("kimi", "kimi_k2")):
            service.save_api_key("u1", provider_id, KEYS[short])
            result = service.test_api_key("u1", provider_id)
            assert result["success"] is True and result["message"] == f"{NAMES[short]} API connection successful"
            [request] = sim.requests(short)
            assert (request["method"], request["endpoint"]) == ("GET", "models")
            assert request["key_hash"] == SimulatorProcess.key_hash(KEYS[short])
    finally:
        service.engine.dispose()


# -- test_connection ---------------------------------------------------------------------------------

def test_connection_success_uses_the_free_models_endpoint(sim, short):
    result = make(sim, short).test_connection()
    _, model, vendor = DEFAULTS[short]
    assert result == {"success": True, "message": f"{NAMES[short]} API connection successful", "status": "ok",
                      "details": {"model": model, "provider": vendor}}
    requests = sim.requests(short)
    assert [(r["method"], r["endpoint"]) for r in requests] == [("GET", "models")]
    assert not chats(sim, short)


def test_connection_invalid_key(sim, short):
    key = KEYS[short].replace("test", "invalid")
    result = make(sim, short, key).test_connection()
    assert result["success"] is False and result["status"] == "invalid_key" and result["status_code"] == 401
    assert result["message"].startswith(f"{NAMES[short]} API test failed: ")
    assert key not in str(result)


def test_connection_without_key_makes_no_request(sim, short):
    result = make(sim, short, "").test_connection()
    assert result == {"success": False, "message": f"{NAMES[short]} API key not configured"}
    assert sim.requests() == []


def test_connection_unreachable(short):
    handler = CLASSES[short]()
    handler.api_key, handler.base_url = KEYS[short], UNREACHABLE
    result = handler.test_connection()
    assert result["success"] is False and result["status"] == "unreachable" and "status_code" not in result
    assert result["message"].startswith(f"{NAMES[short]} API test failed: ")


def test_connection_unexpected_error_is_scrubbed(short, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError(f"boom with {KEYS[short]} inside")

    monkeypatch.setattr(legacy_handler, "build_provider", explode)
    handler = CLASSES[short]()
    handler.api_key = KEYS[short]
    result = handler.test_connection()
    assert result["success"] is False
    assert result["message"].startswith(f"{NAMES[short]} connection test error: RuntimeError: boom with ")
    assert KEYS[short] not in result["message"] and "[REDACTED]" in result["message"]


# -- chat_completion ---------------------------------------------------------------------------------

def test_chat_exact_content_usage_and_request(sim, short):
    result = make(sim, short).chat_completion(HI)
    assert result == {"success": True, "content": f"Hello from {short}.", "usage": expected_usage(HI),
                      "model": DEFAULTS[short][1], "finish_reason": "stop"}
    [request] = chats(sim, short)
    body = request["body"]
    assert (body["model"], body["temperature"], body["messages"]) == (DEFAULTS[short][1], 0.7, HI)
    assert "max_tokens" not in body and not request["stream"]


def test_chat_model_max_tokens_and_usage_follow_the_simulator(sim, short):
    sim.configure(short, chunks=7)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x" * 41}]
    result = make(sim, short).chat_completion(messages, model="some-model", max_tokens=50, temperature=0.1)
    assert result["usage"] == expected_usage(messages, completion=7) and result["model"] == "some-model"
    body = chats(sim, short)[0]["body"]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("some-model", 50, 0.1)


def test_chat_options_are_allow_listed(sim, short):
    tool = {"type": "function", "function": {"name": "weather", "description": "Weather",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    make(sim, short).chat_completion(HI, top_p=0.5, stop="END", tools=[tool], tool_choice="auto",
                                     response_format={"type": "json_object"}, user="someone", logit_bias={"1": 2})
    body = chats(sim, short)[0]["body"]
    assert (body["top_p"], body["stop"], body["tool_choice"]) == (0.5, ["END"], "auto")
    assert body["response_format"] == {"type": "json_object"}
    assert body["tools"][0]["function"]["name"] == "weather"
    assert "user" not in body and "logit_bias" not in body


def test_chat_tool_call_is_returned(sim, short):
    tool = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}}}}
    result = make(sim, short).chat_completion(HI, tools=[tool], tool_choice={"type": "function",
                                                                              "function": {"name": "weather"}})
    assert result["success"] and result["finish_reason"] == "tool_calls" and result["content"] is None
    assert result["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}


def test_chat_without_key(sim, short):
    assert make(sim, short, "").chat_completion(HI) == {"success": False,
                                                        "error": f"{NAMES[short]} API key not configured"}
    assert sim.requests() == []


def test_chat_quota_error(sim, short):
    sim.script(short, {"fault": "quota"})
    result = make(sim, short).chat_completion(HI)
    detail = {"glm": "余额不足", "kimi": "insufficient balance"}[short]
    assert result["success"] is False and result["status_code"] == 429
    assert result["error"].startswith(f"{NAMES[short]} API error: ") and detail in result["error"]
    assert result["error_code"] == "insufficient_quota"


def test_glm_quota_code_1113_message(sim):
    sim.script("glm", {"fault": "quota"})
    result = make(sim, "glm").chat_completion(HI)
    assert result["error"] == "GLM-4.6 API error: Zhipu GLM: 余额不足或无可用资源包,请充值。 (HTTP 429)"


def test_chat_timeout(sim, short):
    sim.script(short, {"fault": "hang", "hang_s": 5})
    handler = make(sim, short)
    handler.timeout = 0.5
    started = time.monotonic()
    result = handler.chat_completion(HI)
    assert result == {"success": False, "error": f"{NAMES[short]} API request timeout",
                      "error_code": "upstream_timeout"}
    assert time.monotonic() - started < 4


def test_chat_connection_reset_is_a_service_error(sim, short):
    sim.script(short, {"fault": "reset"})
    result = make(sim, short).chat_completion(HI)
    assert result["success"] is False and "status_code" not in result
    assert result["error"].startswith(f"{NAMES[short]} service error: ")


def test_chat_bad_message_is_a_service_error(sim, short):
    result = make(sim, short).chat_completion([{"role": "wizard", "content": "hi"}])
    assert result["success"] is False and result["error"].startswith(f"{NAMES[short]} service error: ")
    assert sim.requests() == []


def test_chat_error_never_contains_the_key(sim, short):
    sim.script(short, {"status": 400, "body": {"error": {"message": f"bad key {KEYS[short]}", "type": "x"}}})
    result = make(sim, short).chat_completion(HI)
    assert result["success"] is False and KEYS[short] not in str(result)


# -- streaming ---------------------------------------------------------------------------------------

def test_stream_yields_chunks_incrementally(sim, short):
    sim.configure(short, chunks=5, chunk_delay_ms=150)
    stream = make(sim, short).chat_completion(HI, stream=True)
    first = next(stream)
    assert first["content"] and first["finish_reason"] is None
    [request] = chats(sim, short)
    assert request["stream"] and request["stream_ended"] is None   # still streaming upstream
    chunks = [first, *stream]
    assert "".join(c["content"] for c in chunks) == f"Hello from {short}."
    assert sum(1 for c in chunks if c["content"]) == 5
    last = chunks[-1]
    assert last["finish_reason"] == "stop" and last["usage"] == expected_usage(HI)
    assert all("usage" not in c for c in chunks[:-1])
    assert wait_for(lambda: chats(sim, short)[0]["completed"])


def test_stream_closed_early_closes_the_upstream_response(sim, short):
    sim.configure(short, chunks=60, chunk_delay_ms=100)
    stream = make(sim, short).chat_completion(HI, stream=True)
    next(stream), next(stream)
    stream.close()
    assert wait_for(lambda: chats(sim, short)[0]["client_disconnected"])
    assert not chats(sim, short)[0]["completed"]
    with pytest.raises(StopIteration):
        next(stream)


def test_stream_as_context_manager_closes_on_exit(sim, short):
    sim.configure(short, chunks=60, chunk_delay_ms=100)
    with make(sim, short).chat_completion(HI, stream=True) as stream:
        next(stream)
    assert wait_for(lambda: chats(sim, short)[0]["client_disconnected"])


def test_stream_failure_before_the_first_chunk_is_an_error_dict(sim, short):
    sim.script(short, {"fault": "quota"})
    result = make(sim, short).chat_completion(HI, stream=True)
    assert isinstance(result, dict) and result["success"] is False and result["status_code"] == 429
    assert result["error"].startswith(f"{NAMES[short]} API error: ")


def test_stream_failure_midway_ends_with_an_error_chunk(sim, short):
    sim.script(short, {"fault": "midstream_error", "after_chunks": 2})
    chunks = list(make(sim, short).chat_completion(HI, stream=True))
    received = "".join(c["content"] for c in chunks)
    assert received and f"Hello from {short}.".startswith(received) and len(chunks) == 3
    last = chunks[-1]
    assert last["finish_reason"] == "error" and last["success"] is False
    assert last["error"].startswith(f"{NAMES[short]} API error: ")


def test_stream_cut_midway_ends_with_a_service_error_chunk(sim, short):
    sim.script(short, {"fault": "cut", "after_chunks": 2})
    chunks = list(make(sim, short).chat_completion(HI, stream=True))
    assert chunks[-1]["finish_reason"] == "error"
    assert chunks[-1]["error"].startswith(f"{NAMES[short]} service error: ")


# -- models ------------------------------------------------------------------------------------------

def test_get_models(sim, short):
    result = make(sim, short).get_models()
    ids = [m["id"] for m in result["models"]]
    assert result["success"] is True and DEFAULTS[short][1] in ids
    assert [(r["method"], r["endpoint"]) for r in sim.requests(short)] == [("GET", "models")]


def test_get_models_failures(sim, short):
    result = make(sim, short, KEYS[short].replace("test", "invalid")).get_models()
    assert result == {"success": False, "error": f"Failed to get {FAMILY[short]} models: HTTP 401",
                      "status_code": 401}
    assert make(sim, short, "").get_models() == {"success": False,
                                                 "error": f"{NAMES[short]} API key not configured"}
    handler = make(sim, short)
    handler.base_url = UNREACHABLE
    result = handler.get_models()
    assert result["success"] is False and result["error"].startswith(f"{FAMILY[short]} models list error: ")


@pytest.mark.parametrize("short, model, context, cost_in, cost_out, caps", [
    ("glm", None, 128000, 0.005, 0.015, ["chat", "reasoning", "function_calling", "multilingual"]),
    ("glm", "glm-4", 128000, 0.003, 0.009, ["chat", "reasoning"]),
    ("glm", "glm-4-air", 128000, 0.001, 0.003, ["chat"]),
    ("kimi", None, 8000, 0.012, 0.036, ["chat", "reasoning"]),
    ("kimi", "moonshot-v1-32k", 32000, 0.024, 0.072, ["chat", "reasoning", "long_context"]),
    ("kimi", "moonshot-v1-128k", 128000, 0.096, 0.288, ["chat", "reasoning", "long_context", "document_analysis"]),
])
def test_get_model_info_known(short, model, context, cost_in, cost_out, caps):
    result = CLASSES[short]().get_model_info(model)
    info = result["model_info"]
    assert result["success"] is True and result["model"] == (model or DEFAULTS[short][1])
    assert (info["context_length"], info["input_cost"], info["output_cost"], info["capabilities"]) == (
        context, cost_in, cost_out, caps)
    assert info["cost_unit"] == "USD per 1K tokens" and info["cost_is_estimate"] is True


@pytest.mark.parametrize("short, model", [("glm", "glm-4-0520"), ("kimi", "kimi-k2-0905-preview")])
def test_get_model_info_unknown(short, model):
    assert CLASSES[short]().get_model_info(model) == {
        "success": False, "error": f"Model {model} not found in {FAMILY[short]} model list"}


# -- GLM embeddings ----------------------------------------------------------------------------------

def test_glm_embeddings(sim):
    result = make(sim, "glm").embedding(["Hello world", "你好世界"])
    assert result["success"] is True and result["model"] == "embedding-2"
    assert [(e["index"], e["object"], len(e["embedding"])) for e in result["embeddings"]] == [
        (0, "embedding", 1024), (1, "embedding", 1024)]
    assert result["usage"] == {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}
    [request] = sim.requests("glm")
    assert request["endpoint"] == "embeddings" and request["body"] == {"model": "embedding-2",
                                                                       "input": ["Hello world", "你好世界"]}


def test_glm_embeddings_errors(sim):
    sim.script("glm", {"fault": "quota"})
    result = make(sim, "glm").embedding(["a"], model="embedding-3")
    assert result["success"] is False and result["status_code"] == 429
    assert result["error"].startswith("GLM-4.6 embedding API error: ")
    handler = make(sim, "glm")
    handler.base_url = UNREACHABLE
    assert handler.embedding(["a"])["error"].startswith("GLM-4.6 embedding error: ")
    assert make(sim, "glm", "").embedding(["a"]) == {"success": False, "error": "GLM-4.6 API key not configured"}


# -- Kimi extras -------------------------------------------------------------------------------------

def test_kimi_long_context_chat_defaults(sim):
    result = make(sim, "kimi").long_context_chat(HI)
    assert result["success"] and result["model"] == "moonshot-v1-128k"
    body = chats(sim, "kimi")[0]["body"]
    assert (body["model"], body["temperature"]) == ("moonshot-v1-128k", 0.3)
    make(sim, "kimi").long_context_chat(HI, model="moonshot-v1-32k", max_tokens=10, top_p=0.9)
    body = chats(sim, "kimi")[1]["body"]
    assert (body["model"], body["max_tokens"], body["top_p"]) == ("moonshot-v1-32k", 10, 0.9)


def test_kimi_reasoning_chat_layout(sim):
    result = make(sim, "kimi").reasoning_chat("What is 3 x 2?", context="Cats catch mice.")
    assert result["success"] and result["reasoning_type"] == "complex_problem_solving"
    assert result["content"] == "Hello from kimi."
    body = chats(sim, "kimi")[0]["body"]
    assert [m["role"] for m in body["messages"]] == ["system", "system", "user"]
    assert body["messages"][1]["content"] == "Context: Cats catch mice."
    assert body["messages"][2]["content"] == "Problem: What is 3 x 2?"
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("moonshot-v1-32k", 3000, 0.2)


def test_kimi_reasoning_chat_without_context_and_errors(sim):
    make(sim, "kimi").reasoning_chat("Why?", model="moonshot-v1-8k")
    body = chats(sim, "kimi")[0]["body"]
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and body["model"] == "moonshot-v1-8k"
    sim.script("kimi", {"fault": "server_error"})
    result = make(sim, "kimi").reasoning_chat("Why?")
    assert result["success"] is False and "reasoning_type" not in result and result["status_code"] == 500


def test_kimi_analyze_small_document_is_one_call_on_8k(sim):
    document = "A short report.\n\nIt has two paragraphs."
    result = make(sim, "kimi").analyze_document(document, question="What is it?")
    assert result["success"] and result["content"] == "Hello from kimi." and result["model"] == "moonshot-v1-8k"
    assert (result["analysis_type"], result["document_length"], result["context_used"]) == (
        "document_analysis", len(document), len(document) + len("What is it?"))
    assert (result["chunks"], result["chunked"]) == (1, False)
    [request] = chats(sim, "kimi")
    body = request["body"]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("moonshot-v1-8k", 2000, 0.3)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == f"Document:\n\n{document}\n\nWhat is it?"


@pytest.mark.parametrize("document, model", [
    ("word " * 20_000, "moonshot-v1-32k"),        # ~25K tokens: too big for 8k
    ("字" * 10_000, "moonshot-v1-32k"),            # CJK counts one token per character
    ("word " * 80_000, "moonshot-v1-128k"),       # ~100K tokens
    ("word " * 110_000, "kimi-k2-0905-preview"),  # 550K chars, ~137K tokens: only the 256K window fits
], ids=["25k-tokens", "10k-cjk", "100k-tokens", "137k-tokens"])
def test_kimi_analyze_picks_the_smallest_fitting_model(sim, document, model):
    result = make(sim, "kimi").analyze_document(document)
    assert result["success"] and result["chunks"] == 1 and result["model"] == model
    assert [r["model"] for r in chats(sim, "kimi")] == [model]


def test_kimi_analyze_huge_document_is_chunked_and_merged(sim):
    paragraph = ("This sentence is part of a very long report. " * 20).strip()
    document = "\n\n".join(f"{i}: {paragraph}" for i in range(1330))   # about 1.2M characters
    assert len(document) > 1_200_000
    result = make(sim, "kimi").analyze_document(document, question="Summarise.")
    requests = chats(sim, "kimi")
    assert result["success"] and result["chunked"] is True and result["chunks"] == len(requests) - 1 > 1
    parts, merge = requests[:-1], requests[-1]
    assert parts[0]["body"]["model"] == "kimi-k2-0905-preview"
    first_prompt = parts[0]["body"]["messages"][1]["content"]
    assert f"part 1 of {result['chunks']}" in first_prompt
    first_part = first_prompt.split("\n\n", 2)[2].rsplit("\n\nSummarise.", 1)[0]
    second_part = parts[1]["body"]["messages"][1]["content"].split("\n\n", 2)[2]
    assert first_part.endswith(paragraph + "\n\n")                       # cut on a paragraph boundary
    assert second_part.split(": ", 1)[1].startswith("This sentence")
    merge_prompt = merge["body"]["messages"][1]["content"]
    assert merge_prompt.count("Hello from kimi.") == result["chunks"] and "[Part 1 of" in merge_prompt
    assert result["content"] == "Hello from kimi." and result["document_length"] == len(document)
    assert result["usage"]["completion_tokens"] == 5 * len(requests)    # summed over every call
    for request in parts:
        text = "".join(m["content"] for m in request["body"]["messages"])
        assert estimate_tokens(text) <= prompt_budget(request["body"]["model"])


def test_kimi_analyze_explicit_model_is_used_and_chunked_when_too_small(sim):
    document = "\n\n".join(f"Paragraph {i}. " + "Some words here. " * 40 for i in range(60))  # ~11K tokens
    result = make(sim, "kimi").analyze_document(document, model="moonshot-v1-8k")
    requests = chats(sim, "kimi")
    assert result["success"] and result["chunked"] and result["chunks"] == len(requests) - 1 >= 2
    assert {r["body"]["model"] for r in requests} == {"moonshot-v1-8k"}
    sim.reset()
    result = make(sim, "kimi").analyze_document("tiny", model="moonshot-v1-128k")
    assert result["chunks"] == 1 and [r["model"] for r in chats(sim, "kimi")] == ["moonshot-v1-128k"]


def test_kimi_analyze_merges_again_when_partials_do_not_fit(sim):
    sim.configure("kimi", content="insight " * 500)      # every partial is ~1000 tokens
    document = "\n\n".join("Words and more words. " * 50 for _ in range(120))   # ~33K tokens
    result = make(sim, "kimi").analyze_document(document, model="moonshot-v1-8k")
    requests = chats(sim, "kimi")
    assert result["success"] and result["chunks"] >= 6
    assert len(requests) > result["chunks"] + 1      # the partials were merged in more than one call


def test_kimi_analyze_failure_in_a_part(sim):
    sim.script("kimi", {"fault": "quota"})
    result = make(sim, "kimi").analyze_document("x" * 100_000, model="moonshot-v1-8k")
    assert result["success"] is False and result["failed_chunk"] == 1 and result["chunks"] > 1
    assert result["error"].startswith("Kimi K2 API error: ") and len(chats(sim, "kimi")) == 1


def test_kimi_analyze_without_key(sim):
    assert make(sim, "kimi", "").analyze_document("doc") == {"success": False,
                                                             "error": "Kimi K2 API key not configured"}


# -- estimation and splitting (pure) -----------------------------------------------------------------

def test_estimate_tokens():
    assert (estimate_tokens(""), estimate_tokens("abcd" * 10), estimate_tokens("abcde")) == (0, 10, 2)
    assert estimate_tokens("你好世界") == 4 and estimate_tokens("你好 abcd") == 2 + 2


def test_smallest_fitting_model_and_budgets():
    assert smallest_fitting_model(100) == "moonshot-v1-8k"
    assert smallest_fitting_model(prompt_budget("moonshot-v1-8k") + 1) == "moonshot-v1-32k"
    assert smallest_fitting_model(prompt_budget("kimi-k2-0905-preview") + 1) is None
    assert prompt_budget("unknown-model") is None


def test_split_text_prefers_paragraphs_then_sentences_then_characters():
    paragraphs = ["Alpha " * 30, "Beta " * 30, "Gamma " * 30]
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = split_text(text, 50)
    assert "".join(parts) == text and all(estimate_tokens(p) <= 50 for p in parts)
    assert all(p.endswith("\n\n") for p in parts[:-1])                 # cut between paragraphs
    long_paragraph = "One sentence here. " * 40
    parts = split_text(long_paragraph, 30)
    assert "".join(parts) == long_paragraph and all(p.endswith(". ") for p in parts[:-1])
    no_boundary = "x" * 1000
    parts = split_text(no_boundary, 25)
    assert "".join(parts) == no_boundary and [len(p) for p in parts] == [100] * 10
    cjk = "字" * 95
    parts = split_text(cjk, 10)
    assert "".join(parts) == cjk and max(estimate_tokens(p) for p in parts) <= 10

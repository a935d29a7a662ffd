"""ATOM's GLM-4.6 and Kimi K2 handlers (contract §4): streams, models, embeddings, Kimi extras."""
from __future__ import annotations


import pytest

from kimi_k2_handler_real import (estimate_tokens, prompt_budget, smallest_fitting_model, split_text)
from tests.legacy.conftest import (CLASSES, DEFAULTS, FAMILY, HI, KEYS, NAMES, UNREACHABLE, chats,
                                  expected_usage, make, wait_for)

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

"""Embedding endpoints: OpenAI-format (OpenAI, Azure, GLM) and Gemini.

Vectors are deterministic per text (``content.embedding_vector``); sizes per model are in
``catalog.EMBEDDING_DIMS`` (the request's ``dimensions`` / ``outputDimensionality`` wins unless
the model's size is fixed, e.g. GLM ``embedding-2`` = 1024).
"""
from __future__ import annotations

from simulator import catalog
from simulator.content import count_tokens, embedding_vector, encode_base64, text_of
from simulator.wire import BadRequestError, Call, Reply, json_reply


def _inputs(body: dict) -> list:
    """Embedding inputs as strings (token arrays are stringified)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [str(value)]
    if isinstance(value, list) and value:
        return [v if isinstance(v, str) else str(v) for v in value]
    raise BadRequestError("'input' must be a string or a non-empty array")


def openai_embeddings(call: Call) -> Reply:
    """Embeddings; base64 (little-endian float32) when asked, except GLM (always floats)."""
    body = call.body
    model = str(body.get("model") or call.params.get("deployment") or "")
    if not model:
        raise BadRequestError("you must provide a model parameter")
    texts = _inputs(body)
    dims = catalog.embedding_dims(model, body.get("dimensions"))
    as_b64 = body.get("encoding_format") == "base64" and call.provider != "glm"
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dims)
        data.append({"object": "embedding", "index": index,
                     "embedding": encode_base64(vector) if as_b64 else vector})
    tokens = count_tokens(sum(len(t) for t in texts))
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    if call.provider == "glm":
        usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
    return json_reply(200, {"object": "list", "data": data, "model": model, "usage": usage})



def _embed_one(request: dict, model: str) -> dict:
    """{"values": [...]} for one EmbedContentRequest."""
    content = request.get("content")
    if not isinstance(content, dict):
        raise BadRequestError("* EmbedContentRequest.content: content is not specified")
    dims = catalog.embedding_dims(request.get("model") or model,
                                  request.get("outputDimensionality"))
    return {"values": embedding_vector(text_of(content.get("parts")), dims)}


def gemini_embeddings(call: Call) -> Reply:
    """embedContent and batchEmbedContents."""
    model = call.params["model"]
    if call.params["action"] == "embedContent":
        return json_reply(200, {"embedding": _embed_one(call.body, model)})
    requests = call.body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise BadRequestError("* BatchEmbedContentsRequest.requests: requests is not specified")
    return json_reply(200, {"embeddings": [_embed_one(r or {}, model) for r in requests]})

"""The OpenAI-compatible /v1 API: thin views over the Gateway service."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

import openai_wire as wire
from errors import BadRequestError, UnsupportedMediaTypeError
from gateway import parse_embedding_input
from gateway_stream import sse_body

bp = Blueprint("gateway_v1", __name__, url_prefix="/v1")


def _gateway():
    return current_app.extensions["byok"].extra["gateway"]


def _body() -> dict:
    if not request.is_json:
        raise UnsupportedMediaTypeError("Content-Type must be application/json")
    try:
        body = wire.orjson.loads(request.get_data(cache=False))   # bounded by MAX_CONTENT_LENGTH (413)
    except wire.orjson.JSONDecodeError:
        body = None                                                # NaN, bad UTF-8, not JSON: 400
    if not isinstance(body, dict):
        raise BadRequestError("The body must be a JSON object", code="invalid_json")
    return body


def _json(obj: dict, provider: str | None = None, status: int = 200) -> Response:
    resp = Response(wire.orjson.dumps(obj), status=status, mimetype="application/json")
    if provider:
        resp.headers["X-BYOK-Provider"] = provider
    return resp


@bp.post("/chat/completions")
def chat_completions():
    """Chat (plain, streaming, tools) on the caller's stored keys."""
    call = wire.parse_chat(_body())
    gateway = _gateway()
    if call.stream:
        start = gateway.start_stream(g.principal.user_id, call)
        resp = Response(sse_body(gateway, start), mimetype="text/event-stream")
        resp.headers.update({"X-BYOK-Provider": start.model_label, "Cache-Control": "no-cache",
                             "X-Accel-Buffering": "no"})
        return resp
    result, cand, ctx = gateway.chat(g.principal.user_id, call)
    label = f"{cand.provider}/{result.model or cand.model}"
    return _json(wire.chat_json(result, request_id=ctx.request_id, model=label), label)


@bp.post("/embeddings")
def embeddings():
    """Embeddings; base64 (the SDK default) or float encoding."""
    body = _body()
    models = wire.parse_models(body)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise BadRequestError("encoding_format must be 'float' or 'base64'", code="invalid_request")
    dims = wire.number(body, "dimensions", int, 1, 2**31 - 1)
    result, cand = _gateway().embed(g.principal.user_id, models, parse_embedding_input(body.get("input")), dims)
    label = f"{cand.provider}/{result.model or cand.model}"
    return _json(wire.embedding_json(result, model=label, encoding=encoding), label)


@bp.get("/models")
def models():
    """The models the caller can use: those of providers with a working stored key."""
    return _json(_gateway().list_models(g.principal.user_id))

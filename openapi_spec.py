"""GET /openapi.json: an OpenAPI 3.1 description built from the app's registered Flask rules.

apispec's FlaskPlugin turns each rule of `app.url_map` into an OpenAPI path; the methods and path
parameters come from the rule, the summary from the view's docstring, and bodies, query
parameters and responses from OPERATIONS below (schemas in openapi_schemas). A rule without an
entry is left out and reported by `undocumented()`, which the test suite requires to be empty.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, jsonify
from werkzeug.routing import Rule

from openapi_schemas import PARAMETERS, SCHEMAS, ref

log = logging.getLogger(__name__)
bp = Blueprint("openapi", __name__)
FLASK_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")  # as apispec's FlaskPlugin reads rules

DESCRIPTION = """Bring-your-own-key LLM gateway: store provider keys per user, call them through an
OpenAI-compatible /v1 API, route by task and price, and track usage and limits.

Authentication depends on BYOK_AUTH_MODE. In **local** mode (the desktop default) no credentials
are needed, but only requests addressed to a loopback Host are answered (others get 403). In
**token** mode every route except /health, /openapi.json and the provider catalogue needs
`Authorization: Bearer <token>`; a token acts for its own user only, unless it is an admin token.

Errors under /v1 use OpenAI's shape (`OpenAIError`); every other path uses `AtomError`.
Methods a path does not list are answered with 405 and an `Allow` header."""

ERROR_TEXT = {
    400: "Invalid request: malformed body, path parameter, query parameter or unknown provider",
    401: "Token mode: missing, invalid or revoked bearer token",
    403: "Token mode: the token may not act for this user. Local mode: Host is not loopback",
    404: "No such route (for instance a path parameter containing '/')",
    413: "The body exceeds BYOK_MAX_BODY_BYTES",
    415: "The body is not application/json",
    429: "Too many failed authentications, or the user's own rate or spend limit was reached",
    500: "Unexpected server error",
    502: "The provider failed or could not be reached (after retries and fallback)",
    503: "The provider is overloaded, or cooling down after repeated failures",
    504: "The provider did not answer in time",
}
V1_ERROR_TEXT = {
    400: "Invalid request, no usable key for the model, context too long, content filtered, or "
         "the provider has no such operation",
    404: "No such route, or the provider does not know the model",
    429: "The user's own limits, too many failed authentications, or the provider's rate limit "
         "or quota",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                               "schema": {"type": "string"}}}
PROVIDER_HEADER = {"X-BYOK-Provider": {"description": "'<provider>/<model>' that answered",
                                       "schema": {"type": "string"}}}

BODY = (400, 413, 415)
UPSTREAM = (404, 429, 502, 503, 504)


def _op(tag: str, ok: dict[str, Any], *, errors: tuple[int, ...] = (), body: str | None = None,
        query: tuple[dict, ...] = (), public: bool = False, summary: str = "",
        headers: dict | None = None) -> dict[str, Any]:
    statuses = set(errors) | {403, 500} | (set() if public else {401, 429}) | (set(BODY) if body else set())
    return {"tag": tag, "ok": ok, "errors": sorted(statuses), "body": body, "query": list(query),
            "public": public, "summary": summary, "headers": headers}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": ref(name)}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_DATE = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}, {"const": ""}]}
_TEXT = {"schema": {"type": "string"}}
KEYS, ROUTING, V1 = "api-keys", "intelligent-routing", "openai-compatible"
U = "user_api_key_management."
OPERATIONS: dict[str, dict[str, Any]] = {
    "health": _op("meta", _json("Health"), public=True, summary="Liveness probe"),
    "openapi.spec": _op("meta", {"application/json": {"schema": {"type": "object"}}}, public=True),
    U + "get_available_providers": _op(KEYS, _json("ProvidersResponse"), public=True),
    U + "get_user_api_keys": _op(KEYS, _json("KeysResponse"), errors=(400, 404)),
    U + "save_user_api_key": _op(KEYS, _json("SaveKeyResponse"), errors=(404,), body="SaveKeyRequest"),
    U + "delete_user_api_key": _op(KEYS, _json("DeleteKeyResponse"), errors=(400, 404)),
    U + "test_user_api_key": _op(KEYS, _json("TestKeyResponse"), errors=(400, 404)),
    U + "get_user_configured_services": _op(KEYS, _json("ServicesResponse"), errors=(400, 404)),
    U + "get_user_api_key_status": _op(KEYS, _json("StatusResponse"), errors=(400, 404)),
    U + "get_user_audit": _op(KEYS, _json("AuditResponse"), errors=(400, 404), query=(
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size (default 50)"),
        _query("before", {"type": "integer", "minimum": 1, "maximum": 2**62},
               "Only events with a smaller id (the previous page's next_before)"))),
    U + "get_user_usage": _op(KEYS, {**_json("UsageResponse"), "text/csv": _TEXT},
                              errors=(400, 404), query=(
        _query("from", _DATE, "Start (inclusive): ISO 8601 date or date-time, UTC if no offset"),
        _query("to", _DATE, "End (exclusive): ISO 8601 date or date-time, UTC if no offset"),
        _query("group_by", {"type": "string", "enum": ["provider", "model", "day", ""]},
               "Add per-group totals (empty: none)"),
        _query("format", {"type": "string", "enum": ["json", "csv", ""]},
               "csv: every usage row as a CSV attachment instead of totals (empty: json)"))),
    U + "get_user_limits": _op(KEYS, _json("LimitsResponse"), errors=(400, 404)),
    U + "put_user_limits": _op(KEYS, _json("LimitsResponse"), errors=(404,), body="LimitsUpdate"),
    "gateway_v1.chat_completions": _op(
        V1, {**_json("ChatCompletion"), "text/event-stream": {"schema": {
            "type": "string", "description": "SSE: chat.completion.chunk events, a usage chunk, then "
                                             "[DONE]; a late failure is an in-band error event"}}},
        errors=UPSTREAM, body="ChatCompletionRequest", headers=PROVIDER_HEADER),
    "gateway_v1.embeddings": _op(V1, _json("EmbeddingList"), errors=UPSTREAM, body="EmbeddingRequest",
                                 headers=PROVIDER_HEADER),
    "gateway_v1.models": _op(V1, _json("ModelList")),
    "intelligent_routing.select_provider": _op(ROUTING, _json("SelectProviderResponse"),
                                               body="SelectProviderRequest"),
    "intelligent_routing.analyze_task": _op(ROUTING, _json("AnalyzeTaskResponse"),
                                            body="AnalyzeTaskRequest"),
    "intelligent_routing.cost_analysis": _op(ROUTING, _json("CostAnalysisResponse"), errors=(400, 404)),
    "intelligent_routing.routing_status": _op(ROUTING, _json("RoutingStatusResponse"),
                                              errors=(400, 404)),
}


def _error_response(status: int, shape: str) -> dict[str, Any]:
    text = (V1_ERROR_TEXT if shape == "OpenAIError" else {}).get(status, ERROR_TEXT[status])
    response: dict[str, Any] = {"description": text, "content": _json(shape)}
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def _responses(rule: Rule, doc: dict[str, Any]) -> dict[str, Any]:
    """200 plus each error status, referring to the shared error responses of the path's shape."""
    prefix = "OpenAI" if rule.rule.startswith("/v1/") else "Atom"
    out: dict[str, Any] = {"200": {"description": "OK", "content": doc["ok"]}}
    if doc["headers"]:
        out["200"]["headers"] = doc["headers"]
    out.update({str(status): f"{prefix}{status}" for status in doc["errors"]})
    return out


def _operation(rule: Rule, view: Any, doc: dict[str, Any]) -> dict[str, Any]:
    summary = doc["summary"] or (view.__doc__ or "").strip().splitlines()[0]
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.rpartition(".")[2], "summary": summary, "tags": [doc["tag"]],
        "responses": _responses(rule, doc)}
    if _path_args(rule) or doc["query"]:
        operation["parameters"] = _path_args(rule) + doc["query"]
    if doc["body"]:
        operation["requestBody"] = {"required": True, "content": _json(doc["body"])}
    if doc["public"]:
        operation["security"] = []
    return operation


def _path_args(rule: Rule) -> list[str]:
    """Path parameters in the order they appear in the rule."""
    return FLASK_ARG.findall(rule.rule)


def _documentable(rule: Rule) -> bool:
    return rule.endpoint in OPERATIONS and set(rule.arguments) <= set(PARAMETERS)


def undocumented(app: Flask) -> list[str]:
    """Registered rules (besides static files) that the description leaves out."""
    return sorted(f"{sorted(r.methods or ())} {r.rule}" for r in app.url_map.iter_rules()
                  if r.endpoint != "static" and not _documentable(r))


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for every documented rule of this app."""
    spec = APISpec(title="BYOK LLM gateway", version="1.0.0", openapi_version="3.1.0",
                   plugins=[FlaskPlugin()], info={"description": DESCRIPTION},
                   security=[{"bearerAuth": []}, {}])
    spec.components.security_scheme("bearerAuth", {
        "type": "http", "scheme": "bearer",
        "description": "Token mode only: a gateway token (byok_...); local mode needs none"})
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for status in ERROR_TEXT:
        for prefix in ("Atom", "OpenAI"):
            spec.components.response(f"{prefix}{status}", _error_response(status, f"{prefix}Error"))
    for name, param in PARAMETERS.items():
        spec.components.parameter(name, param["in"], dict(param))
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        if not _documentable(rule):
            log.warning("OpenAPI: no description for %s %s", rule.endpoint, rule.rule)
            continue
        view, doc = app.view_functions[rule.endpoint], OPERATIONS[rule.endpoint]
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        spec.path(view=view, app=app, operations={m.lower(): _operation(rule, view, doc)
                                                  for m in methods})
    return spec.to_dict()


@bp.get("/openapi.json")
def spec():
    """This API's OpenAPI 3.1 description."""
    app = current_app._get_current_object()
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = build_spec(app)
    return jsonify(app.extensions["openapi"])

"""GET /openapi.json: complete (every Flask rule), valid OpenAPI 3.1, public, and true to the code."""
import re

import pytest

import catalogue
import openapi_spec
from key_manager import USER_ID_RE

VERBS = {"get", "put", "post", "delete", "patch"}


def _spec(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in VERBS:
                yield path, method, op


def test_every_flask_rule_is_described(app, client):
    spec = _spec(client)
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    assert len(rules) >= 20
    for rule in rules:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], f"{rule.rule} is not in /openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {rule.rule} is not described"
    assert openapi_spec.undocumented(app) == []


def test_nothing_is_described_that_is_not_served(app, client):
    adapter = app.url_map.bind("localhost")
    for path, method, _ in _operations(_spec(client)):
        concrete = path.replace("{user_id}", "alice").replace("{service_name}", "openai")
        endpoint, _ = adapter.match(concrete, method=method.upper())
        assert endpoint in openapi_spec.OPERATIONS


def test_document_is_valid_openapi_3_1(client):
    validator = pytest.importorskip("openapi_spec_validator")
    spec = _spec(client)
    assert spec["openapi"].startswith("3.1")
    validator.validate(spec)


def test_reachable_without_auth_in_token_mode(token_app):
    client = token_app.test_client()
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/api/user/api-keys/alice/keys").status_code == 401


def test_path_parameters_come_from_the_code(client):
    params = _spec(client)["components"]["parameters"]
    assert params["user_id"]["schema"]["pattern"] == USER_ID_RE.pattern
    assert params["service_name"]["schema"]["enum"] == catalogue.provider_ids()
    assert len(params["service_name"]["schema"]["enum"]) == 7


def test_bearer_auth_is_optional_and_public_routes_need_none(client):
    spec = _spec(client)
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert {} in spec["security"] and {"bearerAuth": []} in spec["security"]
    public = {p for p, _, op in _operations(spec) if op.get("security") == []}
    assert public == {"/health", "/openapi.json", "/api/user/api-keys/providers"}


def test_error_responses_use_the_shape_of_their_path(client):
    spec = _spec(client)
    for path, method, op in _operations(spec):
        errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
        assert {"403", "500"} <= set(errors), f"{method} {path}"
        shape = "OpenAIError" if path.startswith("/v1/") else "AtomError"
        for status, resp in errors.items():
            resp = spec["components"]["responses"][resp["$ref"].rpartition("/")[2]]
            ref = resp["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/" + shape), f"{method} {path} {status}"
        if op.get("requestBody"):
            assert {"400", "413", "415"} <= set(errors)
        if op.get("security") != []:
            assert {"401", "429"} <= set(errors)


def test_upstream_statuses_only_on_provider_calls(client):
    upstream = {(p, m) for p, m, op in _operations(_spec(client))
                if {"502", "503", "504"} & set(op["responses"])}
    assert upstream == {("/v1/chat/completions", "post"), ("/v1/embeddings", "post")}


def test_usage_query_parameters(client):
    op = _spec(client)["paths"]["/api/user/api-keys/{user_id}/usage"]["get"]
    names = {p["name"] for p in op["parameters"] if isinstance(p, dict) and p.get("in") == "query"}
    assert names == {"from", "to", "group_by", "format"}
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/csv"}


def test_spec_is_built_once_per_app(app, client):
    first = _spec(client)
    assert app.extensions["openapi"] is not None
    assert _spec(client) == first

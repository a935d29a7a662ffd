"""Schemathesis fuzzes every operation of /openapi.json against the WSGI app.

Local mode runs every built-in check (server errors, status codes, content types, response
schemas and headers, valid data accepted, invalid data rejected, unsupported methods) with the
caller's keys stored for all providers, whose base URLs point at a closed loopback port: a
valid /v1 request reaches the provider adapter and fails fast with a documented 502/503/504,
and nothing leaves the machine. Token mode runs a shorter pass with a valid bearer token.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from audit import Actor
from main_api_app import create_app
from tests.conftest import NO_NETWORK_BASE_URLS

UPSTREAM_STATUSES = frozenset({502, 503, 504})
# Operations whose schema-valid requests may still get a 400 that depends on stored state or on
# the catalogue (no usable key, nothing fits the context, ...) rather than on the request's shape.
STATEFUL_400 = {"POST /v1/chat/completions", "POST /v1/embeddings",
                "POST /api/v1/intelligent/select-provider",
                "GET /api/v1/intelligent/cost-analysis/{user_id}"}
# "bad_request" is a provider adapter refusing what it cannot translate (a Gemini tool result
# without a function name); request validation uses invalid_request, invalid_json and friends.
STATEFUL_CODES = frozenset({"no_usable_provider", "context_length_exceeded", "bad_request",
                            "unsupported_operation", "content_filter", "upstream_bad_request"})
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
# Small enough for CI (about a minute for both modes); FUZZ_EXAMPLES=200 for a deeper run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))


def _make_app(tmp_path, **overrides):
    settings_ = dict(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}", data_dir=tmp_path,
                     encryption_keys=Fernet.generate_key().decode(), testing=True,
                     base_urls=dict(NO_NETWORK_BASE_URLS), connect_timeout_s=0.5,
                     read_timeout_s=2.0, test_on_save=False, retry_base_s=0.0, retry_cap_s=0.0,
                     log_level="ERROR")
    settings_.update(overrides)
    return create_app(settings_)


def _seed_keys(app, user_id: str) -> None:
    """A key for every provider, so valid /v1 requests reach the (unreachable) provider."""
    keys = app.extensions["byok"].keys
    for provider in NO_NETWORK_BASE_URLS:
        body = {"api_key": f"sk-fuzz-{provider}-0123456789abcdef"}
        if provider == "azure_openai":
            body.update(endpoint="http://127.0.0.1:9", deployment="gpt-4o")
        keys.save(user_id, provider, body, Actor("fuzz-setup"))


@pytest.fixture(scope="module")
def local_app(tmp_path_factory):
    app = _make_app(tmp_path_factory.mktemp("fuzz-local"))
    _seed_keys(app, app.extensions["byok"].config.local_user)
    yield app
    app.extensions["byok"].shutdown()
    app.extensions["byok"].vault.engine.dispose()


@pytest.fixture(scope="module")
def token_app(tmp_path_factory):
    app = _make_app(tmp_path_factory.mktemp("fuzz-token"), auth_mode="token")
    _seed_keys(app, "fuzz-user")
    app.config["FUZZ_TOKEN"] = app.extensions["byok"].tokens.create("fuzz-user")[0]
    yield app
    app.extensions["byok"].shutdown()
    app.extensions["byok"].vault.engine.dispose()


@pytest.fixture(scope="module")
def local_schema(local_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", local_app)


@pytest.fixture(scope="module")
def token_schema(token_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", token_app)


def documented_server_errors_only(ctx, response, case):
    """No 500; a 502/503/504 only where documented (a provider failed) and in the /v1 shape."""
    status = response.status_code
    if status < 500:
        return None
    documented = str(status) in case.operation.definition.raw.get("responses", {})
    assert status in UPSTREAM_STATUSES and documented, f"server error {status}: {response.text[:300]}"
    assert response.json()["error"]["type"] == "upstream_error"
    return None


def valid_data_fails_only_on_state(ctx, response, case):
    """A schema-valid request may get a 400 only for a stateful reason, never a validation one."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    body = response.json()
    code = body["error"]["code"] if case.path.startswith("/v1/") else body["code"]
    assert code in STATEFUL_CODES, f"valid data rejected with 400 {code}: {response.text[:300]}"
    return None


def _check(case, headers=None):
    excluded = [not_a_server_error]
    extra = [documented_server_errors_only]
    if f"{case.method.upper()} {case.path}" in STATEFUL_400:
        excluded.append(positive_data_acceptance)
        extra.append(valid_data_fails_only_on_state)
    case.call_and_validate(headers=headers, excluded_checks=excluded, additional_checks=extra)


local = schemathesis.pytest.from_fixture("local_schema")
token = schemathesis.pytest.from_fixture("token_schema")


@local.parametrize()
@settings(max_examples=EXAMPLES, **SETTINGS)
def test_fuzz_local_mode(case):
    _check(case)


@token.parametrize()
@settings(max_examples=max(3, EXAMPLES // 3), **SETTINGS)
def test_fuzz_token_mode(case, token_app):
    _check(case, headers={"Authorization": f"Bearer {token_app.config['FUZZ_TOKEN']}"})


# What the fuzzer found, pinned as plain examples: (method, path, body, status, error code).
U = "/api/user/api-keys/current-user"
CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]
FINDINGS = [
    ("POST", CHAT, {"model": "auto", "messages": USER, "tool_choice": {"function": [None]}},
     400, "invalid_request"),                                      # was 500 AttributeError
    ("POST", CHAT, {"model": "auto", "messages": USER, "tools": [None]}, 400, "invalid_request"),
    ("POST", CHAT, {"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": {}}]}]}, 400, "invalid_request"),  # was 500 TypeError in router
    ("POST", CHAT, {"model": "auto", "messages": USER, "max_tokens": 1.5}, 400, "invalid_request"),
    ("POST", "/v1/embeddings", {"model": "openai/x", "input": "hi", "dimensions": 256.0},
     400, "no_usable_provider"),                                    # 256.0 is a valid integer
    ("GET", U + "/audit?limit=%C2%B2", None, 400, "invalid_query"),  # '²' was a 500
    ("POST", U + "/keys/azure_openai", {"api_key": "abc", "endpoint": "http://[x"},
     400, "invalid_metadata"),                                      # was 500 from urlparse
    ("POST", U + "/keys/openai", {"api_key": "\n" + "k" * 4096}, 400, "api_key_too_long"),
    ("GET", U + "/usage?format=xml", None, 400, "invalid_query"),   # was served as JSON
    ("GET", U + "/usage?format=csv&group_by=nope", None, 400, "invalid_query"),
    ("POST", "/api/v1/intelligent/analyze-task", {"prompt": "hi", "context_length": 5.0}, 200, None),
]


@pytest.mark.parametrize("method,path,body,status,code", FINDINGS)
def test_fuzz_findings_stay_fixed(client, method, path, body, status, code):
    resp = client.open(path, method=method, json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    if code is not None:
        data = resp.get_json()
        assert (data["error"]["code"] if path.startswith("/v1/") else data["code"]) == code


def test_405_lists_the_allowed_methods(client):
    resp = client.put("/health")
    assert resp.status_code == 405 and resp.get_json()["code"] == "method_not_allowed"
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}

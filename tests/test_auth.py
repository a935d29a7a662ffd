"""Token mode: isolation matrix for every user route, admin override, tokens CLI, throttling."""
import pytest

BASE = "/api/user/api-keys"
KEY = "sk-proj-isolation-ABCDEFGHIJKLMNOPQRST"

# (method, path template, json body) for every per-user route.
USER_ROUTES = [
    ("get", "/{u}/keys", None),
    ("post", "/{u}/keys/openai", {"api_key": KEY}),
    ("delete", "/{u}/keys/openai", None),
    ("post", "/{u}/keys/openai/test", None),
    ("get", "/{u}/services", None),
    ("get", "/{u}/status", None),
    ("get", "/{u}/audit", None),
]
IDS = [f"{m.upper()} {p}" for m, p, _ in USER_ROUTES]


@pytest.fixture
def tokens(token_app):
    svc = token_app.extensions["byok"].tokens
    return {"alice": svc.create("alice")[0], "bob": svc.create("bob")[0],
            "admin": svc.create("ops", admin=True)[0]}


def _call(client, method, path, body, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": body} if body is not None else {}
    return getattr(client, method)(BASE + path, headers=headers, **kwargs)


@pytest.mark.parametrize("method,path,body", USER_ROUTES, ids=IDS)
def test_other_users_token_gets_403(token_app, tokens, method, path, body):
    client = token_app.test_client()
    _call(client, "post", "/bob/keys/openai", {"api_key": KEY}, tokens["bob"])
    resp = _call(client, method, path.format(u="bob"), body, tokens["alice"])
    assert resp.status_code == 403
    assert resp.get_json()["success"] is False
    # bob's key is untouched
    keys = _call(client, "get", "/bob/keys", None, tokens["bob"]).get_json()
    assert keys["configured_services"] == ["openai"]


@pytest.mark.parametrize("method,path,body", USER_ROUTES, ids=IDS)
def test_own_token_succeeds(token_app, tokens, method, path, body):
    client = token_app.test_client()
    resp = _call(client, method, path.format(u="alice"), body, tokens["alice"])
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("method,path,body", USER_ROUTES, ids=IDS)
def test_admin_token_acts_for_anyone(token_app, tokens, method, path, body):
    client = token_app.test_client()
    resp = _call(client, method, path.format(u="bob"), body, tokens["admin"])
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("method,path,body", USER_ROUTES, ids=IDS)
def test_missing_or_bad_token_gets_401(token_app, tokens, method, path, body):
    client = token_app.test_client()
    assert _call(client, method, path.format(u="alice"), body, None).status_code == 401
    assert _call(client, method, path.format(u="alice"), body, "byok_wrong").status_code == 401


def test_denied_access_is_audited(token_app, tokens):
    client = token_app.test_client()
    _call(client, "get", "/bob/keys", None, tokens["alice"])
    events = _call(client, "get", "/bob/audit", None, tokens["bob"]).get_json()["events"]
    assert events[0]["action"] == "access.denied" and events[0]["actor"].startswith("token:")


def test_revoked_token_stops_working(token_app, tokens):
    client = token_app.test_client()
    services = token_app.extensions["byok"]
    prefix = tokens["alice"][:12]
    assert _call(client, "get", "/alice/keys", None, tokens["alice"]).status_code == 200
    services.tokens.revoke(prefix)
    assert _call(client, "get", "/alice/keys", None, tokens["alice"]).status_code == 401


def test_tokens_are_stored_hashed(token_app, tokens):
    from sqlalchemy import select

    from models import ApiToken
    with token_app.extensions["byok"].vault.session() as sess:
        hashes = [t.token_hash for t in sess.scalars(select(ApiToken))]
    assert len(hashes) == 3
    for raw in tokens.values():
        assert raw not in hashes and all(raw not in h for h in hashes)


def test_auth_failures_are_throttled(make_app):
    app = make_app(auth_mode="token", auth_fail_limit=3)
    client = app.test_client()
    codes = [_call(client, "get", "/a/keys", None, "byok_nope").status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
    resp = _call(client, "get", "/a/keys", None, "byok_nope")
    assert resp.headers["Retry-After"]


def test_providers_route_is_public(token_app):
    assert token_app.test_client().get(f"{BASE}/providers").status_code == 200


def test_token_mode_accepts_any_host(token_app, tokens):
    resp = token_app.test_client().get(f"{BASE}/alice/keys", headers={
        "Authorization": f"Bearer {tokens['alice']}", "Host": "gateway.example.com"})
    assert resp.status_code == 200


def test_tokens_cli(token_app):
    runner = token_app.test_cli_runner()
    result = runner.invoke(args=["tokens", "create", "carol", "--label", "laptop"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("byok_") and len(raw) > 40
    listing = runner.invoke(args=["tokens", "list"]).output
    assert "carol" in listing and raw not in listing and raw[:12] in listing
    client = token_app.test_client()
    assert _call(client, "get", "/carol/keys", None, raw).status_code == 200
    revoke = runner.invoke(args=["tokens", "revoke", raw[:12]])
    assert revoke.exit_code == 0 and "revoked 1" in revoke.output
    assert _call(client, "get", "/carol/keys", None, raw).status_code == 401


def test_local_mode_refuses_public_bind():
    from config import Config
    from server import check_bind
    with pytest.raises(SystemExit):
        check_bind(Config(host="0.0.0.0"))
    check_bind(Config(host="127.0.0.1"))
    check_bind(Config(host="0.0.0.0", auth_mode="token"))

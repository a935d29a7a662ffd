"""The ATOM routes R1-R7 in local mode: shapes, fixes of the original defects, bad input."""
import pytest

BASE = "/api/user/api-keys"
KEY = "sk-proj-routes-test-ABCDEFGHIJKLMNOP1234"


def _save(client, provider="openai", body=None, user="current-user"):
    return client.post(f"{BASE}/{user}/keys/{provider}", json=body or {"api_key": KEY})


def _row_count(app):
    from sqlalchemy import func, select

    from models import ApiKey
    with app.extensions["byok"].vault.session() as sess:
        return sess.scalar(select(func.count()).select_from(ApiKey))


def test_providers_catalogue(client):
    body = client.get(f"{BASE}/providers").get_json()
    assert body["success"] is True
    assert list(body["providers"])[:7] == ["openai", "deepseek", "anthropic", "google_gemini",
                                          "azure_openai", "glm_4_6", "kimi_k2"]


def test_save_then_keys_are_masked(client):
    resp = _save(client)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["success"] is True and body["message"] == "API key for openai saved successfully"
    assert "test_result" in body and body["test_result"]["success"] is False   # upstream unreachable
    keys = client.get(f"{BASE}/current-user/keys").get_json()
    assert keys["api_keys"] == {"openai": "sk-proj-...1234"}
    assert keys["configured_services"] == ["openai"]


@pytest.mark.parametrize("key,masked", [
    ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "sk-ant-api03-...wxyz"),
    ("AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "AIza...3456"),
    ("0123456789abcdef0123456789abcdef", "...cdef"),
    ("short-key-1234", "***"),
])
def test_masking_shows_at_most_prefix_and_last4(client, key, masked):
    _save(client, "anthropic", {"api_key": key})
    assert client.get(f"{BASE}/current-user/keys").get_json()["api_keys"]["anthropic"] == masked


def test_status_shape_and_stored_verdict(client, app):
    _save(client)
    body = client.get(f"{BASE}/current-user/status").get_json()
    assert body["success"] is True and body["user_id"] == "current-user"
    assert set(body["status"]) >= {"openai", "kimi_k2"}
    openai = body["status"]["openai"]
    assert openai["configured"] is True
    assert openai["test_result"]["success"] is False and openai["test_result"]["tested_at"]
    assert isinstance(openai["provider_info"]["models"], list)
    assert body["status"]["deepseek"]["test_result"] == {"success": False, "message": "Not configured"}
    assert body["summary"] == {"total_available": 7, "total_configured": 1, "total_working": 0}


def test_status_makes_no_upstream_calls(client, app, monkeypatch):
    _save(client)
    import key_check
    calls = []
    monkeypatch.setattr(key_check, "check", lambda *a, **k: calls.append(a))
    for _ in range(3):
        assert client.get(f"{BASE}/current-user/status").status_code == 200
    assert calls == []


def test_test_route_needs_no_body_and_records_verdict(client):
    _save(client)
    resp = client.post(f"{BASE}/current-user/keys/openai/test")
    assert resp.status_code == 200
    result = resp.get_json()["test_result"]
    assert result["success"] is False and result["status"] in ("unreachable", "error")


def test_test_without_key(client):
    body = client.post(f"{BASE}/current-user/keys/deepseek/test").get_json()
    assert body["test_result"] == {"success": False, "message": "No API key found for this service"}


def test_services_route(client):
    _save(client, "kimi_k2")
    body = client.get(f"{BASE}/current-user/services").get_json()
    assert body["total_configured"] == 1
    assert body["configured_services"][0]["service_name"] == "kimi_k2"
    assert body["configured_services"][0]["name"] == "Kimi K2 (Moonshot AI)"


def test_delete_flow(client):
    _save(client)
    body = client.delete(f"{BASE}/current-user/keys/openai").get_json()
    assert body == {"success": True, "deleted": True,
                    "message": "API key for openai deleted successfully"}
    assert client.delete(f"{BASE}/current-user/keys/openai").get_json()["deleted"] is False
    assert client.get(f"{BASE}/current-user/keys").get_json()["api_keys"] == {}


def test_azure_metadata_saved(client):
    body = {"api_key": "0123456789abcdef0123456789abcdef", "endpoint": "https://res.openai.azure.com",
            "deployment": "gpt4o-prod", "api_version": "2024-10-21"}
    assert _save(client, "azure_openai", body).status_code == 200
    status = client.get(f"{BASE}/current-user/status").get_json()["status"]["azure_openai"]
    assert status["configured"] is True


BAD_BODIES = [
    ("not json", {"data": "api_key=sk-x", "content_type": "text/plain"}, 415),
    ("broken json", {"data": "{", "content_type": "application/json"}, 400),
    ("json list", {"json": ["sk-x"]}, 400),
    ("missing field", {"json": {}}, 400),
    ("null key", {"json": {"api_key": None}}, 400),
    ("number key", {"json": {"api_key": 12345}}, 400),
    ("object key", {"json": {"api_key": {"a": 1}}}, 400),
    ("empty key", {"json": {"api_key": "   "}}, 400),
    ("unicode key", {"json": {"api_key": "sk-ключ-1234567890"}}, 400),
    ("inner space", {"json": {"api_key": "sk-abc def-1234567890"}}, 400),
    ("huge key", {"json": {"api_key": "sk-" + "a" * 1_000_000}}, 400),
    ("bad endpoint", {"json": {"api_key": KEY, "endpoint": "javascript:alert(1)"}}, 400),
    ("bad region", {"json": {"api_key": KEY, "region": "mars"}}, 400),
]


@pytest.mark.parametrize("label,kwargs,status", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_save_input_is_4xx_and_changes_nothing(client, app, label, kwargs, status):
    resp = client.post(f"{BASE}/current-user/keys/openai", **kwargs)
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    assert _row_count(app) == 0


def test_oversized_body_is_413(make_app):
    client = make_app(max_body_bytes=10_000).test_client()
    resp = client.post(f"{BASE}/current-user/keys/openai", json={"api_key": "sk-" + "a" * 20_000})
    assert resp.status_code == 413
    assert resp.get_json()["success"] is False


@pytest.mark.parametrize("method", ["post", "delete"])
@pytest.mark.parametrize("suffix", ["", "/test"])
def test_unknown_provider_is_4xx(client, app, method, suffix):
    if method == "delete" and suffix:
        return
    resp = getattr(client, method)(f"{BASE}/current-user/keys/not_a_provider{suffix}",
                                   json={"api_key": KEY})
    assert resp.status_code == 400
    assert "not supported" in resp.get_json()["error"]
    assert _row_count(app) == 0


@pytest.mark.parametrize("user", ["..", "a..b", "%2e%2e", "bad%00id", "x" * 200, "-leading", "a b"])
def test_path_tricks_in_user_id(client, app, user):
    resp = client.post(f"{BASE}/{user}/keys/openai", json={"api_key": KEY})
    assert 400 <= resp.status_code < 500
    assert _row_count(app) == 0


def test_json_errors_everywhere(client):
    assert client.get("/nope").status_code == 404 and client.get("/nope").get_json()["success"] is False
    resp = client.put(f"{BASE}/providers")
    assert resp.status_code == 405 and resp.get_json()["success"] is False


def test_internal_error_is_json_500_without_internals(client, app, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internals sk-proj-leakleakleakleak")
    monkeypatch.setattr(app.extensions["byok"].keys, "status", boom)
    resp = client.get(f"{BASE}/current-user/status")
    assert resp.status_code == 500
    assert resp.get_json() == {"success": False, "error": "Internal server error", "code": None}


def test_local_mode_rejects_foreign_host(client):
    resp = client.get(f"{BASE}/current-user/status", headers={"Host": "evil.example.com"})
    assert resp.status_code == 403


def test_cors_only_for_configured_origins(client):
    ok = client.get(f"{BASE}/providers", headers={"Origin": "tauri://localhost"})
    assert ok.headers["Access-Control-Allow-Origin"] == "tauri://localhost"
    bad = client.get(f"{BASE}/providers", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in bad.headers


def test_audit_trail_records_actions(client):
    _save(client)
    client.delete(f"{BASE}/current-user/keys/openai")
    events = client.get(f"{BASE}/current-user/audit?limit=2").get_json()
    assert [e["action"] for e in events["events"]] == ["key.deleted", "key.tested"]
    assert events["total"] == 3 and events["next_before"]
    rest = client.get(f"{BASE}/current-user/audit?before={events['next_before']}").get_json()
    assert [e["action"] for e in rest["events"]] == ["key.saved"]
    assert client.get(f"{BASE}/current-user/audit?limit=abc").status_code == 400

"""Key health: re-validation on free endpoints marks revoked keys, and the router stops using them."""
import time

BASE = "/api/user/api-keys/current-user"


def _app(make_app, simulator, **extra):
    urls = {"openai": simulator.url_for("openai"), "deepseek": simulator.url_for("deepseek")}
    return make_app(base_urls=urls, test_on_save=False, **extra)


def _save_pair(client):
    client.post(f"{BASE}/keys/openai", json={"api_key": "sk-proj-healthy-0123456789abcdef"})
    client.post(f"{BASE}/keys/deepseek", json={"api_key": "sk-invalid-revoked-0123456789ab"})


def test_revalidate_marks_keys_and_router_skips_revoked(make_app, simulator):
    simulator.reset()
    app = _app(make_app, simulator)
    client = app.test_client()
    _save_pair(client)
    status = client.get(f"{BASE}/status").get_json()["status"]
    assert status["deepseek"]["key_health"] == "untested"
    result = app.test_cli_runner().invoke(args=["keys", "revalidate"])
    assert "re-tested 2 key(s)" in result.output
    status = client.get(f"{BASE}/status").get_json()["status"]
    assert status["openai"]["key_health"] == "ok" and status["openai"]["test_result"]["success"]
    assert status["deepseek"]["key_health"] == "invalid_key"
    assert status["deepseek"]["test_result"]["success"] is False
    paths = [r["path"] for r in simulator.requests()]
    assert paths and all(p.endswith("/models") for p in paths)          # free endpoint only
    gateway = app.extensions["byok"].extra["gateway"]
    assert set(gateway.usable_keys("current-user")) == {"openai"}
    models = client.get("/v1/models").get_json()["data"]
    assert not any(m["id"].startswith("deepseek/") for m in models)


def test_background_revalidation_is_off_by_default(make_app, simulator):
    app = _app(make_app, simulator)
    assert "key_health" not in app.extensions["byok"].extra


def test_background_revalidation_runs_when_enabled(make_app, simulator):
    simulator.reset()
    app = _app(make_app, simulator, key_revalidate_s=0.2, key_revalidate_batch=1)
    client = app.test_client()
    _save_pair(client)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = client.get(f"{BASE}/status").get_json()["status"]
        if status["deepseek"]["key_health"] != "untested" and status["openai"]["key_health"] != "untested":
            break
        time.sleep(0.1)
    assert status["deepseek"]["key_health"] == "invalid_key"
    assert status["openai"]["key_health"] == "ok"

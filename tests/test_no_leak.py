"""Distinctive keys never show up in responses, headers, logs, audit rows or the database file."""
import logging

import pytest
from sqlalchemy import select

from models import ApiKey, AuditEvent

BASE = "/api/user/api-keys"
# Each key hides a canary in its middle; masking may show only the last 4 characters.
CANARY_KEYS = {
    "openai": "sk-proj-CANARYOPENAI7f3a9b2c4d5e6f70001",
    "deepseek": "sk-CANARYDEEPSEEK8e2d1c0b9a8f7e60002",
    "anthropic": "sk-ant-api03-CANARYANTHROPIC5a4b3c0003",
    "google_gemini": "AIzaSyCANARYGEMINI1a2b3c4d5e6f7g8h0004",
    "azure_openai": "CANARYAZURE0a1b2c3d4e5f6a7b8c9d0e0005",
    "glm_4_6": "0123456789abcdef0123456789abcdef.CANARYGLMsecret0006",
    "kimi_k2": "sk-CANARYKIMI9f8e7d6c5b4a3f2e1d00007",
}
MIDDLES = [key[:-4] for key in CANARY_KEYS.values()] + ["CANARY"]


def _assert_clean(blob: str | bytes, where: str) -> None:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    for needle in MIDDLES:
        assert needle not in text, f"key material {needle[:12]}... found in {where}"


def _assert_db_file_clean(vault, database_url: str) -> None:
    """The SQLite file and its WAL hold no key material (skipped on PostgreSQL)."""
    if not database_url.startswith("sqlite"):
        return
    vault.engine.dispose()
    path = database_url.removeprefix("sqlite:///")
    for suffix in ("", "-wal"):
        try:
            _assert_clean(open(path + suffix, "rb").read(), f"database file{suffix}")
        except FileNotFoundError:
            pass


def _exercise(client, user="current-user", headers=None):
    headers = headers or {}
    seen = []
    for provider, key in CANARY_KEYS.items():
        body = {"api_key": key}
        if provider == "azure_openai":
            body.update(endpoint="http://127.0.0.1:9", deployment="dep1")
        seen.append(client.post(f"{BASE}/{user}/keys/{provider}", json=body, headers=headers))
        seen.append(client.post(f"{BASE}/{user}/keys/{provider}/test", headers=headers))
    for path in ("keys", "services", "status", "audit?limit=200"):
        seen.append(client.get(f"{BASE}/{user}/{path}", headers=headers))
    seen.append(client.get(f"{BASE}/providers", headers=headers))
    # bad input that quotes a key back must not echo it
    seen.append(client.post(f"{BASE}/{user}/keys/nope", json={"api_key": CANARY_KEYS["openai"]},
                            headers=headers))
    seen.append(client.post(f"{BASE}/{user}/keys/openai", json={"api_key": CANARY_KEYS["openai"] + " x"},
                            headers=headers))
    for provider in CANARY_KEYS:
        seen.append(client.delete(f"{BASE}/{user}/keys/{provider}", headers=headers))
    return seen


@pytest.mark.parametrize("mode", ["local", "token"])
def test_no_key_material_anywhere(make_app, caplog, mode, database_url):
    caplog.set_level(logging.DEBUG)
    app = make_app(auth_mode=mode)
    headers = {}
    if mode == "token":
        headers = {"Authorization": f"Bearer {app.extensions['byok'].tokens.create('current-user')[0]}"}
    client = app.test_client()
    # keep the keys stored while we look at the database, then exercise deletes separately
    for provider, key in CANARY_KEYS.items():
        client.post(f"{BASE}/current-user/keys/{provider}", json={"api_key": key}, headers=headers)
    vault = app.extensions["byok"].vault
    with vault.session() as sess:
        rows = sess.scalars(select(ApiKey)).all()
        assert len(rows) == 7
        for row in rows:
            _assert_clean(row.ciphertext + row.meta + row.last4 + row.fingerprint, "api_keys row")
    _assert_db_file_clean(vault, database_url)
    for resp in _exercise(client, headers=headers):
        _assert_clean(resp.get_data(), f"response body {resp.request.path}")
        _assert_clean(str(resp.headers), "response headers")
    with vault.session() as sess:
        for event in sess.scalars(select(AuditEvent)).all():
            _assert_clean(f"{event.actor} {event.detail} {event.provider} {event.outcome}", "audit row")
    _assert_clean("\n".join(r.getMessage() for r in caplog.records), "logs")
    _assert_clean(caplog.text, "formatted logs")


def test_log_filter_scrubs_keys_even_if_code_logs_them(caplog):
    import logging_setup
    logger = logging.getLogger("leaky")
    handler = logging.StreamHandler()
    logging_setup.install_filter(handler)
    records = []
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    try:
        logger.error("calling with %s", CANARY_KEYS["openai"])
        logger.error("header Authorization: Bearer %s", "abc.def.ghijklmnopqrstuvwx")
    finally:
        logger.removeHandler(handler)
    assert records and all("CANARY" not in r and "ghijklmnop" not in r for r in records)


def test_secret_type_hides_value():
    import pickle

    from secret import Secret
    s = Secret(CANARY_KEYS["kimi_k2"])
    assert "CANARY" not in repr(s) and "CANARY" not in str(s) and "CANARY" not in f"{s}"
    assert "CANARY" not in repr({"k": s}) and s.reveal() == CANARY_KEYS["kimi_k2"]
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_no_key_material_on_gateway_paths(make_app, simulator, caplog, database_url):
    """Every provider's chat, stream, tools, embeddings, key test and error paths leave no key behind."""
    from tests.helpers.gateway import base_urls
    caplog.set_level(logging.DEBUG)
    simulator.reset()
    app = make_app(base_urls=base_urls(simulator), test_on_save=True, retry_base_s=0.01,
                   usage_flush_s=0.05)
    client = app.test_client()
    seen = _save_all(client, simulator) + _exercise_gateway(client, simulator)
    codes = [r.status_code for r in seen]
    saves, per_provider = codes[:7], [codes[7 + 4 * i: 11 + 4 * i] for i in range(7)]
    assert saves == [200] * 7 and all(p[:3] == [200] * 3 and p[3] >= 400 for p in per_provider), codes
    seen += [client.post("/v1/embeddings", json={"model": m, "input": ["a", "b"]}) for m in (
        "openai/text-embedding-3-small", "google_gemini/gemini-embedding-001", "glm_4_6/embedding-3",
        "auto")]
    seen += [client.get("/v1/models"), client.get(f"{BASE}/current-user/usage?format=csv"),
             client.get(f"{BASE}/current-user/status")]
    for resp in seen:
        _assert_clean(resp.get_data(), f"response {resp.request.path}")
        _assert_clean(str(resp.headers), "response headers")
    _assert_clean_stores(app, simulator, caplog, database_url)


def _save_all(client, simulator):
    from tests.helpers.gateway import AZURE_DEPLOYMENT
    seen = []
    for provider, key in CANARY_KEYS.items():
        body = {"api_key": key}
        if provider == "azure_openai":
            body.update(endpoint=simulator.url_for("azure"), deployment=AZURE_DEPLOYMENT)
        seen.append(client.post(f"{BASE}/current-user/keys/{provider}", json=body))
    return seen


def _exercise_gateway(client, simulator):
    """Per provider: plain, streamed and tool chat, then a chat refused for an invalid key."""
    from tests.helpers.gateway import CHAT_MODELS, SIM_IDS
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    msgs = [{"role": "user", "content": "hi"}]
    seen = []
    for provider, model in CHAT_MODELS.items():
        body = {"model": f"{provider}/{model}", "messages": msgs}
        seen.append(client.post("/v1/chat/completions", json=body))
        seen.append(client.post("/v1/chat/completions", json={**body, "stream": True}))
        seen.append(client.post("/v1/chat/completions", json={**body, "tools": tools}))
        simulator.script(SIM_IDS[provider], {"fault": "invalid_key"})
        seen.append(client.post("/v1/chat/completions", json=body))
    return seen


def _assert_clean_stores(app, simulator, caplog, database_url):
    """Ledger rows, audit rows, upstream URLs, logs and the database file hold no key material."""
    vault = app.extensions["byok"].vault
    app.extensions["byok"].extra["ledger"].flush()
    from models import UsageRecord
    with vault.session() as sess:
        for row in sess.scalars(select(UsageRecord)).all():
            _assert_clean(" ".join(str(getattr(row, c)) for c in UsageRecord.__table__.columns.keys()),
                          "ledger row")
        for event in sess.scalars(select(AuditEvent)).all():
            _assert_clean(f"{event.actor} {event.detail}", "audit row")
    for entry in simulator.requests():
        _assert_clean(entry["path"] + str(entry.get("query", "")), "upstream URL")
    _assert_clean(caplog.text, "logs")
    _assert_db_file_clean(vault, database_url)

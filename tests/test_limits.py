"""Budgets and rate limits: validation, atomic admission, settle/release, and the budget race."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import catalogue
import requests
from cryptography.fernet import Fernet

from router import Candidate, RequestFeatures
from tests.helpers.servers import GatewayProcess, postgres_url, redis_url

BASE = "/api/user/api-keys"
CHAIN = [Candidate("openai", "gpt-4o", "requested")]


def _limits(app):
    return app.extensions["byok"].extra["limits"]


@pytest.mark.parametrize("body", [None, [], {}, {"rpm": 1}, {"requests_per_minute": -1},
                                  {"requests_per_minute": 1.5}, {"monthly_usd": "5"},
                                  {"tokens_per_minute": True}])
def test_invalid_limits_are_400_and_change_nothing(client, body):
    resp = client.put(f"{BASE}/current-user/limits", json=body)
    assert resp.status_code in (400, 415)
    assert client.get(f"{BASE}/current-user/limits").get_json()["limits"] == {
        "requests_per_minute": None, "tokens_per_minute": None, "monthly_usd": None}


def test_set_and_read_limits(client):
    resp = client.put(f"{BASE}/current-user/limits", json={"requests_per_minute": 5, "monthly_usd": 2.5})
    assert resp.status_code == 200
    body = client.get(f"{BASE}/current-user/limits").get_json()
    assert body["limits"] == {"requests_per_minute": 5, "tokens_per_minute": None, "monthly_usd": 2.5}
    assert body["usage"]["spend"]["resets_at"].endswith("T00:00:00Z")


def test_no_limits_means_no_reservation(app):
    assert _limits(app).reserve("u", CHAIN, RequestFeatures(prompt_tokens=10)) is None


def test_rpm_refusal_names_limit_and_reset(app):
    limits = _limits(app)
    limits.set("u", {"requests_per_minute": 2})
    feats = RequestFeatures(prompt_tokens=10, max_tokens=10)
    limits.reserve("u", CHAIN, feats)
    limits.reserve("u", CHAIN, feats)
    with pytest.raises(Exception) as info:
        limits.reserve("u", CHAIN, feats)
    assert info.value.status_code == 429
    assert "requests-per-minute limit of 2" in info.value.message and "resets at" in info.value.message
    assert int(info.value.headers["Retry-After"]) >= 1


def test_spend_is_reserved_then_settled_and_released(app):
    limits = _limits(app)
    limits.set("u", {"monthly_usd": 1.0})
    feats = RequestFeatures(prompt_tokens=1000, max_tokens=1000)
    res = limits.reserve("u", CHAIN, feats)
    worst = res.spend
    assert worst == pytest.approx((1000 * 2.5 + 1000 * 10.0) / 1e6)
    assert limits.describe("u")["usage"]["spend"]["used"] == pytest.approx(worst)
    limits.settle(res, tokens=1010, cost_usd=catalogue.cost_usd("openai", "gpt-4o", 1000, 10))
    assert limits.describe("u")["usage"]["spend"]["used"] == pytest.approx((1000 * 2.5 + 10 * 10) / 1e6)
    res2 = limits.reserve("u", CHAIN, feats)
    limits.release(res2)
    limits.release(res2)          # idempotent
    assert limits.describe("u")["usage"]["spend"]["used"] == pytest.approx((1000 * 2.5 + 10 * 10) / 1e6)


def test_one_user_limit_does_not_touch_another(app):
    limits = _limits(app)
    limits.set("a", {"requests_per_minute": 1})
    feats = RequestFeatures(prompt_tokens=1)
    limits.reserve("a", CHAIN, feats)
    assert limits.reserve("b", CHAIN, feats) is None
    with pytest.raises(Exception):
        limits.reserve("a", CHAIN, feats)


def test_budget_race_threads_one_process(app):
    """50 concurrent reservations against a budget that admits exactly 10."""
    limits = _limits(app)
    limits.set("race", {"requests_per_minute": 10})
    admitted, barrier = [], threading.Barrier(50)

    def go(_):
        barrier.wait()
        try:
            limits.reserve("race", CHAIN, RequestFeatures(prompt_tokens=5))
            admitted.append(1)
        except Exception as exc:  # noqa: BLE001
            assert getattr(exc, "status_code", None) == 429, exc

    with ThreadPoolExecutor(50) as pool:
        list(pool.map(go, range(50)))
    assert len(admitted) == 10


def _race_over_http(bases, sim, n=50):
    def go(i):
        resp = requests.post(bases[i % len(bases)] + "/v1/chat/completions", timeout=30, json={
            "model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        return resp.status_code

    with ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(go, range(n)))
    chats = [r for r in sim.requests() if r["path"].endswith("/chat/completions")]
    return codes, chats


def _prepare(base):
    requests.post(base + f"{BASE}/current-user/keys/openai", timeout=30,
                  json={"api_key": "sk-proj-race-0123456789abcdefgh"})
    requests.put(base + f"{BASE}/current-user/limits", timeout=30, json={"requests_per_minute": 10})


@pytest.mark.e2e
def test_budget_race_real_server(tmp_path, simulator):
    env = {"OPENAI_BASE_URL": simulator.url_for("openai"), "BYOK_TEST_ON_SAVE": "false"}
    with GatewayProcess(tmp_path, env) as gw:
        _prepare(gw.base)
        simulator.reset()
        codes, chats = _race_over_http([gw.base], simulator)
    assert codes.count(200) == 10 and codes.count(429) == 40
    assert len(chats) == 10


@pytest.mark.e2e
def test_budget_race_two_instances_postgres_redis(tmp_path, simulator):
    pg, rd = postgres_url(), redis_url()
    if not pg or not rd:
        pytest.skip("needs PostgreSQL and Redis on 127.0.0.1")
    from tests.conftest import _reset_postgres
    _reset_postgres(pg)
    env = {"OPENAI_BASE_URL": simulator.url_for("openai"), "BYOK_TEST_ON_SAVE": "false",
           "DATABASE_URL": pg, "REDIS_URL": rd, "BYOK_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with GatewayProcess(tmp_path / "a", env) as one, GatewayProcess(tmp_path / "b", env) as two:
        _prepare(one.base)
        simulator.reset()
        codes, chats = _race_over_http([one.base, two.base], simulator)
    assert codes.count(200) == 10 and codes.count(429) == 40
    assert len(chats) == 10

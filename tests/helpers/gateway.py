"""Shared set-up for the gateway tests: simulator URLs, stored keys, fast settings, SSE parsing.

The fixtures live in tests/helpers/gateway_fixtures.py (loaded with `pytest_plugins`).
"""
from __future__ import annotations

import json
import time

API = "/api/user/api-keys/current-user"
# Gateway provider id -> simulator short id.
SIM_IDS = {"openai": "openai", "deepseek": "deepseek", "kimi_k2": "kimi", "glm_4_6": "glm",
           "anthropic": "anthropic", "google_gemini": "gemini", "azure_openai": "azure"}
ENV_VARS = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL",
            "google_gemini": "GEMINI_BASE_URL", "deepseek": "DEEPSEEK_BASE_URL",
            "glm_4_6": "GLM_BASE_URL", "kimi_k2": "KIMI_BASE_URL",
            "azure_openai": "AZURE_OPENAI_ENDPOINT"}
# One priced chat model per provider (the simulator echoes it back, except Azure).
CHAT_MODELS = {"openai": "gpt-4o-mini", "deepseek": "deepseek-v4-flash", "kimi_k2": "kimi-k2.6",
               "glm_4_6": "glm-4.6", "anthropic": "claude-sonnet-4-5",
               "google_gemini": "gemini-2.5-flash", "azure_openai": "gpt-4o"}
AZURE_DEPLOYMENT = "gpt-4o"
# The providers the shared running server holds keys for (the rest stay keyless on purpose).
SERVER_KEYED = ("openai", "anthropic", "google_gemini", "glm_4_6")
# Fast, deterministic gateway settings for fault tests.
FAST = dict(test_on_save=False, retry_base_s=0.01, retry_cap_s=2.0, read_timeout_s=2.0,
            connect_timeout_s=1.0, ttft_deadline_s=2.0, stall_deadline_s=2.0,
            breaker_failures=3, breaker_cooldown_s=30.0, attempt_budget=4,
            request_deadline_s=30.0, usage_flush_s=0.05)


def base_urls(sim) -> dict[str, str]:
    """Config.base_urls pointing every provider at the simulator."""
    return {pid: sim.url_for(short) for pid, short in SIM_IDS.items()}


def server_env(sim, **extra: str) -> dict[str, str]:
    """Environment for GatewayProcess: simulator URLs, no key test on save, fast retries."""
    env = {var: sim.url_for(SIM_IDS[pid]) for pid, var in ENV_VARS.items()}
    env.update(BYOK_TEST_ON_SAVE="false", BYOK_RETRY_BASE_S="0.01", BYOK_RETRY_CAP_S="2",
               BYOK_READ_TIMEOUT_S="5", BYOK_TTFT_DEADLINE_S="3", BYOK_STALL_DEADLINE_S="3",
               BYOK_USAGE_FLUSH_S="0.05", LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def key_body(provider: str, sim=None) -> dict:
    """The save body for a provider's test key (Azure also needs endpoint and deployment)."""
    body = {"api_key": f"sk-test-{provider.replace('_', '-')}-0123456789"}
    if provider == "azure_openai":
        body.update(endpoint=sim.url_for("azure"), deployment=AZURE_DEPLOYMENT)
    return body


def save_keys(http, sim, providers, prefix: str = "", headers: dict | None = None) -> None:
    """Store keys through the API (`http` is a Flask test client or a requests session)."""
    for provider in providers:
        resp = http.post(f"{prefix}{API}/keys/{provider}", json=key_body(provider, sim),
                         headers=headers or {})
        assert resp.status_code == 200, (provider, resp.status_code)


def sse_events(raw: bytes) -> list:
    """The data payloads of an SSE body: parsed JSON objects, or the raw text ([DONE])."""
    out = []
    for block in raw.decode().split("\n\n"):
        data = "\n".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
        if data:
            out.append(data if data.startswith("[") else json.loads(data))
    return out


def stream_text(events: list) -> str:
    """The concatenated delta content of OpenAI chunks."""
    return "".join(((e.get("choices") or [{}])[0].get("delta") or {}).get("content") or ""
                   for e in events if isinstance(e, dict) and e.get("choices"))


def chat_body(model: str, *fallbacks: str, stream: bool = False, text: str = "Hi there",
              **extra) -> dict:
    """A small chat completion body with an optional `models` fallback list."""
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if fallbacks:
        body["models"] = [model, *fallbacks]
    body.update(extra)
    return body


def label(provider: str) -> str:
    """'<provider>/<model>' for a provider's default chat model."""
    return f"{provider}/{CHAT_MODELS[provider]}"


def chat_log(sim, provider: str) -> list[dict]:
    """The simulator's log of chat requests to one gateway provider id."""
    return [e for e in sim.requests(SIM_IDS[provider]) if e["endpoint"] == "chat"]


def inprocess_sdk(app):
    """The openai SDK talking to an in-process app through a WSGI transport (no socket)."""
    import httpx2
    import openai
    transport = httpx2.WSGITransport(app=app)
    return openai.OpenAI(base_url="http://localhost/v1", api_key="unused-in-local-mode",
                         max_retries=0, http_client=httpx2.Client(transport=transport))


def sdk_args(model: str, *fallbacks: str, **extra) -> dict:
    """chat.completions.create arguments; the fallback list travels in extra_body."""
    args = dict(model=model, messages=[{"role": "user", "content": "Hi there"}], **extra)
    if fallbacks:
        args["extra_body"] = {"models": [model, *fallbacks]}
    return args


def usage_rows(client) -> list[dict]:
    """Every usage row of current-user via ?format=csv (typed where the tests need it)."""
    import csv
    import io
    resp = client.get(f"{API}/usage?format=csv")
    assert resp.status_code == 200
    text = resp.text if hasattr(resp, "text") else resp.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "attempts"):
            row[name] = int(row[name])
        for name in ("cost_usd", "baseline_cost_usd", "savings_usd"):
            row[name] = float(row[name]) if row[name] not in ("", "None") else None
        for name in ("unpriced", "estimated", "streamed"):
            row[name] = row[name] in ("True", "1", "true")
    return rows


def wait_for(predicate, timeout: float = 5.0, step: float = 0.02):
    """Poll until predicate() is truthy; return its value (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        time.sleep(step)

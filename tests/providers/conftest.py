"""Shared fixtures for provider adapter tests: fake keys, a strict HTTP mock, leak checks, SSE bytes."""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterator

import pytest
import requests
import responses

import providers
from providers import http
from requests.adapters import HTTPAdapter
from providers.base import Provider
from providers.types import Credentials, ProviderSettings, Timeouts
from secret import Secret

# Realistically shaped, fake keys. Every test checks none of them leaks into a URL or a log line.
KEYS: dict[str, str] = {
    "openai": "sk-proj-TESTabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
    "deepseek": "sk-0123456789abcdef0123456789abcd99",
    "anthropic": "sk-ant-api03-TESTkeyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijk",
    "google_gemini": "AIzaSyTESTKEY0123456789abcdefghijklmno",
    "azure_openai": "0123456789abcdef0123456789abcd77",
    "glm_4_6": "0123456789abcdef0123456789abcd55.AbCdEfGhIjKlMnOp",
    "kimi_k2": "sk-kimiTESTabcdefghijklmnopqrstuvwxyz0123456789",
}
AZURE_ENDPOINT = "https://myres.openai.azure.com"
AZURE_META = {"endpoint": AZURE_ENDPOINT, "deployment": "gpt4o-prod"}


def leaked_keys(text: str) -> list[str]:
    """Which fake keys (or their 12-character tails) appear in text."""
    return [k for k in KEYS.values() if k in text or k[-12:] in text]


@pytest.fixture(autouse=True)
def stock_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`responses` intercepts requests' stock HTTPAdapter, so these tests mount it instead of the
    lean transport (which tests/providers/test_transport.py drives over real sockets)."""
    monkeypatch.setattr(http, "ADAPTER", lambda: HTTPAdapter(max_retries=0))
    http.reset_sessions()
    yield
    http.reset_sessions()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    """A strict responses mock: every registered call must happen; no key may appear in a URL."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps
        for call in rsps.calls:
            assert not leaked_keys(call.request.url), call.request.url


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test whose log records (messages or tracebacks) mention a key."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        text = record.getMessage() + (caplog.handler.formatter.formatException(record.exc_info)
                                      if record.exc_info else "")
        assert not leaked_keys(text), text


@pytest.fixture
def make() -> Callable[..., Provider]:
    """Build an adapter for a provider id with its fake key and optional metadata/settings."""
    def build(provider_id: str, settings: ProviderSettings | None = None, **metadata: str) -> Provider:
        if provider_id == "azure_openai" and not metadata:
            metadata = dict(AZURE_META)
        creds = Credentials(api_key=Secret(KEYS[provider_id]), metadata=metadata)
        return providers.build_provider(provider_id, creds, settings or ProviderSettings(Timeouts(2, 5)))
    return build


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[requests.Response]:
    """Records every requests.Response that gets closed."""
    closed: list[requests.Response] = []
    original = requests.Response.close

    def spy(self: requests.Response) -> None:
        closed.append(self)
        original(self)
    monkeypatch.setattr(requests.Response, "close", spy)
    return closed


def sse(*events: Any, sep: str = "\n\n") -> bytes:
    """SSE bytes: dicts become compact `data:` JSON, strings are sent as data verbatim."""
    out = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        out.append(f"data: {data}{sep}")
    return "".join(out).encode()


def named_sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    """SSE bytes with `event:` lines (Anthropic)."""
    return "".join(f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
                   for name, data in events).encode()


def add_stream(mock: responses.RequestsMock, url: str, body: bytes, status: int = 200) -> None:
    """Register a streaming POST answer."""
    mock.add(responses.POST, url, body=body, status=status, content_type="text/event-stream")


def sent_json(mock: responses.RequestsMock, index: int = -1) -> dict[str, Any]:
    """The JSON body of a recorded request."""
    return json.loads(mock.calls[index].request.body)

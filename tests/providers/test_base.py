"""The Provider base: base URLs, sessions, timeouts, transport failures, key-check verdicts."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests
import responses

import errors
from providers import base
from providers.assemble import collect
from providers.openai_compat import OpenAIProvider
from providers.types import ChatRequest, Credentials, Message, ProviderSettings, Timeouts
from secret import Secret
from tests.providers.conftest import KEYS, add_stream, sse

HI = ChatRequest(model="gpt-4o", messages=[Message("user", "hi")])


@pytest.mark.parametrize("provider_id, metadata, overrides, expected", [
    ("openai", {}, {}, "https://api.openai.com/v1"),
    ("openai", {}, {"openai": "http://127.0.0.1:8080/v1/"}, "http://127.0.0.1:8080/v1"),
    ("openai", {"base_url": "https://proxy.example/v1"}, {"openai": "http://x/v1"}, "https://proxy.example/v1"),
    ("anthropic", {}, {}, "https://api.anthropic.com"),
    ("anthropic", {}, {"anthropic": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"),
    ("google_gemini", {}, {}, "https://generativelanguage.googleapis.com"),
    ("deepseek", {}, {}, "https://api.deepseek.com"),
    ("glm_4_6", {}, {}, "https://open.bigmodel.cn/api/paas/v4"),
    ("glm_4_6", {"region": "intl"}, {}, "https://api.z.ai/api/paas/v4"),
    ("glm_4_6", {"region": "intl"}, {"glm_4_6": "http://sim/api/paas/v4"}, "http://sim/api/paas/v4"),
    ("kimi_k2", {"region": "cn"}, {}, "https://api.moonshot.cn/v1"),
    ("kimi_k2", {"region": "intl"}, {}, "https://api.moonshot.ai/v1"),
    ("azure_openai", {"endpoint": "https://r.openai.azure.com/"}, {"azure_openai": "http://x"},
     "https://r.openai.azure.com"),
    ("azure_openai", {"endpoint": "https://r.openai.azure.com/openai"}, {}, "https://r.openai.azure.com"),
    ("azure_openai", {"deployment": "d"}, {"azure_openai": "http://sim:1"}, "http://sim:1"),
])
def test_base_url_precedence(make, provider_id, metadata, overrides, expected):
    provider = make(provider_id, ProviderSettings(base_urls=overrides), **metadata)
    assert provider.base_url == expected


def test_azure_without_endpoint_says_how_to_fix(make):
    provider = make("azure_openai", deployment="d")
    with pytest.raises(errors.BadRequestError, match="endpoint"):
        _ = provider.base_url
    result = provider.check_key()
    assert (result.ok, result.status) == (False, "error") and "endpoint" in result.message


def test_sessions_are_pooled_per_provider_class(make):
    a, b = make("openai"), make("openai")
    assert a.session is b.session
    assert a.session is not make("anthropic").session


def test_injected_session_and_timeouts_are_used(mock, monkeypatch):
    seen = {}
    session = requests.Session()
    original = session.get_adapter

    def spy(url):
        adapter = original(url)
        send = adapter.send

        def send_spy(request, **kwargs):
            seen.update(kwargs)
            return send(request, **kwargs)
        monkeypatch.setattr(adapter, "send", send_spy)
        return adapter
    monkeypatch.setattr(session, "get_adapter", spy)
    mock.add(responses.GET, "https://api.openai.com/v1/models", json={"data": []})
    provider = OpenAIProvider(Credentials(Secret(KEYS["openai"])), ProviderSettings(Timeouts(3.0, 44.0)), session)
    assert provider.check_key().ok
    assert seen["timeout"] == (3.0, 44.0)


@pytest.mark.parametrize("exc, cls, status", [
    (requests.exceptions.ConnectTimeout("connect timed out"), errors.UpstreamTimeoutError, "timeout"),
    (requests.exceptions.ReadTimeout("read timed out"), errors.UpstreamTimeoutError, "timeout"),
    (requests.exceptions.ConnectionError("Connection refused"), errors.UpstreamConnectionError, "unreachable"),
])
def test_transport_failures(mock, make, exc, cls, status):
    mock.add(responses.POST, "https://api.openai.com/v1/chat/completions", body=exc)
    mock.add(responses.GET, "https://api.openai.com/v1/models", body=exc)
    with pytest.raises(cls) as info:
        make("openai").chat(HI)
    assert info.value.message.startswith("OpenAI: ") and info.value.retryable
    result = make("openai").check_key()
    assert (result.ok, result.status) == (False, status)


def test_transport_error_text_is_scrubbed(mock, make):
    mock.add(responses.POST, "https://api.openai.com/v1/chat/completions",
             body=requests.exceptions.ConnectionError(f"proxy said Bearer {KEYS['openai']}"))
    with pytest.raises(errors.UpstreamConnectionError) as info:
        make("openai").chat(HI)
    assert KEYS["openai"] not in info.value.message


@pytest.mark.parametrize("status, body, expected", [
    (429, {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}}, "rate_limited"),
    (429, {"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}},
     "quota_exhausted"),
    (403, {"error": {"message": "Missing scopes: model.read", "type": "invalid_request_error"}}, "no_access"),
    (500, {"error": {"message": "server", "type": "server_error"}}, "error"),
])
def test_key_check_verdicts(mock, make, status, body, expected):
    mock.add(responses.GET, "https://api.openai.com/v1/models", json=body, status=status,
             headers={"retry-after": "3"})
    result = make("openai").check_key()
    assert (result.ok, result.status, result.status_code) == (False, expected, status)
    assert result.message and result.details["provider"] == "openai"


def test_key_check_never_raises_on_unexpected_failures(make, monkeypatch):
    provider = make("openai")
    monkeypatch.setattr(provider, "_probe_key", lambda: 1 / 0)
    result = provider.check_key()
    assert (result.ok, result.status) == (False, "error")


def test_non_json_success_body_is_a_server_error(mock, make):
    mock.add(responses.POST, "https://api.openai.com/v1/chat/completions", body="not json", status=200)
    with pytest.raises(errors.UpstreamServerError, match="not a JSON object"):
        make("openai").chat(HI)


def test_stream_chunks_are_yielded_as_they_arrive(mock, make, monkeypatch):
    pieces = [b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n', b"\n",
              b'data: {"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}]}\n\n',
              b"data: [DONE]\n\n"]
    delivered: list[bytes] = []

    def iter_content(self, chunk_size=None) -> Iterator[bytes]:
        for piece in pieces:
            delivered.append(piece)
            yield piece
    monkeypatch.setattr(requests.Response, "iter_content", iter_content)
    add_stream(mock, "https://api.openai.com/v1/chat/completions", b"")
    gen = make("openai").stream(HI)
    assert next(gen).content == "a" and len(delivered) == 2
    assert next(gen).content == "b" and len(delivered) == 3
    assert [c.finish_reason for c in gen] == ["stop"]


def test_connection_dropped_mid_stream_is_incomplete(mock, make, monkeypatch, closes):
    def iter_content(self, chunk_size=None) -> Iterator[bytes]:
        yield b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
        raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
    monkeypatch.setattr(requests.Response, "iter_content", iter_content)
    add_stream(mock, "https://api.openai.com/v1/chat/completions", b"")
    gen = make("openai").stream(HI)
    assert next(gen).content == "a"
    with pytest.raises(errors.IncompleteStreamError, match="interrupted"):
        next(gen)
    assert len(closes) == 1


def test_http_error_before_stream_closes_response(mock, make, closes):
    add_stream(mock, "https://api.openai.com/v1/chat/completions",
               b'{"error":{"message":"bad key","code":"invalid_api_key"}}', status=401)
    with pytest.raises(errors.InvalidKeyError):
        collect(make("openai").stream(HI))
    assert len(closes) == 1


def test_estimate_usage_is_flagged():
    usage = base.estimate_usage(["abcd", "abcdefgh", ""])
    assert (usage.prompt_tokens, usage.total_tokens, usage.estimated) == (4, 4, True)


def test_stream_with_only_done_and_no_content(mock, make):
    add_stream(mock, "https://api.openai.com/v1/chat/completions", sse("[DONE]"))
    resp = collect(make("openai").stream(HI))
    assert (resp.content, resp.finish_reason) == ("", "stop")


def test_redirects_are_not_followed_so_key_headers_stay_home(mock, make):
    mock.add(responses.GET, "https://api.anthropic.com/v1/models", status=307,
             headers={"location": "https://evil.example/steal"})
    result = make("anthropic").check_key()
    assert (result.ok, result.status, result.status_code) == (False, "error", 307)
    assert len(mock.calls) == 1

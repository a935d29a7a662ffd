"""The one classification table, retry hints and message scrubbing."""
from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timezone

import pytest

import errors
from providers import errormap
from providers.errormap import UpstreamErrorInfo, classify, classify_class
from secret import Secret


@pytest.mark.parametrize("info, provider, cls", [
    (UpstreamErrorInfo(401), "openai", errors.InvalidKeyError),
    (UpstreamErrorInfo(400, code="API_KEY_INVALID"), "google_gemini", errors.InvalidKeyError),
    (UpstreamErrorInfo(403, type="PERMISSION_DENIED"), "google_gemini", errors.InvalidKeyError),
    (UpstreamErrorInfo(403, type="permission_error"), "anthropic", errors.NoAccessError),
    (UpstreamErrorInfo(403), "openai", errors.NoAccessError),
    (UpstreamErrorInfo(401, code="1003"), "glm_4_6", errors.InvalidKeyError),
    (UpstreamErrorInfo(429, type="RESOURCE_EXHAUSTED"), "google_gemini", errors.RateLimitError),
    (UpstreamErrorInfo(429, code="quota_exceeded_per_day"), "google_gemini", errors.QuotaExhaustedError),
    (UpstreamErrorInfo(402), "deepseek", errors.QuotaExhaustedError),
    (UpstreamErrorInfo(429, code="1319"), "glm_4_6", errors.QuotaExhaustedError),
    (UpstreamErrorInfo(429, code="1313"), "glm_4_6", errors.RateLimitError),
    (UpstreamErrorInfo(None, type="overloaded_error"), "anthropic", errors.OverloadedError),
    (UpstreamErrorInfo(None, type="server_error"), "openai", errors.UpstreamServerError),
    (UpstreamErrorInfo(None), "openai", errors.UpstreamServerError),
    (UpstreamErrorInfo(418), "openai", errors.UpstreamBadRequestError),
    (UpstreamErrorInfo(502), "openai", errors.UpstreamServerError),
    (UpstreamErrorInfo(408), "openai", errors.UpstreamTimeoutError),
    (UpstreamErrorInfo(400, message="credit balance is too low"), "openai", errors.UpstreamBadRequestError),
])
def test_table(info, provider, cls):
    assert classify_class(info, provider) is cls


def test_rules_only_name_upstream_error_classes():
    assert all(issubclass(rule.error, errors.UpstreamError) for rule in errormap.RULES)


def test_classify_prefixes_scrubs_and_truncates():
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    err = classify(UpstreamErrorInfo(401, message=f"bad key {key} " + "x" * 2000), "openai", label="OpenAI",
                   secrets=[Secret(key)])
    assert err.message.startswith("OpenAI: bad key [REDACTED]") and key not in err.message
    assert len(err.message) < 700 and err.message.endswith("(HTTP 401)")
    assert (err.provider, err.upstream_status) == ("openai", 401)


def test_classify_without_message_still_says_something():
    err = classify(UpstreamErrorInfo(500), "deepseek", label="DeepSeek")
    assert err.message == "DeepSeek: request failed (HTTP 500)"


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_retry_after_headers(headers, expected):
    assert errormap.retry_after_from_headers(headers) == expected


def test_retry_after_http_date():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2026, 11, 25, 12, 0, 30, tzinfo=timezone.utc), usegmt=True)
    assert errormap.retry_after_from_headers({"retry-after": later}, now=now.timestamp()) == 30.0


@pytest.mark.parametrize("text, expected", [
    ("please try again after 3 seconds", 3.0),
    ("Please try again in 1.2s.", 1.2),
    ("Please try again in 20ms.", 0.02),
    ("Please retry after 6 seconds.", 6.0),
    ("no hint here", None),
])
def test_retry_after_from_text(text, expected):
    assert errormap.retry_after_from_text(text) == expected


@pytest.mark.parametrize("text, expected", [("37s", 37.0), ("57.23s", 57.23), ("0s", 0.0), ("x", None), (None, None)])
def test_parse_duration(text, expected):
    assert errormap.parse_duration(text) == expected


def test_text_retry_hint_only_for_retryable_classes():
    err = classify(UpstreamErrorInfo(400, message="try again after 3 seconds"), "kimi_k2")
    assert type(err) is errors.UpstreamBadRequestError and err.retry_after is None

"""One table that maps every provider failure onto the gateway's UpstreamError classes.

Provider modules only *extract* an UpstreamErrorInfo from their error body and headers; the
decision lives here, in RULES, first match wins. Choices worth knowing (see providers.md):

* 401 is always InvalidKeyError; so are Gemini `API_KEY_INVALID` (sent as 400) and Gemini 403
  `PERMISSION_DENIED` (no key, leaked or blocked key) and Zhipu codes 1000-1004. Any other 403
  (Anthropic `permission_error`, Moonshot `permission_denied_error`, Azure network rules) means
  the key works but may not do this: NoAccessError. Zhipu account states 1110-1121 also NoAccess.
* Quota (permanent, fall back, never retry): OpenAI `insufficient_quota`, Moonshot
  `exceeded_current_quota_error` (429 or 403), Anthropic 402 `billing_error` and 429
  `enforced_spend_limit_reached`, DeepSeek 402, Zhipu 1113 and the 13xx quota/plan codes.
* Gemini 429 `RESOURCE_EXHAUSTED` says "exceeded your current quota" even for per-minute limits
  and carries a RetryInfo delay, so it is a RateLimitError. Only when the gemini extractor finds
  a per-day quota or a quota value of 0 in QuotaFailure does it set code `quota_exceeded_per_day`
  and the error becomes QuotaExhaustedError (a retry within the request cannot help).
* Anthropic answers a 400 "credit balance is too low" when prepaid credit runs out: quota.
  Gemini 400 `FAILED_PRECONDITION` (region not supported, billing required): NoAccessError.
* Overloaded: 529, every 503, Anthropic `overloaded_error`, Moonshot `engine_overloaded_error`,
  Zhipu 1305. 504 / `timeout_error` / `DEADLINE_EXCEEDED` / 408 are UpstreamTimeoutError.
* Context length, content filter and model-not-found use codes where the provider has them and
  a few message patterns where it only has text (DeepSeek, Anthropic, Moonshot, Gemini).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Iterable, Mapping

import errors
from secret import Secret, scrub

MAX_MESSAGE = 600
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class UpstreamErrorInfo:
    """A provider failure normalised: HTTP status (None in-band), code, type, text, retry hint."""

    status: int | None
    code: str | None = None
    type: str | None = None
    message: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class Rule:
    """One row: every criterion given must hold (empty = any)."""

    error: type[errors.UpstreamError]
    status: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None
    providers: frozenset[str] = frozenset()

    def matches(self, info: UpstreamErrorInfo, provider: str) -> bool:
        """True if this row applies to the error."""
        return ((not self.status or info.status in self.status)
                and (not self.codes or (info.code or "") in self.codes)
                and (not self.types or (info.type or "") in self.types)
                and (not self.providers or provider in self.providers)
                and (self.pattern is None or bool(self.pattern.search(info.message or ""))))


def _r(error: type[errors.UpstreamError], *, status: Iterable[int] = (), codes: Iterable[str] = (),
       types: Iterable[str] = (), pattern: str | None = None, providers: Iterable[str] = ()) -> Rule:
    return Rule(error, frozenset(status), frozenset(codes), frozenset(types),
                re.compile(pattern, re.I) if pattern else None, frozenset(providers))


_ZHIPU_QUOTA = ["1113", "1304", "1308", "1309", "1310", "1311", "1314", "1315", *map(str, range(1316, 1322))]

RULES: tuple[Rule, ...] = (
    _r(errors.InvalidKeyError, codes=["API_KEY_INVALID", "1000", "1001", "1002", "1003", "1004"]),
    _r(errors.InvalidKeyError, status=[401]),
    _r(errors.InvalidKeyError, status=[403], types=["PERMISSION_DENIED"], providers=["google_gemini"]),
    _r(errors.InvalidKeyError, status=[400], pattern=r"API key (not valid|expired)", providers=["google_gemini"]),
    _r(errors.NoAccessError, codes=["1110", "1111", "1112", "1120", "1121", "1220", "1221", "1222"]),
    _r(errors.QuotaExhaustedError, codes=["insufficient_quota", "enforced_spend_limit_reached",
                                          "quota_exceeded_per_day", *_ZHIPU_QUOTA]),
    _r(errors.QuotaExhaustedError, types=["insufficient_quota", "exceeded_current_quota_error", "billing_error"]),
    _r(errors.QuotaExhaustedError, status=[402]),
    _r(errors.QuotaExhaustedError, status=[400], pattern=r"credit balance is too low|reached your specified API usage limits",
       providers=["anthropic"]),
    _r(errors.ContentFilterError, codes=["content_filter", "content_policy_violation", "invalid_prompt",
                                         "ResponsibleAIPolicyViolation", "1301"]),
    _r(errors.ContentFilterError, types=["content_filter"]),
    _r(errors.ContentFilterError, pattern=r"Content Exists Risk"),
    _r(errors.ContextLengthError, codes=["context_length_exceeded", "1261"]),
    _r(errors.ContextLengthError, pattern=r"prompt is too long|exceed context limit|input token count.*exceeds"
                                          r"|maximum context length|exceeded model token limit"
                                          r"|input token length too long"),
    _r(errors.ModelNotFoundError, codes=["model_not_found", "DeploymentNotFound", "1211"]),
    _r(errors.ModelNotFoundError, types=["resource_not_found_error", "not_found_error", "NOT_FOUND"]),
    _r(errors.ModelNotFoundError, pattern=r"Model Not Exist"),
    _r(errors.ModelNotFoundError, status=[404]),
    _r(errors.OverloadedError, status=[503, 529]),
    _r(errors.OverloadedError, codes=["1305"]),
    _r(errors.OverloadedError, types=["overloaded_error", "engine_overloaded_error", "UNAVAILABLE"]),
    _r(errors.RateLimitError, status=[429]),
    _r(errors.RateLimitError, codes=["1302", "1303", "1313", "rate_limit_exceeded"]),
    _r(errors.RateLimitError, types=["rate_limit_error", "rate_limit_reached_error", "RESOURCE_EXHAUSTED"]),
    _r(errors.NoAccessError, status=[403]),
    _r(errors.NoAccessError, types=["FAILED_PRECONDITION"], providers=["google_gemini"]),
    _r(errors.NoAccessError, types=["permission_error", "permission_denied_error", "PERMISSION_DENIED"]),
    _r(errors.InvalidKeyError, types=["authentication_error", "invalid_authentication_error",
                                      "incorrect_api_key_error", "UNAUTHENTICATED"]),
    _r(errors.UpstreamTimeoutError, status=[408, 504]),
    _r(errors.UpstreamTimeoutError, types=["timeout_error", "DEADLINE_EXCEEDED"]),
    _r(errors.UpstreamServerError, types=["server_error", "api_error", "INTERNAL"]),
)


def classify_class(info: UpstreamErrorInfo, provider: str) -> type[errors.UpstreamError]:
    """The error class for a failure: the first matching rule, else by status family."""
    for rule in RULES:
        if rule.matches(info, provider):
            return rule.error
    if info.status is not None and 400 <= info.status < 500:
        return errors.UpstreamBadRequestError
    return errors.UpstreamServerError


def classify(info: UpstreamErrorInfo, provider: str, *, label: str | None = None,
             secrets: Iterable[str | Secret] = ()) -> errors.UpstreamError:
    """Build the gateway error for a provider failure, its message scrubbed and prefixed."""
    cls = classify_class(info, provider)
    retry_after = info.retry_after
    if retry_after is None and cls in (errors.RateLimitError, errors.OverloadedError):
        retry_after = retry_after_from_text(info.message)
    return cls(describe(info, label or provider, secrets=secrets), provider=provider,
               upstream_status=info.status, retry_after=retry_after)


def describe(info: UpstreamErrorInfo, label: str, *, secrets: Iterable[str | Secret] = ()) -> str:
    """A human-readable, scrubbed message such as 'OpenAI: Rate limit reached (HTTP 429)'."""
    text = " ".join((info.message or "").split()) or (info.type or info.code or "request failed")
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "…"
    suffix = f" (HTTP {info.status})" if info.status else ""
    return scrub(f"{label}: {text}{suffix}", list(secrets))


_RETRY_TEXT = re.compile(r"(?:try again|retry) (?:after|in) (\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?)\b", re.I)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def retry_after_from_text(message: str | None) -> float | None:
    """Seconds from prose like 'try again after 3 seconds' (Moonshot) or 'try again in 1.2s'."""
    match = _RETRY_TEXT.search(message or "")
    if not match:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2).lower() == "ms" else value


def parse_duration(text: str | None) -> float | None:
    """Seconds from a protobuf Duration string such as '37s' or '57.23s' (Gemini RetryInfo)."""
    match = _DURATION.match(text or "")
    return float(match.group(1)) if match else None


def retry_after_from_headers(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from retry-after-ms, else retry-after (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


def error_object(body: Any) -> dict[str, Any] | None:
    """The `error` object of an error body, unwrapping Google's one-element array."""
    if isinstance(body, list) and body:
        body = body[0]
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else None


def fallback_message(body: Any) -> str:
    """Some text for bodies without an error object (HTML pages, `{"msg": ...}` gateways)."""
    if isinstance(body, dict):
        return str(body.get("message") or body.get("msg") or body.get("error") or "")
    return _TAGS.sub(" ", body) if isinstance(body, str) else ""

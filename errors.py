"""The gateway's one error tree, and the one place that renders errors as JSON.

GatewayError                      500 server_error
├── BadRequestError               400 invalid_request_error
│   ├── UnknownProviderError      400
│   └── NoUsableProviderError     400 (says which key to configure)
├── AuthenticationError           401 authentication_error
├── PermissionDeniedError         403 permission_error
├── NotFoundError                 404 not_found_error
├── PayloadTooLargeError          413 request_too_large
├── UnsupportedMediaTypeError     415 invalid_request_error
├── LimitExceededError            429 rate_limit_exceeded (the gateway's own budgets and throttles)
└── UpstreamError                 502 upstream_error (a provider failed; see .retryable / .fallback)
    ├── InvalidKeyError           the stored provider key was refused
    ├── NoAccessError             key valid, but no access to the model or deployment
    ├── RateLimitError            429 from the provider; retryable, honours retry_after
    ├── QuotaExhaustedError       out of credit; not retryable, fall back
    ├── OverloadedError           529 / 503 / Zhipu 1305; retryable
    ├── ContextLengthError        prompt too long for the model; fall back to a larger window
    ├── ContentFilterError        refused by the provider's safety system; final
    ├── ModelNotFoundError        unknown model or deployment
    ├── UpstreamBadRequestError   other 4xx from the provider; final
    ├── UpstreamServerError       5xx; retryable
    ├── UpstreamTimeoutError      connect or read deadline; retryable
    │   └── FirstTokenTimeoutError  a stream's first token came too late; fall back, no retry
    ├── UpstreamConnectionError   refused or reset; retryable
    ├── IncompleteStreamError     a stream ended without its terminator or finish reason
    └── UnsupportedOperationError the provider has no such endpoint (e.g. embeddings)
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from secret import scrub

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    status_code = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str = "Internal server error", *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}


class BadRequestError(GatewayError):
    """The request is malformed or refers to something that cannot exist."""
    status_code, type, code = 400, "invalid_request_error", "bad_request"


class UnknownProviderError(BadRequestError):
    """A provider id outside the catalogue."""
    code = "unknown_provider"


class NoUsableProviderError(BadRequestError):
    """No stored key can serve this request."""
    code = "no_usable_provider"


class AuthenticationError(GatewayError):
    """Missing or invalid gateway credentials."""
    status_code, type, code = 401, "authentication_error", "invalid_token"


class PermissionDeniedError(GatewayError):
    """Authenticated, but not allowed to touch this user's data."""
    status_code, type, code = 403, "permission_error", "forbidden"


class NotFoundError(GatewayError):
    """No such route or resource."""
    status_code, type, code = 404, "not_found_error", "not_found"


class PayloadTooLargeError(GatewayError):
    """The body exceeds the configured limit."""
    status_code, type, code = 413, "request_too_large", "payload_too_large"


class UnsupportedMediaTypeError(GatewayError):
    """The body is not JSON where JSON is required."""
    status_code, type, code = 415, "invalid_request_error", "unsupported_media_type"


class LimitExceededError(GatewayError):
    """A gateway budget, rate limit or auth throttle refused the request."""
    status_code, type, code = 429, "rate_limit_exceeded", "rate_limit_exceeded"


class UpstreamError(GatewayError):
    """A provider call failed; the subclass says whether to retry or fall back."""

    status_code, type, code = 502, "upstream_error", "upstream_error"
    retryable = False
    fallback = True

    def __init__(self, message: str = "Upstream provider error", *, provider: str = "",
                 upstream_status: int | None = None, retry_after: float | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after = retry_after


class InvalidKeyError(UpstreamError):
    """The provider refused the stored key."""
    code = "invalid_provider_key"


class NoAccessError(UpstreamError):
    """The key is valid but may not use this model or deployment."""
    code = "no_access"


class RateLimitError(UpstreamError):
    """The provider rate-limited the request; worth one retry."""
    status_code, type, code, retryable = 429, "rate_limit_exceeded", "upstream_rate_limited", True


class QuotaExhaustedError(UpstreamError):
    """The provider account is out of credit; never retried."""
    status_code, type, code = 429, "insufficient_quota", "insufficient_quota"


class OverloadedError(UpstreamError):
    """The provider is overloaded; worth one retry."""
    status_code, code, retryable = 503, "upstream_overloaded", True


class ContextLengthError(UpstreamError):
    """The prompt does not fit the model's window."""
    status_code, type, code = 400, "invalid_request_error", "context_length_exceeded"


class ContentFilterError(UpstreamError):
    """The provider's safety system refused the prompt or answer."""
    status_code, type, code, fallback = 400, "invalid_request_error", "content_filter", False


class ModelNotFoundError(UpstreamError):
    """The provider does not know this model or deployment."""
    status_code, type, code = 404, "invalid_request_error", "model_not_found"


class UpstreamBadRequestError(UpstreamError):
    """Another 4xx from the provider; the request itself is at fault."""
    status_code, type, code, fallback = 400, "invalid_request_error", "upstream_bad_request", False


class UpstreamServerError(UpstreamError):
    """A 5xx from the provider."""
    code, retryable = "upstream_server_error", True


class UpstreamTimeoutError(UpstreamError):
    """The provider did not answer in time."""
    status_code, code, retryable = 504, "upstream_timeout", True


class FirstTokenTimeoutError(UpstreamTimeoutError):
    """A stream produced no content before the first-token deadline: fall back at once."""
    code, retryable = "first_token_timeout", False


class UpstreamConnectionError(UpstreamError):
    """The provider could not be reached."""
    code, retryable = "upstream_unreachable", True


class IncompleteStreamError(UpstreamError):
    """A stream ended without its terminator or finish reason."""
    code = "incomplete_stream"


class UnsupportedOperationError(UpstreamError):
    """The provider has no endpoint for this operation."""
    status_code, type, code, fallback = 400, "invalid_request_error", "unsupported_operation", True


_HTTP_MAP: dict[int, type[GatewayError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    405: BadRequestError, 413: PayloadTooLargeError, 415: UnsupportedMediaTypeError,
    429: LimitExceededError,
}


def from_http_exception(exc: HTTPException) -> GatewayError:
    """Translate a werkzeug HTTPException into the gateway tree (keeps its status)."""
    cls = _HTTP_MAP.get(exc.code or 500, GatewayError)
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}  # e.g. 405's Allow
    err = cls(exc.description or exc.name, code=exc.name.lower().replace(" ", "_"), headers=headers)
    err.status_code = exc.code or 500
    return err


def body_for(err: GatewayError, path: str) -> dict[str, Any]:
    """The JSON body for an error: OpenAI's shape under /v1, the ATOM envelope elsewhere.

    The message is scrubbed here, once for every error: some echo request input (a provider id
    from the URL) or upstream text, and a key pasted there must not come back.
    """
    message = scrub(err.message)
    if path.startswith("/v1/") or path == "/v1":
        return {"error": {"message": message, "type": err.type, "code": err.code,
                          "param": getattr(err, "param", None)}}
    return {"success": False, "error": message, "code": err.code}


def render(err: GatewayError):
    """Render an error as a JSON response for the current request path."""
    resp = jsonify(body_for(err, request.path))
    resp.status_code = err.status_code
    for name, value in err.headers.items():
        resp.headers[name] = value
    return resp


def register_error_handlers(app: Flask) -> None:
    """Install the single JSON error renderer for gateway errors, HTTP errors and crashes."""
    app.register_error_handler(GatewayError, render)
    app.register_error_handler(HTTPException, lambda e: render(from_http_exception(e)))

    def _crash(exc: Exception):
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return render(GatewayError("Internal server error"))

    app.register_error_handler(Exception, _crash)

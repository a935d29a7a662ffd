"""Fault names and how an error kind becomes a provider's real error reply.

Scriptable faults (``"fault": <name>`` in a script entry):

* HTTP errors with the provider's real status and body (``simulator.error_bodies``):
  ``rate_limit`` (options ``retry_after`` s / ``retry_after_ms`` headers; Gemini: a RetryInfo
  ``retryDelay`` detail instead), ``quota`` (Anthropic option ``variant: "billing"`` = 402),
  ``overloaded``, ``server_error``, ``context_length``, ``content_filter`` (Anthropic and Gemini:
  HTTP 200 refusal / promptFeedback), ``model_not_found``, ``invalid_key``;
* connection faults: ``reset`` (RST before any header), ``hang`` (silence until the client
  leaves, at most ``hang_s`` (default and cap 60) seconds, then close);
* stream faults, after ``after_chunks`` content chunks (default half): ``cut`` (close without
  terminator), ``stall`` (silence ``stall_s`` s, default 30, then close), ``malformed_chunk``
  (one invalid-JSON event, then the stream continues), ``no_done`` (finish + usage, no
  terminator), ``midstream_error`` (an in-band error event, then the stream ends).

Besides these, kinds ``missing_key``, ``not_found`` and ``bad_request`` answer requests without a
key, unknown endpoints and unparsable bodies.
"""
from __future__ import annotations

import functools
import uuid

from simulator.error_bodies import ANTHROPIC_BILLING, TABLE

HTTP_FAULTS = frozenset({"rate_limit", "quota", "overloaded", "server_error", "context_length",
                         "content_filter", "model_not_found", "invalid_key"})
CONNECTION_FAULTS = frozenset({"reset", "hang"})
STREAM_FAULTS = frozenset({"cut", "stall", "malformed_chunk", "no_done", "midstream_error"})
FAULTS = HTTP_FAULTS | CONNECTION_FAULTS | STREAM_FAULTS

# Providers whose content filter is an HTTP-200 reply built by the wire family, not an error.
IN_BAND_CONTENT_FILTER = frozenset({"anthropic", "gemini"})


def mask_key(key: str) -> str:
    """OpenAI's echo of a wrong key: first five characters, stars, last two."""
    return f"{key[:5]}***{key[-2:]}" if len(key) >= 8 else "***"


def _fill(value, ctx: dict):
    """Format every string in a template with ctx."""
    if isinstance(value, str):
        return value.format_map(ctx) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ctx) for v in value]
    return value


def _retry_headers(opts: dict) -> list:
    """retry-after / retry-after-ms headers requested by a script entry."""
    headers = []
    if opts.get("retry_after") is not None:
        headers.append(("retry-after", str(opts["retry_after"])))
    if opts.get("retry_after_ms") is not None:
        headers.append(("retry-after-ms", str(opts["retry_after_ms"])))
    return headers


def _gemini_retry_info(body: dict, opts: dict) -> None:
    """Gemini sends no Retry-After header; the delay is a RetryInfo detail instead."""
    seconds = opts.get("retry_after")
    if seconds is None and opts.get("retry_after_ms") is not None:
        seconds = opts["retry_after_ms"] / 1000
    if seconds is not None:
        body["error"].setdefault("details", []).append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"})


def error_reply(provider: str, kind: str, *, ctx: dict, opts: dict | None = None) -> tuple:
    """(status, body, headers) of a provider's real error for a fault kind."""
    opts = opts or {}
    if kind == "quota" and provider == "anthropic" and opts.get("variant") == "billing":
        status, template = ANTHROPIC_BILLING
    else:
        status, template = TABLE[kind][provider]
    key = ctx.get("key") or ""
    values = {"model": "", "version": "v1beta", "path": "", "detail": "Invalid request",
              **ctx, "masked": mask_key(key), "last4": key[-4:],
              "retry": opts.get("retry_after", 1), "request_id": f"req_sim{uuid.uuid4().hex[:20]}"}
    body = _fill(template, values)
    if provider == "gemini":
        if kind in ("rate_limit", "quota"):
            _gemini_retry_info(body, opts)
        return status, body, []
    return status, body, _retry_headers(opts)


@functools.cache
def inband_error(provider: str, kind: str) -> dict:
    """The error body a provider sends inside a stream (cached: it never varies)."""
    return error_reply(provider, kind, ctx={})[1]

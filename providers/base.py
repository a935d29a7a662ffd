"""The Provider base: HTTP sending, timeouts, SSE, error mapping and key checks live here once."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator, Mapping

import orjson
import requests

import errors
from providers import errormap, http
from providers.errormap import UpstreamErrorInfo
from providers.deadlines import FirstTokenTimeout, LiveStream
from providers.sse import ServerSentEvent, SSEDecoder, iter_events
from providers.types import (ChatRequest, ChatResponse, Credentials, EmbeddingRequest, EmbeddingResult,
                             KeyCheckResult, KeyStatus, ProviderSettings, StreamChunk, Usage)
from secret import scrub

log = logging.getLogger(__name__)

USER_AGENT = "byok-gateway/1.0"
def estimate_usage(texts: Iterable[str]) -> Usage:
    """A rough token count (about 4 characters a token), flagged as estimated."""
    tokens = sum(max(1, -(-len(text) // 4)) for text in texts)
    return Usage(prompt_tokens=tokens, total_tokens=tokens, estimated=True)


@dataclass(frozen=True)
class HttpCall:
    """Where and what to send for one upstream call (path is relative to base_url)."""

    path: str
    body: dict[str, Any]
    params: dict[str, str] | None = None


@dataclass
class StreamState:
    """What a stream parser learned so far; the base turns it into the final chunk."""

    terminated: bool = False
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None

    def note(self, *, model: str | None = None, id: str | None = None) -> None:
        """Remember the first non-empty model and id seen."""
        self.model = self.model or model or None
        self.id = self.id or id or None


_KEY_STATUS: dict[type[errors.UpstreamError], tuple[KeyStatus, str]] = {
    errors.InvalidKeyError: ("invalid_key", "The provider rejected this key"),
    errors.NoAccessError: ("no_access", "The key is valid but has no access to this resource"),
    errors.QuotaExhaustedError: ("quota_exhausted", "The key is valid but the account is out of credit or quota"),
    errors.RateLimitError: ("rate_limited", "The provider is rate-limiting this key; try again shortly"),
    errors.UpstreamTimeoutError: ("timeout", "The provider did not answer in time"),
    errors.UpstreamConnectionError: ("unreachable", "The provider could not be reached"),
}


class Provider:
    """One upstream LLM API. Subclasses translate; sending, SSE and errors are handled here."""

    id: ClassVar[str]
    label: ClassVar[str]
    default_base_url: ClassVar[str] = ""

    def __init__(self, credentials: Credentials, settings: ProviderSettings | None = None,
                 session: requests.Session | None = None) -> None:
        self.credentials = credentials
        self.settings = settings or ProviderSettings()
        self.session = session or http.session_for(type(self))
        self.timeout = (self.settings.timeouts.connect, self.settings.timeouts.read)

    @property
    def base_url(self) -> str:
        """Per-key metadata base_url, else the operator's override, else the built-in default."""
        return self._resolve_base_url().rstrip("/")

    def _resolve_base_url(self) -> str:
        return (self.credentials.metadata.get("base_url") or self.settings.base_urls.get(self.id)
                or self._default_base_url())

    def _default_base_url(self) -> str:
        return self.default_base_url

    # -- public surface ----------------------------------------------------------------------

    def chat(self, req: ChatRequest) -> ChatResponse:
        """Send a chat request and return the complete answer."""
        call = self._chat_call(req, stream=False)
        return self._parse_chat(self._post_json(call.path, call.body, params=call.params))

    def stream(self, req: ChatRequest) -> Iterator[StreamChunk]:
        """Yield chunks as upstream sends them; the last one carries finish_reason and usage.

        The request goes out on the first next(): errors before the first byte raise there.
        Until the first content arrives the first-token deadline applies (wall clock, so
        keep-alive comments cannot stretch it); after it, the read timeout bounds each stall.
        """
        call = self._chat_call(req, stream=True)
        live = self._live = LiveStream(self.settings.timeouts)
        events = self._stream_events(call.path, call.body, params=call.params, live=live)
        state = StreamState()
        try:
            for chunk in self._parse_stream(events, state):
                if chunk.content or chunk.tool_calls:
                    live.first_content()
                yield chunk
        finally:
            events.close()
        if not (state.terminated or state.finish_reason):
            raise errors.IncompleteStreamError(
                f"{self.label}: the stream ended before the answer was complete", provider=self.id)
        yield StreamChunk(finish_reason=state.finish_reason or "stop", usage=state.usage,
                          model=state.model, id=state.id)

    def abort(self) -> None:
        """Cut this provider's in-flight stream (e.g. the client hung up); safe from any greenlet."""
        live = getattr(self, "_live", None)
        if live is not None:
            live.abort()

    def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        """Embed texts; providers without an embeddings API raise UnsupportedOperationError."""
        raise errors.UnsupportedOperationError(
            f"{self.label} has no embeddings API; use a provider that offers embeddings", provider=self.id)

    def check_key(self) -> KeyCheckResult:
        """Test the key with the provider's cheapest call; never raises."""
        try:
            self._probe_key()
        except errors.UpstreamError as exc:
            return self._key_failure(exc)
        except errors.GatewayError as exc:
            return KeyCheckResult(ok=False, status="error", message=self._scrub(exc.message),
                                  details={"provider": self.id})
        except Exception as exc:  # a key check must answer, whatever went wrong
            log.warning("%s key check failed unexpectedly: %s", self.id, type(exc).__name__)
            return KeyCheckResult(ok=False, status="error", details={"provider": self.id},
                                  message=f"{self.label}: unexpected error while checking the key")
        return KeyCheckResult(ok=True, status="ok", status_code=200, details={"provider": self.id},
                              message=f"{self.label} key is valid: API connection successful")

    # -- hooks for subclasses ----------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _chat_call(self, req: ChatRequest, *, stream: bool) -> HttpCall:
        raise NotImplementedError

    def _parse_chat(self, payload: dict[str, Any]) -> ChatResponse:
        raise NotImplementedError

    def _parse_stream(self, events: Iterator[ServerSentEvent], state: StreamState) -> Iterator[StreamChunk]:
        raise NotImplementedError

    def _probe_key(self) -> None:
        self._get_json("/models")

    def _error_info(self, body: Any, *, status: int | None, headers: Mapping[str, str]) -> UpstreamErrorInfo:
        """Extract the normalised error from an OpenAI-style `{"error": {...}}` body."""
        err = errormap.error_object(body)
        retry_after = errormap.retry_after_from_headers(headers)
        if err is None:
            return UpstreamErrorInfo(status, message=errormap.fallback_message(body), retry_after=retry_after)
        code = err.get("code")
        return UpstreamErrorInfo(status, code=None if code is None else str(code),
                                 type=err.get("type") or err.get("status"),
                                 message=str(err.get("message") or ""), retry_after=retry_after)

    # -- HTTP helpers ------------------------------------------------------------------------

    def _post_json(self, path: str, body: dict[str, Any], *, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._read_json(self._send("POST", path, body=body, params=params))

    def _get_json(self, path: str, *, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._read_json(self._send("GET", path, params=params))

    def _stream_events(self, path: str, body: dict[str, Any], *, params: dict[str, str] | None = None,
                       live: "LiveStream | None" = None) -> Iterator[ServerSentEvent]:
        live = live or LiveStream(self.settings.timeouts)
        resp = self._send("POST", path, body=body, params=params, stream=True, timeout=live.first_timeout())
        live.attach(resp)
        decoder = SSEDecoder()
        try:
            yield from iter_events(live.checked(resp.iter_content(chunk_size=None)), decoder)
        except requests.RequestException as exc:
            if live.waiting_first():
                raise self._transport_error(errors.FirstTokenTimeoutError, "no first token in time", exc) from None
            raise errors.IncompleteStreamError(
                f"{self.label}: the stream was interrupted ({type(exc).__name__})", provider=self.id) from None
        except FirstTokenTimeout:
            raise errors.FirstTokenTimeoutError(f"{self.label}: no first token within the deadline",
                                                provider=self.id) from None
        finally:
            resp.close()
        if decoder.ended_mid_event:
            log.warning("%s stream ended in the middle of an event", self.id)

    def _send(self, method: str, path: str, *, body: dict[str, Any] | None = None,
              params: dict[str, str] | None = None, stream: bool = False,
              timeout: tuple[float, float] | None = None) -> requests.Response:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "Accept": "text/event-stream" if stream else "application/json", **self._auth_headers()}
        try:
            prepared = http.prepare(method, self.base_url + path, headers=headers, body=body,
                                    params=params)
            resp = http.send(self.session, prepared, stream=stream, timeout=timeout or self.timeout)
        except requests.Timeout as exc:
            raise self._transport_error(errors.UpstreamTimeoutError, "request timed out", exc) from None
        except requests.RequestException as exc:
            raise self._transport_error(errors.UpstreamConnectionError, "could not connect", exc) from None
        if resp.status_code >= 300:
            try:
                raise self._http_error(resp)
            finally:
                resp.close()
        return resp

    def _read_json(self, resp: requests.Response) -> dict[str, Any]:
        try:
            payload = orjson.loads(resp.content)
        except (orjson.JSONDecodeError, requests.RequestException):
            payload = None
        finally:
            resp.close()
        if not isinstance(payload, dict):
            raise errors.UpstreamServerError(f"{self.label}: the answer was not a JSON object",
                                             provider=self.id, upstream_status=resp.status_code)
        return payload

    def _load_event(self, event: ServerSentEvent) -> dict[str, Any] | None:
        """Parse one event's JSON; skip (with a warning) anything malformed."""
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            log.warning("%s: skipped a stream event with malformed JSON (%d bytes)", self.id, len(event.data))
            return None
        return payload

    def _http_error(self, resp: requests.Response) -> errors.UpstreamError:
        try:
            body: Any = orjson.loads(resp.content)
        except (orjson.JSONDecodeError, requests.RequestException):
            body = resp.text
        log.info("%s upstream answered HTTP %s", self.id, resp.status_code)
        return self._classify(self._error_info(body, status=resp.status_code, headers=resp.headers))

    def _inband_error(self, payload: dict[str, Any]) -> errors.UpstreamError:
        return self._classify(self._error_info(payload, status=None, headers={}))

    def _classify(self, info: UpstreamErrorInfo) -> errors.UpstreamError:
        return errormap.classify(info, self.id, label=self.label, secrets=[self.credentials.api_key])

    def _transport_error(self, cls: type[errors.UpstreamError], what: str,
                         exc: requests.RequestException) -> errors.UpstreamError:
        detail = self._scrub(str(exc))[:300]
        return cls(f"{self.label}: {what} ({type(exc).__name__}: {detail})", provider=self.id)

    def _key_failure(self, exc: errors.UpstreamError) -> KeyCheckResult:
        status, summary = _KEY_STATUS.get(type(exc), ("error", "The key check failed"))
        details: dict[str, Any] = {"provider": self.id, "error": exc.code}
        if exc.retry_after is not None:
            details["retry_after"] = exc.retry_after
        return KeyCheckResult(ok=False, status=status, message=self._scrub(f"{summary}. {exc.message}"),
                              status_code=exc.upstream_status, details=details)

    def _scrub(self, text: str) -> str:
        return scrub(text, [self.credentials.api_key])


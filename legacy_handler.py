"""Shared mechanics of ATOM's original handler classes (GLM-4.6, Kimi K2), built on the adapters.

The handlers keep the original attributes and dict shapes (contract §4); every upstream call goes
through `providers.build_provider`. The key is never read from the environment: the vault
(`UserAPIKeyService` sets `api_key`) or the caller supplies it.

`chat_completion(stream=True)` opens the stream eagerly: a failure before the first chunk returns the
usual error dict; otherwise a `ChunkStream` yields `{"content", "finish_reason", "model"}` dicts (plus
`tool_calls` when the model calls a tool); the last has a finish_reason and `usage`; a failure
mid-stream ends it with `{"finish_reason": "error", "success": False, "error": ...}`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Mapping

import errors
from providers import build_provider, get_provider_class
from providers.base import Provider
from providers.openai_format import parse_tool_calls
from providers.types import (ChatRequest, ChatResponse, Credentials, EmbeddingRequest, Message, ProviderSettings,
                             StreamChunk, Timeouts, Tool, Usage)
from secret import Secret, scrub

log = logging.getLogger(__name__)

KEY_CHECK_TIMEOUT_S = 10.0   # the original's deadline for test_connection and get_models
ROLES = frozenset({"system", "user", "assistant", "tool"})
# The only chat_completion(**kwargs) sent upstream; others are dropped (logged by name). A json_schema
# response_format is sent as plain JSON mode (the schema itself is not sent).
ALLOWED_OPTIONS = ("top_p", "stop", "tools", "tool_choice", "response_format")
# Failures of the connection itself, not answers from the provider ("service error" in the original).
TRANSPORT = (errors.UpstreamTimeoutError, errors.UpstreamConnectionError, errors.IncompleteStreamError)
COST_LABEL = {"cost_unit": "USD per 1K tokens", "cost_is_estimate": True}


@dataclass(frozen=True)
class HandlerText:
    """The strings one handler puts in its messages."""

    name: str     # "GLM-4.6": prefix of every message
    vendor: str   # "Zhipu AI": details.provider of a successful key test
    family: str   # "GLM": "Failed to get GLM models", "not found in GLM model list"


def usage_dict(usage: Usage | None) -> dict[str, int]:
    """The original usage dict (OpenAI names), {} when the provider sent none."""
    return {} if usage is None else {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                                     "total_tokens": usage.total_tokens}


def content_text(content: Any) -> str | None:
    """Message content as text (OpenAI content-part lists are flattened)."""
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return content if content is None or isinstance(content, str) else str(content)


def to_message(raw: Mapping[str, Any]) -> Message:
    """An internal Message from an OpenAI-style message dict."""
    role = raw.get("role") if isinstance(raw, Mapping) else None
    if role not in ROLES:
        raise ValueError(f"unsupported message role {role!r}; expected one of {', '.join(sorted(ROLES))}")
    return Message(role=role, content=content_text(raw.get("content")),
                   tool_calls=parse_tool_calls(raw.get("tool_calls")),
                   tool_call_id=raw.get("tool_call_id"), name=raw.get("name"))


def to_tool(raw: Mapping[str, Any]) -> Tool:
    """A Tool from OpenAI's {"type": "function", "function": {...}} or a bare function dict."""
    fn = raw.get("function") or raw
    return Tool(name=fn["name"], description=fn.get("description") or "",
                parameters=fn.get("parameters") or {"type": "object", "properties": {}})


def to_tool_choice(raw: Any) -> str | dict | None:
    """'auto' | 'none' | 'required' pass through; a named function becomes {"name": f}."""
    return {"name": (raw.get("function") or raw)["name"]} if isinstance(raw, Mapping) else raw


def chat_request(model: str, messages: list[Mapping[str, Any]], max_tokens: int | None,
                 temperature: float | None, options: Mapping[str, Any]) -> ChatRequest:
    """A ChatRequest from the original arguments plus the allow-listed options."""
    ignored = sorted(set(options) - set(ALLOWED_OPTIONS))
    if ignored:
        log.warning("chat_completion ignored unsupported options: %s", ", ".join(ignored))
    stop = options.get("stop")
    response_format = options.get("response_format") or {}
    return ChatRequest(model=model, messages=[to_message(m) for m in messages], temperature=temperature,
                       max_tokens=max_tokens or None, top_p=options.get("top_p"),
                       stop=[stop] if isinstance(stop, str) else list(stop or []),
                       tools=[to_tool(t) for t in options.get("tools") or []],
                       tool_choice=to_tool_choice(options.get("tool_choice")),
                       json_mode=response_format.get("type") in ("json_object", "json_schema"))


def response_dict(resp: ChatResponse, model: str) -> dict[str, Any]:
    """The original non-stream success shape (plus tool_calls when the model called a tool)."""
    out: dict[str, Any] = {"success": True, "content": resp.content, "usage": usage_dict(resp.usage),
                           "model": resp.model or model, "finish_reason": resp.finish_reason}
    if resp.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                             for c in resp.tool_calls]
    return out


def chunk_dict(chunk: StreamChunk) -> dict[str, Any]:
    """One stream chunk as a dict; the final chunk (finish_reason set) also carries usage."""
    out: dict[str, Any] = {"content": chunk.content, "finish_reason": chunk.finish_reason, "model": chunk.model}
    if chunk.tool_calls:
        out["tool_calls"] = [{"index": d.index, "id": d.id, "type": "function",
                              "function": {"name": d.name, "arguments": d.arguments}} for d in chunk.tool_calls]
    if chunk.finish_reason is not None:
        out["usage"] = usage_dict(chunk.usage)
    return out


class ChunkStream(Iterator[dict[str, Any]]):
    """Chunk dicts from an open upstream stream; exhausting it, close() or `with` closes the response."""

    def __init__(self, chunks: Iterator[StreamChunk], first: StreamChunk,
                 failure: Callable[[Exception], dict[str, Any]]) -> None:
        self._chunks, self._first, self._failure = chunks, first, failure
        self._relay = self._run()

    def _run(self) -> Iterator[dict[str, Any]]:
        """Relay the chunks; a failure becomes a final error chunk; always close upstream."""
        try:
            yield chunk_dict(self._first)
            for chunk in self._chunks:
                yield chunk_dict(chunk)
        except Exception as exc:  # noqa: BLE001 - after the first chunk a failure is an explicit last chunk
            yield {"content": "", "finish_reason": "error", **self._failure(exc)}
        finally:
            self._chunks.close()

    def __next__(self) -> dict[str, Any]:
        """The next chunk dict."""
        return next(self._relay)

    def close(self) -> None:
        """Stop reading and close the upstream response (safe to call twice)."""
        self._relay.close()
        self._chunks.close()

    def __enter__(self) -> "ChunkStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LegacyHandler:
    """ATOM's handler API over one adapter; subclasses set the provider id, strings and model table."""

    provider_id: ClassVar[str]
    text: ClassVar[HandlerText]
    DEFAULT_MODEL: ClassVar[str]
    MODEL_TABLE: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init__(self) -> None:
        self.api_key: str = ""   # set by the vault (UserAPIKeyService) or the caller; never from env
        self.base_url: str = get_provider_class(self.provider_id).default_base_url
        self.default_model: str = self.DEFAULT_MODEL
        self.timeout: float = 60
        self._connect_timeout: float = Timeouts().connect
        self._metadata: dict[str, str] = {}
        self._derived_base_url = self.base_url

    def configure(self, *, metadata: Mapping[str, str] | None = None,
                  settings: ProviderSettings | None = None) -> None:
        """Apply per-key metadata (region, base_url) and operator settings (timeouts, base URL overrides)."""
        # Base URL order as in the adapters: per-key base_url > operator override > region > default;
        # a base_url the caller already changed on the instance is kept.
        meta = dict(metadata or {})
        if settings is not None:
            self._connect_timeout, self.timeout = settings.timeouts.connect, settings.timeouts.read
        if self.base_url == self._derived_base_url:
            adapter = get_provider_class(self.provider_id)
            region = (meta.get("region") or "cn").lower()
            override = settings.base_urls.get(self.provider_id) if settings is not None else None
            self.base_url = (meta.get("base_url") or override
                             or getattr(adapter, "region_base_urls", {}).get(region) or adapter.default_base_url)
            self._derived_base_url = self.base_url
        self._metadata = {k: v for k, v in meta.items() if k != "base_url"}

    # -- the original public methods ---------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        """Check the key with the adapter's free call (GET /models), never a paid completion."""
        name = self.text.name
        if not self.api_key:
            return {"success": False, "message": f"{name} API key not configured"}
        try:
            result = self._provider(min(self.timeout, KEY_CHECK_TIMEOUT_S)).check_key()
        except Exception as exc:  # noqa: BLE001 - a key test must answer
            return {"success": False, "message": f"{name} connection test error: {self._describe(exc)}"}
        if result.ok:
            return {"success": True, "message": f"{name} API connection successful", "status": "ok",
                    "details": {"model": self.default_model, "provider": self.text.vendor}}
        out = {"success": False, "message": f"{name} API test failed: {self._scrub(result.message)}",
               "status": result.status, "status_code": result.status_code}
        return {k: v for k, v in out.items() if v is not None}

    def chat_completion(self, messages: list[Mapping[str, Any]], model: str | None = None,
                        max_tokens: int | None = None, temperature: float = 0.7, stream: bool = False,
                        **kwargs: Any) -> dict[str, Any] | ChunkStream:
        """A chat answer dict, or with stream=True a ChunkStream (an error dict if it fails to start)."""
        if not self.api_key:
            return self._no_key()
        try:
            req = chat_request(model or self.default_model, messages, max_tokens, temperature, kwargs)
            provider = self._provider(self.timeout)
            if stream:
                return self._open_stream(provider, req)
            return response_dict(provider.chat(req), req.model)
        except Exception as exc:  # noqa: BLE001 - the original API answers with a dict, never raises
            return self._chat_failure(exc)

    def get_models(self) -> dict[str, Any]:
        """The provider's model list (GET /models, free)."""
        if not self.api_key:
            return self._no_key()
        family = self.text.family
        try:
            # No public list call on the adapters: _get_json is their shared GET with error mapping.
            payload = self._provider(min(self.timeout, KEY_CHECK_TIMEOUT_S))._get_json("/models")
        except Exception as exc:  # noqa: BLE001
            status = exc.upstream_status if isinstance(exc, errors.UpstreamError) else None
            if status:
                return {"success": False, "error": f"Failed to get {family} models: HTTP {status}",
                        "status_code": status}
            return {"success": False, "error": f"{family} models list error: {self._describe(exc)}"}
        return {"success": True, "models": list(payload.get("data") or [])}

    def get_model_info(self, model_name: str | None = None) -> dict[str, Any]:
        """Static model facts (context, estimated USD costs per 1K tokens, capabilities)."""
        name = model_name or self.default_model
        info = self.MODEL_TABLE.get(name)
        if info is None:
            return {"success": False, "error": f"Model {name} not found in {self.text.family} model list"}
        return {"success": True, "model": name,
                "model_info": {**info, "capabilities": list(info["capabilities"]), **COST_LABEL}}

    # -- shared mechanics --------------------------------------------------------------------

    def _embed(self, texts: list[str], model: str) -> dict[str, Any]:
        """Embeddings in the original shape (data objects in input order)."""
        if not self.api_key:
            return self._no_key()
        name = self.text.name
        try:
            result = self._provider(self.timeout).embed(EmbeddingRequest(model=model, inputs=list(texts)))
        except Exception as exc:  # noqa: BLE001
            return self._failure(exc, f"{name} embedding API error: ", f"{name} embedding error: ")
        data = [{"embedding": vector, "index": i, "object": "embedding"} for i, vector in enumerate(result.vectors)]
        return {"success": True, "embeddings": data, "usage": usage_dict(result.usage), "model": result.model or model}

    def _provider(self, read_timeout: float) -> Provider:
        """An adapter for the current key, base_url and timeouts (cheap: the HTTP session is shared)."""
        credentials = Credentials(Secret(self.api_key), {**self._metadata, "base_url": self.base_url})
        settings = ProviderSettings(timeouts=Timeouts(connect=self._connect_timeout, read=float(read_timeout)))
        return build_provider(self.provider_id, credentials, settings)

    def _open_stream(self, provider: Provider, req: ChatRequest) -> ChunkStream:
        """Start the stream and read its first chunk, so early failures surface as error dicts."""
        chunks = provider.stream(req)
        first = next(chunks)   # a generator that raised is already finished: its finally closed upstream
        return ChunkStream(chunks, first, self._chat_failure)

    def _chat_failure(self, exc: Exception) -> dict[str, Any]:
        """The original chat error dict: API error (with status_code), timeout, or service error."""
        name = self.text.name
        if isinstance(exc, errors.UpstreamTimeoutError):
            return {"success": False, "error": f"{name} API request timeout", "error_code": exc.code}
        return self._failure(exc, f"{name} API error: ", f"{name} service error: ")

    def _failure(self, exc: Exception, api_prefix: str, other_prefix: str) -> dict[str, Any]:
        """An error dict: provider-reported failures (HTTP or in-stream) get api_prefix, the rest other_prefix."""
        log.info("%s handler call failed: %s", self.provider_id, type(exc).__name__)
        if not isinstance(exc, errors.UpstreamError) or (exc.upstream_status is None and isinstance(exc, TRANSPORT)):
            return {"success": False, "error": other_prefix + self._describe(exc)}
        out = {"success": False, "error": api_prefix + self._scrub(exc.message), "status_code": exc.upstream_status,
               "error_code": exc.code}
        return {k: v for k, v in out.items() if v is not None}

    def _no_key(self) -> dict[str, Any]:
        """The original error for a missing key."""
        return {"success": False, "error": f"{self.text.name} API key not configured"}

    def _describe(self, exc: Exception) -> str:
        """Scrubbed text of an exception (gateway errors are already phrased for people)."""
        text = exc.message if isinstance(exc, errors.GatewayError) else f"{type(exc).__name__}: {exc}"
        return self._scrub(text)[:500]

    def _scrub(self, text: str) -> str:
        """Text with this key and anything key-shaped redacted."""
        return scrub(text, [self.api_key] if isinstance(self.api_key, (str, Secret)) else [])

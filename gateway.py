"""The gateway service: plan candidates, run attempts, stream, and record usage."""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Iterator

import catalogue
import router
from attempts import AttemptContext, AttemptRunner
from errors import BadRequestError, GatewayError, IncompleteStreamError, NoUsableProviderError
from ledger import UsageEvent, UsageLedger
from openai_wire import ChatCall
from providers import build_provider
from providers.types import (Credentials, EmbeddingRequest, ProviderSettings,
                             StreamChunk, Usage)
from router import Candidate
from user_api_key_service import UserAPIKeyService

UNUSABLE = frozenset({"invalid_key", "quota_exhausted", "no_access"})


@dataclasses.dataclass
class StreamStart:
    """A stream whose first content has arrived: safe to commit to this provider."""

    candidate: Candidate
    chunks: Iterator[StreamChunk]
    buffered: list[StreamChunk]
    ctx: AttemptContext
    features: router.RequestFeatures
    model_label: str
    reservation: Any = None
    abort: Callable[[], None] = lambda: None    # cuts the upstream stream from another greenlet


class Gateway:
    """Chat, streaming and embeddings over a user's stored keys."""

    def __init__(self, vault: UserAPIKeyService, ledger: UsageLedger, runner: AttemptRunner, *,
                 settings: ProviderSettings, stream_settings: ProviderSettings, limits=None) -> None:
        self.vault, self.ledger, self.runner = vault, ledger, runner
        self.settings, self.stream_settings, self.limits = settings, stream_settings, limits

    # -- planning -----------------------------------------------------------------------------
    def usable_keys(self, user_id: str) -> dict[str, Credentials]:
        """Providers with a decryptable key whose last test did not show it unusable."""
        return self.vault.usable_credentials(user_id, UNUSABLE)

    def plan(self, models: list[str], features: router.RequestFeatures,
             keys: dict[str, Credentials]) -> list[Candidate]:
        """The attempt chain: explicit models in order, 'auto' expanded by the router."""
        chain: list[Candidate] = []
        for item in models:
            if item == "auto":
                try:
                    chain += router.route(features, keys.keys())
                except router.NoRouteError as exc:
                    if not chain:
                        raise NoUsableProviderError(str(exc)) from None
            else:
                provider, _, model = item.partition("/")
                chain.append(Candidate(provider, model, "requested"))
        seen: set[tuple[str, str]] = set()
        return [c for c in chain if (c.provider, c.model) not in seen
                and not seen.add((c.provider, c.model))]

    def _start(self, user_id: str, call_models: list[str], features) -> tuple:
        ctx = AttemptContext(user_id=user_id, request_id=f"chatcmpl-{os.urandom(12).hex()}")
        keys = self.usable_keys(user_id)
        return ctx, keys, self.plan(call_models, features, keys)

    def list_models(self, user_id: str) -> dict[str, Any]:
        """OpenAI's model list for the providers this user holds working keys for."""
        data = [{"id": "auto", "object": "model", "created": 0, "owned_by": "byok-router"}]
        for provider in sorted(self.usable_keys(user_id)):
            data += [{"id": f"{provider}/{m.model}", "object": "model", "created": 0,
                      "owned_by": provider} for m in catalogue.models_for(provider)]
        return {"object": "list", "data": data}

    # -- chat ---------------------------------------------------------------------------------
    def chat(self, user_id: str, call: ChatCall):
        """Non-streaming chat; returns (response, candidate, ctx)."""
        features = _features(call)
        ctx, keys, chain = self._start(user_id, call.models, features)
        reservation = self._reserve(user_id, chain, features)

        def attempt(creds: Credentials, cand: Candidate):
            req = dataclasses.replace(call.request, model=cand.model)
            return build_provider(cand.provider, creds, self.settings).chat(req)

        try:
            resp, cand = self.runner.run(ctx, chain, keys, attempt)
        except GatewayError as err:
            self._record_failure(ctx, chain, err, streamed=False, reservation=reservation)
            raise
        self._record(ctx, cand, resp.model or cand.model, resp.usage, streamed=False,
                     reservation=reservation)
        return resp, cand, ctx

    def start_stream(self, user_id: str, call: ChatCall) -> StreamStart:
        """Try candidates until one produces its first content; fallback stops there."""
        features = _features(call)
        ctx, keys, chain = self._start(user_id, call.models, features)
        reservation = self._reserve(user_id, chain, features)

        def attempt(creds: Credentials, cand: Candidate):
            req = dataclasses.replace(call.request, model=cand.model)
            provider = build_provider(cand.provider, creds, self.stream_settings)
            chunks = provider.stream(req)
            return chunks, _first_content(chunks), provider.abort

        try:
            (chunks, buffered, abort), cand = self.runner.run(ctx, chain, keys, attempt)
        except GatewayError as err:
            self._record_failure(ctx, chain, err, streamed=True, reservation=reservation)
            raise
        model = next((c.model for c in buffered if c.model), None) or cand.model
        return StreamStart(cand, chunks, buffered, ctx, features, f"{cand.provider}/{model}",
                           reservation, abort)

    def finish_stream(self, start: StreamStart, usage: Usage | None, text_chars: int,
                      status: str, ttft_ms: float | None) -> None:
        """Record a stream's usage: the provider's own, or an estimate flagged as such."""
        if usage is None:
            usage = Usage(prompt_tokens=start.features.prompt_tokens,   # ~4 chars a token, rounded up
                          completion_tokens=-(-max(0, text_chars) // 4), estimated=True)
            usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        self._record(start.ctx, start.candidate, start.model_label.partition("/")[2], usage,
                     streamed=True, status=status, ttft_ms=ttft_ms,
                     reservation=start.reservation)

    # -- embeddings ---------------------------------------------------------------------------
    def embed(self, user_id: str, models: list[str], inputs: list[str], dimensions: int | None):
        """Embeddings through the first candidate that has them."""
        features = router.extract_features(inputs, embeddings=True)
        ctx, keys, chain = self._start(user_id, models, features)

        def attempt(creds: Credentials, cand: Candidate):
            req = EmbeddingRequest(model=cand.model, inputs=inputs, dimensions=dimensions)
            return build_provider(cand.provider, creds, self.settings).embed(req)

        try:
            result, cand = self.runner.run(ctx, chain, keys, attempt)
        except GatewayError as err:
            self._record_failure(ctx, chain, err, streamed=False, kind="embedding")
            raise
        self._record(ctx, cand, result.model or cand.model, result.usage, streamed=False,
                     kind="embedding")
        return result, cand

    # -- ledger -------------------------------------------------------------------------------
    def _record(self, ctx: AttemptContext, cand: Candidate, model: str, usage: Usage, *,
                streamed: bool, status: str = "ok", ttft_ms: float | None = None,
                kind: str = "chat", reservation=None) -> None:
        event = UsageEvent(user_id=ctx.user_id, provider=cand.provider, model=model, usage=usage,
                           kind=kind, route_reason=cand.reason, attempts=ctx.attempts,
                           latency_ms=(time.monotonic() - ctx.started) * 1000, ttft_ms=ttft_ms,
                           status=status, streamed=streamed, request_id=ctx.request_id)
        row = self.ledger.record(event)
        if self.limits is not None and reservation is not None:
            self.limits.settle(reservation, tokens=row["prompt_tokens"] + row["completion_tokens"],
                               cost_usd=row["cost_usd"])

    def _record_failure(self, ctx, chain, err: GatewayError, *, streamed: bool,
                        kind: str = "chat", reservation=None) -> None:
        cand = chain[0] if chain else Candidate("", "", "")
        self.ledger.record(UsageEvent(
            user_id=ctx.user_id, provider=cand.provider, model=cand.model, usage=Usage(),
            kind=kind, route_reason="; ".join(ctx.errors)[:300], attempts=ctx.attempts,
            latency_ms=(time.monotonic() - ctx.started) * 1000, status="error",
            error_code=str(err.code or "")[:48], streamed=streamed, request_id=ctx.request_id))
        if self.limits is not None and reservation is not None:
            self.limits.release(reservation)

    def _reserve(self, user_id: str, chain: list[Candidate], features) -> Any:
        if self.limits is None or not chain:
            return None
        return self.limits.reserve(user_id, chain, features)


def _features(call: ChatCall) -> router.RequestFeatures:
    return router.extract_features(call.raw_messages, max_tokens=call.request.max_tokens,
                                   tools=bool(call.request.tools))


def _first_content(chunks: Iterator[StreamChunk]) -> list[StreamChunk]:
    """Pull chunks until one carries content, a tool call or a finish reason."""
    buffered = []
    try:
        for chunk in chunks:
            buffered.append(chunk)
            if chunk.content or chunk.tool_calls or chunk.finish_reason:
                return buffered
    except BaseException:
        chunks.close()
        raise
    chunks.close()
    raise IncompleteStreamError("The provider closed the stream before any content")


def parse_embedding_input(raw: Any) -> list[str]:
    """'input' as a list of strings (token-id arrays are not supported)."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise BadRequestError("'input' must be a string or a non-empty list of strings",
                              code="invalid_request")
    if len(items) > 2048:
        raise BadRequestError("at most 2048 inputs per request", code="invalid_request")
    return items

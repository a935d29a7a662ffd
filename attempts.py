"""The attempt loop: retries with backoff, fallback across candidates, breakers, key marking."""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import catalogue
from breaker import CircuitBreaker
from errors import (ContentFilterError, ContextLengthError, GatewayError, InvalidKeyError,
                    NoAccessError, NoUsableProviderError, OverloadedError, QuotaExhaustedError,
                    UpstreamBadRequestError, UpstreamError)
from providers.types import Credentials, KeyCheckResult
from router import Candidate

log = logging.getLogger(__name__)
KEY_STATUS = {InvalidKeyError: "invalid_key", QuotaExhaustedError: "quota_exhausted",
              NoAccessError: "no_access"}
FINAL = (ContentFilterError, UpstreamBadRequestError)


@dataclass
class Policy:
    """Limits of one request's attempts (long timers configurable so tests run fast)."""

    attempt_budget: int = 4
    deadline_s: float = 300.0
    retry_cap_s: float = 10.0
    retry_base_s: float = 0.25


@dataclass
class AttemptContext:
    """Book-keeping for one gateway request."""

    user_id: str
    request_id: str
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


class AttemptRunner:
    """Runs a call against candidates in order until one succeeds or the budget runs out."""

    def __init__(self, breaker: CircuitBreaker, policy: Policy, *,
                 mark_key: Callable[[str, str, KeyCheckResult], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.breaker, self.policy, self.mark_key, self.sleep = breaker, policy, mark_key, sleep

    def run(self, ctx: AttemptContext, candidates: list[Candidate],
            keys: Mapping[str, Credentials], call: Callable[[Credentials, Candidate], Any]):
        """Return (result, candidate) of the first success; raise the most telling error."""
        last: GatewayError | None = None
        min_window = 0
        for cand in candidates:
            if self._exhausted(ctx):
                break
            if min_window and _window(cand) <= min_window:
                continue
            creds = keys.get(cand.provider)
            if creds is None:
                last = last or NoUsableProviderError(
                    f"No usable key for {cand.provider}: save one with POST "
                    f"/api/user/api-keys/<user>/keys/{cand.provider}")
                continue
            outcome = self._try_candidate(ctx, cand, creds, call)
            if isinstance(outcome, tuple):
                return outcome
            last = outcome
            if isinstance(outcome, ContextLengthError):
                min_window = _window(cand)
        raise last or NoUsableProviderError("No candidate could be tried")

    def _try_candidate(self, ctx, cand, creds, call):
        key = self.breaker.key(ctx.user_id, cand.provider, cand.model)
        if not self.breaker.allow(key):
            return OverloadedError(f"{cand.provider}/{cand.model} is cooling down after repeated "
                                   "failures", provider=cand.provider)
        for retry in (0, 1):
            ctx.attempts += 1
            try:
                result = call(creds, cand)
            except UpstreamError as err:
                self._note(ctx, cand, key, err)
                if isinstance(err, FINAL):
                    raise
                wait = self._wait(err, retry, ctx)
                if wait is None:
                    return err
                self.sleep(wait)
                continue
            self.breaker.success(key)
            return result, cand
        return OverloadedError("retries exhausted", provider=cand.provider)

    def _note(self, ctx: AttemptContext, cand: Candidate, key: str, err: UpstreamError) -> None:
        ctx.errors.append(f"{cand.provider}/{cand.model}: {err.code}")
        log.warning("attempt %d for request %s on %s/%s failed: %s", ctx.attempts, ctx.request_id,
                    cand.provider, cand.model, err.code)
        status = next((s for cls, s in KEY_STATUS.items() if isinstance(err, cls)), None)
        if status is not None:
            self.mark_key(ctx.user_id, cand.provider,
                          KeyCheckResult(False, status, err.message[:300], err.upstream_status))
        elif err.retryable:
            self.breaker.failure(key)

    def _wait(self, err: UpstreamError, retry: int, ctx: AttemptContext) -> float | None:
        """Seconds to wait before the one retry, or None to move on."""
        if not err.retryable or retry > 0 or self._exhausted(ctx):
            return None
        if err.retry_after is not None:
            return err.retry_after if err.retry_after <= self.policy.retry_cap_s else None
        base = self.policy.retry_base_s
        return min(self.policy.retry_cap_s, base + random.uniform(0, base))

    def _exhausted(self, ctx: AttemptContext) -> bool:
        return (ctx.attempts >= self.policy.attempt_budget
                or time.monotonic() - ctx.started >= self.policy.deadline_s)


def _window(cand: Candidate) -> int:
    info = catalogue.model_info(cand.provider, cand.model)
    return info.context_window if info else 0

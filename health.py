"""Optional periodic re-validation of stored keys on the providers' free check endpoints."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import or_, select

from audit import Actor
from models import ApiKey, utcnow
from user_api_key_service import UserAPIKeyService

log = logging.getLogger(__name__)
HEALTH_ACTOR = Actor("key-health")


def stale_keys(vault: UserAPIKeyService, older_than_s: float, limit: int) -> list[tuple[str, str]]:
    """(user, provider) pairs never tested or tested longer ago than older_than_s, oldest first."""
    horizon = utcnow() - timedelta(seconds=older_than_s)
    with vault.session() as sess:
        rows = sess.execute(select(ApiKey.user_id, ApiKey.provider)
                            .where(or_(ApiKey.tested_at.is_(None), ApiKey.tested_at < horizon))
                            .order_by(ApiKey.tested_at.is_not(None), ApiKey.tested_at)
                            .limit(limit)).all()
    return [(r.user_id, r.provider) for r in rows]


def revalidate_once(vault: UserAPIKeyService, *, older_than_s: float, limit: int) -> int:
    """Re-test up to `limit` stale keys; returns how many were tested."""
    pairs = stale_keys(vault, older_than_s, limit)
    for user_id, provider in pairs:
        vault.test_api_key(user_id, provider, HEALTH_ACTOR)
    return len(pairs)


class KeyRevalidator:
    """Background loop: every interval, re-test at most `per_cycle` of the stalest keys."""

    def __init__(self, vault: UserAPIKeyService, *, interval_s: float, per_cycle: int = 10) -> None:
        self.vault, self.interval_s, self.per_cycle = vault, interval_s, per_cycle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="key-health", daemon=True)

    def start(self) -> "KeyRevalidator":
        """Start the loop."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                count = revalidate_once(self.vault, older_than_s=self.interval_s, limit=self.per_cycle)
                if count:
                    log.info("key health: re-tested %d key(s)", count)
            except Exception as exc:  # noqa: BLE001 - the loop must survive a bad cycle
                log.error("key health cycle failed: %s", type(exc).__name__)

    def shutdown(self) -> None:
        """Stop the loop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

"""The append-only audit log: who did what to whose keys, from where, with what outcome."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import AuditEvent, iso, utcnow
from secret import scrub

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a token's user (or admin), the local desktop user, or a CLI operator."""

    name: str
    ip: str = ""


SYSTEM = Actor("system")


class AuditLog:
    """Writes and pages audit events; never stores key material (detail is scrubbed)."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

    def record(self, actor: Actor | None, user_id: str, action: str, provider: str = "",
               outcome: str = "ok", *, detail: str = "") -> None:
        """Append one event; a failure to audit is logged, never raised into the request."""
        actor = actor or SYSTEM
        event = AuditEvent(ts=utcnow(), actor=actor.name[:160], user_id=user_id[:128],
                           action=action[:40], provider=provider[:64], outcome=outcome[:24],
                           ip=actor.ip[:64], detail=scrub(detail)[:500])
        try:
            with self._sessions() as sess, sess.begin():
                sess.add(event)
        except Exception as exc:  # noqa: BLE001 - auditing must not break the request
            log.error("audit write failed: %s", type(exc).__name__)

    def page(self, user_id: str, *, limit: int = 50, before: int | None = None) -> dict[str, Any]:
        """Newest-first events of one user, keyset-paginated by id."""
        query = select(AuditEvent).where(AuditEvent.user_id == user_id)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        with self._sessions() as sess:
            rows = sess.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
            total = sess.scalar(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.user_id == user_id))
        more = len(rows) > limit
        rows = rows[:limit]
        return {"events": [_as_dict(r) for r in rows], "total": total,
                "next_before": rows[-1].id if more and rows else None}


def _as_dict(row: AuditEvent) -> dict[str, Any]:
    return {"id": row.id, "ts": iso(row.ts), "actor": row.actor,
            "user_id": row.user_id, "action": row.action, "provider": row.provider,
            "outcome": row.outcome, "ip": row.ip, "detail": row.detail}

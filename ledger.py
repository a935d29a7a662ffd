"""The usage and cost ledger: one record per request, written off the response path in batches."""
from __future__ import annotations

import csv
import io
import logging
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Date, case, cast, func, insert, select
from sqlalchemy.orm import Session

import catalogue
import usage_rollup
from models import UsageRecord, UsageRollup, iso, utcnow
from providers.types import Usage

log = logging.getLogger(__name__)
GROUPS = ("provider", "model", "day")


@dataclass
class UsageEvent:
    """What happened on one gateway request."""

    user_id: str
    provider: str
    model: str
    usage: Usage
    kind: str = "chat"
    route_reason: str = ""
    attempts: int = 1
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: str = "ok"
    error_code: str = ""
    streamed: bool = False
    request_id: str = ""
    ts: datetime = field(default_factory=utcnow)


_INSERT_ROWS = insert(UsageRecord.__table__)
# Rows per write transaction. A gevent worker's event loop waits while SQLite writes, so a
# large batch stalled every request in flight (~13 ms per 0.5 s flush at 500 req/s).
WRITE_BATCH = 50
_EVENT_FIELDS = tuple(f for f in fields(UsageEvent) if f.name != "usage")


def price(provider: str, model: str, usage: Usage, baseline: str) -> dict[str, Any]:
    """Cost at the model's list price, the baseline's cost for the same tokens, and savings."""
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    cached = min(usage.cached_tokens, prompt)
    cost = catalogue.cost_usd(provider, model, prompt, completion, cached) if provider else None
    base_provider, _, base_model = baseline.partition("/")
    base = catalogue.cost_usd(base_provider, base_model, prompt, completion, cached)
    savings = base - cost if cost is not None and base is not None else None
    return {"cost_usd": cost, "baseline_cost_usd": base, "savings_usd": savings,
            "unpriced": cost is None and (prompt + completion) > 0}


def to_row(event: UsageEvent, baseline: str) -> dict[str, Any]:
    """The usage_records row for an event (failed requests carry no billable tokens)."""
    usage = event.usage if event.status in ("ok", "incomplete", "client_disconnected") else Usage()
    row = {f.name: getattr(event, f.name) for f in _EVENT_FIELDS}
    row.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
               cached_tokens=usage.cached_tokens, reasoning_tokens=usage.reasoning_tokens,
               estimated=usage.estimated, route_reason=event.route_reason[:300],
               model=event.model[:128], request_id=event.request_id[:40])
    row.update(price(event.provider, event.model, usage, baseline))
    return row


class UsageLedger:
    """Buffers usage rows and writes them in batches from a background thread."""

    def __init__(self, sessions: Callable[[], Session], *, baseline: str, flush_s: float = 0.5,
                 max_batch: int = 500) -> None:
        self._sessions, self.baseline = sessions, baseline
        self.flush_s, self.max_batch = flush_s, max_batch
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()   # one writer at a time: a reader's flush sees all
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="usage-ledger", daemon=True)
        self._thread.start()

    def record(self, event: UsageEvent) -> dict[str, Any]:
        """Queue one event and return its priced row; never blocks on the database."""
        row = to_row(event, self.baseline)
        with self._lock:
            self._pending.append(row)
            if len(self._pending) >= self.max_batch:
                self._wake.set()
        return row

    def flush(self) -> int:
        """Write everything queued now; returns the number of rows written.

        Waits for a flush already in progress, so rows recorded before the call are committed
        when it returns (queries flush first and must see them).
        """
        with self._flushing:
            with self._lock:
                rows, self._pending = self._pending, []
            written = 0
            while written < len(rows):
                if written:
                    # Let requests run between transactions. Not sleep(0): gevent resumes a
                    # sleep(0) before it polls sockets, so waiting requests would not run.
                    time.sleep(0.001)
                part = rows[written:written + WRITE_BATCH]
                if not self._write(part):
                    with self._lock:
                        self._pending = rows[written:] + self._pending
                    break
                written += len(part)
            return written

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        """One transaction: the rows and their rollup increments; False (logged) if it failed."""
        try:
            with self._sessions() as sess, sess.begin():
                # Core executemany on the table: the ORM's bulk path cost ~5x more per row.
                sess.connection().execute(_INSERT_ROWS, rows)
                usage_rollup.upsert(sess, usage_rollup.fold(rows))
        except Exception as exc:  # noqa: BLE001 - keep the rows for the next try
            log.error("usage flush failed (%s); %d rows kept for retry", type(exc).__name__, len(rows))
            return False
        return True

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def shutdown(self) -> None:
        """Stop the writer and flush what is left (a clean stop loses nothing)."""
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()

    # -- queries -------------------------------------------------------------------------------
    def summary(self, user_id: str, *, start: datetime | None, end: datetime | None,
                group_by: str | None) -> dict[str, Any]:
        """Totals (and groups) of requests, tokens, cost, savings and unpriced rows.

        Whole hours come from the hourly rollups; only the partial hours at the edges of the
        range are summed from raw rows, so the cost does not grow with the ledger's size.
        """
        self.flush()
        totals: dict[str, float] = dict.fromkeys(usage_rollup.SUMS, 0)
        groups: dict[str, dict[str, float]] = {}
        with self._sessions() as sess:
            for rows, keyed in _parts(sess, user_id, start, end, group_by):
                for row in rows:
                    data = row._mapping
                    _add(totals if not keyed else groups.setdefault(_key(data["key"], group_by),
                                                                  dict.fromkeys(usage_rollup.SUMS, 0)), data)
        return {"totals": _totals(totals), "group_by": group_by,
                "groups": [dict(_totals(v), key=k) for k, v in sorted(groups.items())]}

    def rows_csv(self, user_id: str, *, start: datetime | None, end: datetime | None) -> str:
        """Every row in the range as CSV."""
        self.flush()
        cols = [c for c in UsageRecord.__table__.columns.keys() if c != "id"]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(cols)
        with self._sessions() as sess:
            query = select(UsageRecord).where(*_where(user_id, start, end)).order_by(UsageRecord.ts)
            for row in sess.scalars(query).yield_per(1000):
                writer.writerow([iso(v) if isinstance(v, datetime) else v
                                 for v in (getattr(row, c) for c in cols)])
        return out.getvalue()


def _where(user_id: str, start: datetime | None, end: datetime | None) -> list:
    conds = [UsageRecord.user_id == user_id]
    if start is not None:
        conds.append(UsageRecord.ts >= start)
    if end is not None:
        conds.append(UsageRecord.ts < end)
    return conds


def _group_key(group_by: str, dialect: str):
    if group_by == "day":
        return func.date(UsageRecord.ts) if dialect == "sqlite" else cast(UsageRecord.ts, Date)
    return getattr(UsageRecord, group_by)


def _aggregate(user_id, start, end, *keys):
    r = UsageRecord
    return select(*keys, func.count().label("requests"),
                  func.coalesce(func.sum(r.prompt_tokens), 0).label("prompt_tokens"),
                  func.coalesce(func.sum(r.completion_tokens), 0).label("completion_tokens"),
                  func.coalesce(func.sum(r.cost_usd), 0.0).label("cost_usd"),
                  func.coalesce(func.sum(r.baseline_cost_usd), 0.0).label("baseline_cost_usd"),
                  func.coalesce(func.sum(r.savings_usd), 0.0).label("savings_usd"),
                  func.coalesce(func.sum(case((r.unpriced, 1), else_=0)), 0).label("unpriced"),
                  func.coalesce(func.sum(case((r.status != "ok", 1), else_=0)), 0).label("failed"),
                  ).where(*_where(user_id, start, end))


def _totals(row: dict[str, float]) -> dict[str, Any]:
    return {"requests": int(row["requests"]), "prompt_tokens": int(row["prompt_tokens"]),
            "completion_tokens": int(row["completion_tokens"]),
            "total_tokens": int(row["prompt_tokens"]) + int(row["completion_tokens"]),
            "cost_usd": round(float(row["cost_usd"]), 8),
            "baseline_cost_usd": round(float(row["baseline_cost_usd"]), 8),
            "savings_usd": round(float(row["savings_usd"]), 8),
            "unpriced_count": int(row["unpriced"]), "failed_count": int(row["failed"])}


def _hour_bounds(start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    """The whole hours inside [start, end): first hour (ceil) and end hour (floor)."""
    first = None if start is None else -(-int(_utc(start).timestamp()) // 3600)
    last = None if end is None else int(_utc(end).timestamp()) // 3600
    return first, last


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _parts(sess, user_id, start, end, group_by):
    """(rows, keyed) pieces whose sums make up the range: rollups plus raw edge rows."""
    first, last = _hour_bounds(start, end)
    if first is not None and last is not None and last <= first:
        edges = [(start, end)]                                      # inside one hour: raw only
    else:
        edges = [(start, _at(first)) if start is not None and _at(first) != _utc(start) else None,
                 (_at(last), end) if end is not None and _at(last) != _utc(end) else None]
        edges = [e for e in edges if e]
        yield from _rollup_parts(sess, user_id, first, last, group_by)
    dialect = sess.bind.dialect.name
    for lo, hi in edges:
        yield sess.execute(_aggregate(user_id, lo, hi)).all(), False
        if group_by:
            key = _group_key(group_by, dialect).label("key")
            yield sess.execute(_aggregate(user_id, lo, hi, key).group_by(key)).all(), True


def _rollup_parts(sess, user_id, first, last, group_by):
    yield usage_rollup.query(sess, user_id, first, last), False
    if group_by:
        col = UsageRollup.hour // 24 if group_by == "day" else getattr(UsageRollup, group_by)
        yield usage_rollup.query(sess, user_id, first, last, col.label("key")), True


def _at(hour: int | None) -> datetime | None:
    return None if hour is None else datetime.fromtimestamp(hour * 3600, timezone.utc)


def _key(value: Any, group_by: str | None) -> str:
    """A group's key as text; rollup day keys arrive as day numbers since the epoch."""
    if group_by == "day" and isinstance(value, (int, float)):
        return datetime.fromtimestamp(int(value) * 86400, timezone.utc).date().isoformat()
    return str(value)


def _add(acc: dict[str, float], data) -> None:
    for name in usage_rollup.SUMS:
        acc[name] += data[name] or 0

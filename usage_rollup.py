"""Hourly rollups of the usage ledger: written with each batch, read by /usage aggregates."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import UsageRollup

SUMS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd",
        "savings_usd", "unpriced", "failed")
KEY = ("user_id", "hour", "provider", "model")


def hour_of(ts: datetime) -> int:
    """Epoch hour of a timestamp (naive values are UTC, as stored)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return int(ts.timestamp()) // 3600


def fold(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum ledger rows into rollup increments, one per (user, hour, provider, model)."""
    acc: dict[tuple, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(SUMS, 0))
    for row in rows:
        key = (row["user_id"], hour_of(row["ts"]), row["provider"], row["model"])
        sums = acc[key]
        sums["requests"] += 1
        sums["prompt_tokens"] += row["prompt_tokens"]
        sums["completion_tokens"] += row["completion_tokens"]
        for name in ("cost_usd", "baseline_cost_usd", "savings_usd"):
            sums[name] += row.get(name) or 0.0
        sums["unpriced"] += 1 if row.get("unpriced") else 0
        sums["failed"] += 1 if row.get("status") != "ok" else 0
    return [dict(zip(KEY, key), **sums) for key, sums in acc.items()]


def _upsert_statement(dialect) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET each sum = sum + excluded.sum."""
    table = UsageRollup.__table__
    stmt = dialect.insert(table)
    return stmt.on_conflict_do_update(index_elements=list(KEY),
                                      set_={name: table.c[name] + stmt.excluded[name] for name in SUMS})


_UPSERTS = {"postgresql": _upsert_statement(postgresql), "sqlite": _upsert_statement(sqlite)}


def upsert(sess: Session, increments: list[dict[str, Any]]) -> None:
    """Add increments to the rollup rows atomically (built once per dialect, executed as Core)."""
    if increments:
        dialect = "postgresql" if sess.bind.dialect.name == "postgresql" else "sqlite"
        sess.connection().execute(_UPSERTS[dialect], increments)


def query(sess: Session, user_id: str, first_hour: int | None, end_hour: int | None, key=None):
    """SUM rollups of one user over [first_hour, end_hour), optionally grouped by a column."""
    r = UsageRollup
    cols = [func.coalesce(func.sum(getattr(r, n)), 0).label(n) for n in SUMS]
    stmt = select(*([key] if key is not None else []), *cols).where(r.user_id == user_id)
    if first_hour is not None:
        stmt = stmt.where(r.hour >= first_hour)
    if end_hour is not None:
        stmt = stmt.where(r.hour < end_hour)
    if key is not None:
        stmt = stmt.group_by(key)
    return sess.execute(stmt).all()


def rebuild_sql(dialect: str) -> str:
    """SQL that recomputes every rollup row from usage_records (migration backfill, bulk loads)."""
    hour = ("CAST(strftime('%s', ts) AS INTEGER) / 3600" if dialect == "sqlite"
            else "CAST(floor(extract(epoch from ts) / 3600) AS BIGINT)")
    return f"""
        INSERT INTO usage_rollups (user_id, hour, provider, model, requests, prompt_tokens,
            completion_tokens, cost_usd, baseline_cost_usd, savings_usd, unpriced, failed)
        SELECT user_id, {hour}, provider, model, COUNT(*), SUM(prompt_tokens),
            SUM(completion_tokens), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(baseline_cost_usd), 0),
            COALESCE(SUM(savings_usd), 0), SUM(CASE WHEN unpriced THEN 1 ELSE 0 END),
            SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END)
        FROM usage_records GROUP BY user_id, {hour}, provider, model"""


def rebuild(sess: Session) -> None:
    """Drop and recompute all rollups (after bulk-loading usage_records outside the ledger)."""
    sess.execute(text("DELETE FROM usage_rollups"))
    sess.execute(text(rebuild_sql(sess.bind.dialect.name)))

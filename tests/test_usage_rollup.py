"""/usage aggregates from hourly rollups plus raw edge rows equal a brute-force sum of the rows."""
import random
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import insert, select, text

import storage
import usage_rollup
from ledger import UsageEvent
from models import UsageRecord, UsageRollup
from providers.types import Usage

T0 = datetime(2026, 11, 20, 10, 17, tzinfo=timezone.utc)


def _seed(ledger, n=300, seed=7):
    rnd = random.Random(seed)
    events = []
    for i in range(n):
        ts = T0 + timedelta(minutes=rnd.randint(0, 60 * 72))
        provider, model = rnd.choice([("openai", "gpt-4o"), ("glm_4_6", "glm-4.6"),
                                      ("openai", "unknown-model-x")])
        ev = UsageEvent(user_id="u", provider=provider, model=model, ts=ts,
                        usage=Usage(rnd.randint(1, 900), rnd.randint(1, 300)),
                        status=rnd.choice(["ok", "ok", "ok", "error"]))
        ledger.record(ev)
        events.append(ev)
    ledger.flush()
    return events


def _brute(events, start, end, group_by=None):
    from ledger import to_row
    rows = [to_row(e, "openai/gpt-4o") for e in events
            if (start is None or e.ts >= start) and (end is None or e.ts < end)]
    def key(r):
        return r["ts"].date().isoformat() if group_by == "day" else r[group_by]
    out = {}
    for r in rows:
        k = key(r) if group_by else "*"
        acc = out.setdefault(k, [0, 0, 0.0])
        acc[0] += 1
        acc[1] += r["prompt_tokens"] + r["completion_tokens"]
        acc[2] += r["cost_usd"] or 0.0
    return out


RANGES = [(None, None), (T0, T0 + timedelta(days=1)),
          (T0 + timedelta(minutes=13), T0 + timedelta(hours=30, minutes=41)),
          (T0 + timedelta(hours=5, minutes=1), T0 + timedelta(hours=5, minutes=50)),
          (datetime(2026, 11, 21, tzinfo=timezone.utc), None)]


@pytest.mark.parametrize("start,end", RANGES)
@pytest.mark.parametrize("group_by", [None, "provider", "model", "day"])
def test_summary_matches_brute_force(app, start, end, group_by):
    ledger = app.extensions["byok"].extra["ledger"]
    events = _seed(ledger)
    got = ledger.summary("u", start=start, end=end, group_by=group_by)
    want = _brute(events, start, end, group_by)
    total = _brute(events, start, end)["*"] if _brute(events, start, end) else [0, 0, 0.0]
    assert got["totals"]["requests"] == total[0]
    assert got["totals"]["total_tokens"] == total[1]
    assert got["totals"]["cost_usd"] == pytest.approx(total[2], rel=1e-9, abs=1e-9)
    if group_by:
        assert {g["key"]: g["requests"] for g in got["groups"]} == {k: v[0] for k, v in want.items()}


def test_rollups_track_every_flush(app):
    ledger = app.extensions["byok"].extra["ledger"]
    events = _seed(ledger, n=50)
    with app.extensions["byok"].vault.session() as sess:
        assert sess.scalar(select(text("SUM(requests)")).select_from(UsageRollup)) == len(events)
        usage_rollup.rebuild(sess)
        assert sess.scalar(select(text("SUM(requests)")).select_from(UsageRollup)) == len(events)


def test_migration_backfills_rollups_for_existing_rows(database_url):
    engine = storage.build_engine(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(storage.MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    rows = [dict(ts=T0 + timedelta(minutes=7 * i), user_id="old", provider="openai", model="gpt-4o",
                 prompt_tokens=10, completion_tokens=5, cost_usd=0.001, status="ok")
            for i in range(40)]
    with engine.begin() as conn:
        conn.execute(insert(UsageRecord.__table__), rows)
    storage.upgrade(engine)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT SUM(requests), SUM(prompt_tokens), COUNT(*) "
                                  "FROM usage_rollups WHERE user_id='old'")).one()
    assert total[0] == 40 and total[1] == 400 and total[2] == len({(r['ts'].timestamp() // 3600) for r in rows})
    engine.dispose()

"""Setup before the server starts: users with stored keys and tokens, and a large usage ledger.

Keys go in through `UserAPIKeyService.store` (the vault's own encryption path) and tokens through
`TokenService.create`, in-process, against the same DATABASE_URL and BYOK_ENCRYPTION_KEYS the
server will use. Usage rows are bulk-inserted (executemany on SQLite, COPY on PostgreSQL).
A seeded SQLite file is cached under bench/results/seed-cache/ and copied for each run.
"""
from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from stack import REPO

sys.path.insert(0, str(REPO))
if TYPE_CHECKING:
    from user_api_key_service import UserAPIKeyService

MAIN_USER = "bench-user"
LEDGER_USERS = {"ledger-small": 10, "ledger-big": 1_000_000}
USAGE_COLS = ("ts", "request_id", "user_id", "provider", "model", "kind", "route_reason",
              "attempts", "prompt_tokens", "completion_tokens", "cached_tokens",
              "reasoning_tokens", "cost_usd", "baseline_cost_usd", "savings_usd", "latency_ms",
              "ttft_ms", "status", "error_code", "streamed", "estimated", "unpriced")


@dataclass
class Seed:
    """What the setup produced: where the data is, and how to authenticate as whom."""

    db_url: str
    enc_key: str
    tokens: dict[str, str] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)
    ledger_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False


def user_ids(n: int) -> list[str]:
    """Deterministic user ids."""
    return [f"user-{i:05d}" for i in range(n)]


def _vault(db_url: str, enc_key: str, data_dir: Path) -> "UserAPIKeyService":
    """A UserAPIKeyService on the bench database (applies migrations)."""
    from config import Config
    from user_api_key_service import UserAPIKeyService
    cfg = Config(database_url=db_url, encryption_keys=enc_key, data_dir=data_dir)
    return UserAPIKeyService(config=cfg)


def _store_batch(args: tuple) -> dict[str, str]:
    """Worker: store an OpenAI key and create a token for each user in the batch."""
    db_url, enc_key, data_dir, users = args
    from auth import TokenService
    vault = _vault(db_url, enc_key, Path(data_dir))
    tokens = TokenService(vault._sessions, vault.audit)
    out = {}
    for user in users:
        vault.store(user, "openai", f"sk-bench-{user}-{'x' * 24}")
        out[user] = tokens.create(user, label="bench")[0]
    vault.engine.dispose()
    return out


def seed_users(db_url: str, enc_key: str, data_dir: Path, users: list[str],
               procs: int = 2) -> dict[str, str]:
    """Keys + tokens for every user, in `procs` processes (the database serialises writes)."""
    _vault(db_url, enc_key, data_dir).engine.dispose()          # migrate once, up front
    size = max(1, -(-len(users) // (procs * 8)))
    batches = [(db_url, enc_key, str(data_dir), users[i:i + size])
               for i in range(0, len(users), size)]
    tokens: dict[str, str] = {}
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        for part in pool.imap_unordered(_store_batch, batches):
            tokens.update(part)
    return tokens


def _usage_rows(user: str, n: int, *, as_text: bool) -> Iterator[tuple]:
    """n plausible usage rows spread over the last 90 days (tuples in USAGE_COLS order)."""
    now = datetime.now(timezone.utc)
    stamps = [now - timedelta(seconds=(k * 7919) % (90 * 86400)) for k in range(4099)]
    if as_text:                                  # SQLAlchemy's SQLite DateTime storage format
        stamps = [t.strftime("%Y-%m-%d %H:%M:%S.%f") for t in stamps]
    models = (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("deepseek", "deepseek-chat"))
    tails = [(m[0], m[1], "chat", "requested", 1) for m in models]
    for i in range(n):
        yield (stamps[i % 4099], f"chatcmpl-bench{i:020d}", user, *tails[i % 3], 100 + i % 900,
               20 + i % 300, 0, 0, 0.0012, 0.0015, 0.0003, 120.0, None, "ok", "", i & 1, 0, 0)


def seed_ledger(db_url: str, user: str, n: int, batch: int = 50_000) -> None:
    """Bulk-insert n usage rows for one user (executemany or COPY)."""
    from sqlalchemy import create_engine
    from storage import prepare_url
    engine = create_engine(prepare_url(db_url))
    cols = ", ".join(USAGE_COLS)
    try:
        with engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            cur = raw.cursor()
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY usage_records ({cols}) FROM STDIN") as copy:
                    for row in _usage_rows(user, n, as_text=False):
                        copy.write_row(row[:19] + tuple(bool(v) for v in row[19:]))
                return
            rows = _usage_rows(user, n, as_text=True)
            marks = ", ".join("?" * len(USAGE_COLS))
            while chunk := [r for _, r in zip(range(batch), rows)]:
                cur.executemany(f"INSERT INTO usage_records ({cols}) VALUES ({marks})", chunk)
    finally:
        engine.dispose()


def rebuild_rollups(db_url: str) -> None:
    """Recompute the hourly usage rollups after loading usage_records behind the ledger's back."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    import usage_rollup
    from storage import prepare_url
    engine = create_engine(prepare_url(db_url))
    try:
        with Session(engine) as sess, sess.begin():
            usage_rollup.rebuild(sess)
    finally:
        engine.dispose()


def _seed_all(db_url: str, enc_key: str, data_dir: Path, n_users: int,
              ledger: dict[str, int]) -> Seed:
    """Run every setup step against one database."""
    t0 = time.perf_counter()
    users = user_ids(n_users)
    tokens = seed_users(db_url, enc_key, data_dir, [MAIN_USER, *users, *ledger])
    for user, rows in ledger.items():
        seed_ledger(db_url, user, rows)
    rebuild_rollups(db_url)
    return Seed(db_url, enc_key, tokens, users, dict(ledger), time.perf_counter() - t0)


def _cache_key(n_users: int, ledger: dict[str, int]) -> str:
    """Seeds are reusable while user count, ledger sizes and migration files are unchanged."""
    import hashlib
    digest = hashlib.sha256()
    for path in sorted((REPO / "migrations").rglob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest = digest.hexdigest()[:8]
    return f"u{n_users}-" + "-".join(f"{k}{v}" for k, v in sorted(ledger.items())) + f"-{digest}"


def prepare(run_dir: Path, cache_root: Path, n_users: int, ledger: dict[str, int],
            db_url: str = "") -> Seed:
    """A seeded database for this run: a copy of the cached SQLite seed, or a fresh seed."""
    from cryptography.fernet import Fernet
    if db_url:                                  # e.g. PostgreSQL: seeded in place, never cached
        return _seed_all(db_url, Fernet.generate_key().decode(), run_dir, n_users, ledger)
    cache = cache_root / _cache_key(n_users, ledger)
    meta = cache / "seed.json"
    cached = meta.exists()
    if not cached:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        seed = _seed_all(f"sqlite:///{cache / 'byok.db'}", Fernet.generate_key().decode(), cache,
                         n_users, ledger)
        meta.write_text(json.dumps(seed.__dict__))
    seed = Seed(**json.loads(meta.read_text()))
    for suffix in ("", "-wal", "-shm"):
        src = cache / f"byok.db{suffix}"
        if src.exists():
            shutil.copy2(src, run_dir / src.name)
    seed.db_url, seed.cached = f"sqlite:///{run_dir / 'byok.db'}", cached
    return seed

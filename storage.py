"""Database engines and schema migrations (Alembic), shared by the app and the legacy API."""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_upgrade_lock = threading.Lock()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL for concurrent readers, a busy timeout instead of 'database is locked', FKs on."""
    if isinstance(dbapi_conn, sqlite3.Connection):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def sqlite_url_for_path(path: str | Path) -> str:
    """A SQLAlchemy URL for a SQLite file path (a path is never parsed as a URL)."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def prepare_url(url: str) -> str:
    """Validate a database URL and create the parent directory of a SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def engine_options(url: str) -> dict:
    """Engine keyword arguments suitable for the URL's backend."""
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}


def build_engine(url: str, *, pooled: bool = True) -> Engine:
    """Create an engine for a (validated) URL."""
    url = prepare_url(url)
    options = engine_options(url)
    if not pooled:
        options = {k: v for k, v in options.items() if k == "connect_args"} | {"poolclass": NullPool}
    return create_engine(url, **options)


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (idempotent, serialised within the process)."""
    # Imported here: serving workers never migrate (the launcher's preflight did), and Alembic
    # is about 11 MB of a worker's memory.
    from alembic import command
    from alembic.config import Config as AlembicConfig
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with _upgrade_lock, engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

"""Production serving: gunicorn's process manager with gevent workers.

Why: LLM streams last seconds to minutes. A gevent worker holds each stream in a greenlet
(a few KB) instead of an OS thread, so one worker keeps thousands of streams open on 2 cores,
while gunicorn supervises workers, restarts crashed ones and shuts them down gracefully
(SIGTERM lets in-flight requests finish and the usage ledger flush).

The master stays lean: it imports only this module, the config and gunicorn, and runs the
start-up checks in a child interpreter. The app (Flask, SQLAlchemy, the providers) is imported
only in the workers, so a master never holds a second copy of it (about 60 MB).
"""
from __future__ import annotations

import gc
import logging
import subprocess
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication

import logging_setup
from config import Config
from hosts import host_is_loopback

log = logging.getLogger("byok.server")


def check_bind(config: Config) -> None:
    """Local mode serves only loopback: refuse to start on any other address."""
    if config.auth_mode == "local" and not host_is_loopback(config.host):
        raise SystemExit(f"BYOK_AUTH_MODE=local refuses to bind {config.host}: use 127.0.0.1, or "
                         "set BYOK_AUTH_MODE=token to serve other machines")


def preflight(config: Config) -> None:
    """Fail fast, once: bad keys, unreachable database, pending migrations."""
    import storage
    from cipher import load_cipher
    load_cipher(config.encryption_keys, config.key_file)
    engine = storage.build_engine(config.resolved_database_url(), pooled=False)
    try:
        storage.upgrade(engine)
    finally:
        engine.dispose()


def _worker_exit(server, worker) -> None:
    app = getattr(worker, "wsgi", None)
    services = getattr(app, "extensions", {}).get("byok") if app is not None else None
    if services is not None:
        services.shutdown()


class GatewayServer(BaseApplication):
    """Runs create_app() inside each gevent worker, after gevent has patched the worker."""

    def __init__(self, config: Config) -> None:
        self.config_obj = config
        super().__init__()

    def load_config(self) -> None:
        """Translate our Config into gunicorn settings."""
        c = self.config_obj
        settings = {
            "bind": f"{'[' + c.host + ']' if ':' in c.host else c.host}:{c.port}",
            "workers": max(1, c.workers), "worker_class": "gevent",
            "worker_connections": 4000, "keepalive": 5, "timeout": 60,
            "graceful_timeout": 30, "accesslog": None, "errorlog": "-",
            "loglevel": c.log_level.lower(), "worker_exit": _worker_exit,
            "limit_request_line": 8190, "proc_name": "byok-gateway",
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the app in the worker (migrations already applied by the master)."""
        import dataclasses

        from main_api_app import create_app
        app = create_app(dataclasses.replace(self.config_obj, auto_migrate=False))
        # What start-up built lives as long as the worker: keep it out of the collector's full
        # passes, which otherwise walk every module, route and mapper while requests wait.
        gc.collect()
        gc.freeze()
        return app


def run(config: Config) -> None:
    """Preflight (in a child interpreter), then serve until stopped."""
    checked = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--preflight"], check=False)
    if checked.returncode:
        raise SystemExit(checked.returncode)      # the child has printed why
    log.info("serving on http://%s:%s (auth mode %s, %s worker(s))",
             config.host, config.port, config.auth_mode, config.workers)
    GatewayServer(config).run()


def main() -> None:
    """`python main_api_app.py`: serve with gunicorn + gevent workers (see the module doc)."""
    config = Config.from_env()
    logging_setup.configure(config.log_level)
    check_bind(config)
    try:
        run(config)
    except Exception as exc:  # start-up errors get a clear one-line message
        print(f"byok: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _preflight_main() -> None:
    config = Config.from_env()
    logging_setup.configure(config.log_level)
    try:
        preflight(config)
    except Exception as exc:
        print(f"byok: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__" and sys.argv[1:] == ["--preflight"]:
    _preflight_main()

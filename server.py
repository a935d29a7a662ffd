"""Production serving: gunicorn's process manager with gevent workers.

Why: LLM streams last seconds to minutes. A gevent worker holds each stream in a greenlet
(a few KB) instead of an OS thread, so one worker keeps thousands of streams open on 2 cores,
while gunicorn supervises workers, restarts crashed ones and shuts them down gracefully
(SIGTERM lets in-flight requests finish and the usage ledger flush).
"""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

import storage
from cipher import load_cipher
from config import Config

log = logging.getLogger("byok.server")


def preflight(config: Config) -> None:
    """Fail fast, once, in the master: bad keys, unreachable database, pending migrations."""
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
        return create_app(dataclasses.replace(self.config_obj, auto_migrate=False))


def run(config: Config) -> None:
    """Preflight, then serve until stopped."""
    preflight(config)
    log.info("serving on http://%s:%s (auth mode %s, %s worker(s))",
             config.host, config.port, config.auth_mode, config.workers)
    GatewayServer(config).run()

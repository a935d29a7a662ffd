"""The BYOK gateway: application factory and production entry point (`python main_api_app.py`)."""
from __future__ import annotations

if __name__ == "__main__":
    # Serving with gevent workers: patch before ssl, socket and friends are imported, or
    # they keep references to unpatched modules (gevent warns, and TLS may block). Then hand over
    # to the lean launcher, before this module imports the app: workers import it themselves.
    from gevent import monkey
    monkey.patch_all()
    import server
    server.main()
    raise SystemExit(0)

import dataclasses
import logging
from typing import Any, Mapping

from flask import Flask, jsonify

import errors
import logging_setup
import storage
import user_api_key_service
import web
from config import Config
from container import build_services
from models import db

log = logging.getLogger("byok")


def _as_config(config: Config | Mapping[str, Any] | None) -> Config:
    if config is None:
        return Config.from_env()
    if isinstance(config, Config):
        return config
    return dataclasses.replace(Config(), **dict(config))


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the app: storage, vault, auth, routes and the JSON error renderer."""
    config = _as_config(config)
    if config.auth_mode not in ("local", "token"):
        raise ValueError("BYOK_AUTH_MODE must be 'local' or 'token'")
    logging_setup.configure(config.log_level)
    app = Flask(__name__)
    url = storage.prepare_url(config.resolved_database_url())
    app.config.update(SQLALCHEMY_DATABASE_URI=url, MAX_CONTENT_LENGTH=config.max_body_bytes,
                      SQLALCHEMY_ENGINE_OPTIONS=storage.engine_options(url), TESTING=config.testing)
    app.json.sort_keys = False
    db.init_app(app)
    with app.app_context():
        engine = db.engine
    if config.auto_migrate:
        storage.upgrade(engine)
    services = build_services(config, engine)
    app.extensions["byok"] = services
    user_api_key_service.set_user_api_key_service(services.vault)
    _register(app)
    return app


def _register(app: Flask) -> None:
    """Blueprints, hooks, error handlers and CLI commands."""
    import cli
    from user_api_key_routes import user_api_key_bp
    app.register_blueprint(user_api_key_bp, name="user_api_key_management")
    for name in ("gateway_routes", "routing_routes", "usage_routes", "openapi_spec"):
        module = _optional(name)
        if module is not None:
            app.register_blueprint(module.bp)
    web.install(app)
    errors.register_error_handlers(app)
    cli.register(app)
    app.add_url_rule("/health", "health", lambda: jsonify(status="ok"))


def _optional(name: str):
    """Import an optional blueprint module (present once its feature lands)."""
    import importlib.util
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)

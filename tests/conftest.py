"""App, client and database fixtures (SQLite by default, PostgreSQL when TEST_DATABASE_URL is set)."""
from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from main_api_app import create_app

# Nothing listens on port 9 (discard): any accidental provider call fails fast, never leaves the host.
UNREACHABLE = "http://127.0.0.1:9"
NO_NETWORK_BASE_URLS = {pid: UNREACHABLE for pid in (
    "openai", "deepseek", "anthropic", "google_gemini", "azure_openai", "glm_4_6", "kimi_k2")}


def _reset_postgres(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path):
    """A fresh database per test."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def make_app(database_url, tmp_path):
    """Factory: build an app with test settings plus overrides."""
    apps = []

    def _make(**overrides):
        settings = dict(database_url=database_url, data_dir=tmp_path / "data",
                        encryption_keys=Fernet.generate_key().decode(), testing=True,
                        base_urls=dict(NO_NETWORK_BASE_URLS), connect_timeout_s=1.0,
                        read_timeout_s=5.0)
        settings.update(overrides)
        app = create_app(settings)
        apps.append(app)
        return app

    yield _make
    for app in apps:
        app.extensions["byok"].shutdown()
        app.extensions["byok"].vault.engine.dispose()


@pytest.fixture
def app(make_app):
    """A local-mode app (the desktop case)."""
    return make_app()


@pytest.fixture
def client(app):
    """A test client for the local-mode app."""
    return app.test_client()


@pytest.fixture
def token_app(make_app):
    """A token-mode app (the multi-user case)."""
    return make_app(auth_mode="token")


@pytest.fixture(scope="session")
def simulator():
    """One provider simulator process for the whole test session (reset per use by tests)."""
    from simulator.harness import SimulatorProcess
    with SimulatorProcess() as sim:
        yield sim

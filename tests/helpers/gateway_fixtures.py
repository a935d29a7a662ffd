"""Gateway test fixtures; test modules load them with
`pytest_plugins = ["tests.helpers.gateway_fixtures"]`, so the session-scoped `local_server` is
started once for every module that uses it (importing the fixtures would start one per module).
"""
from __future__ import annotations

import pytest
import requests

from tests.helpers.gateway import (API, FAST, SERVER_KEYED, SIM_IDS, base_urls, key_body, save_keys,
                                   server_env)
from tests.helpers.servers import GatewayProcess


@pytest.fixture(scope="session")
def local_server(simulator, tmp_path_factory):
    """One real local-mode gateway (python main_api_app.py) with keys for SERVER_KEYED."""
    with GatewayProcess(tmp_path_factory.mktemp("gw"), server_env(simulator)) as gw:
        for provider in SERVER_KEYED:
            resp = requests.post(f"{gw.base}{API}/keys/{provider}", json=key_body(provider))
            assert resp.status_code == 200
        yield gw


@pytest.fixture
def sim(simulator):
    """The session simulator, reset (log, scripts, config) for this test."""
    simulator.reset()
    yield simulator
    simulator.reset()


@pytest.fixture
def gw_factory(make_app, sim):
    """Factory: an in-process app on the simulator with fast settings (+ overrides) and a client
    that already stored keys for `providers`."""
    def _make(providers=tuple(SIM_IDS), **overrides):
        app = make_app(base_urls=base_urls(sim), **{**FAST, **overrides})
        client = app.test_client()
        save_keys(client, sim, providers)
        return app, client
    return _make

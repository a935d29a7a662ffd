"""One simulator process for the whole run (fast); state is reset before every test."""
from __future__ import annotations

import pytest
import requests

from simulator.harness import SimulatorProcess


@pytest.fixture(scope="session")
def sim():
    """A running simulator (``python -m simulator``) shared by all simulator tests."""
    with SimulatorProcess() as process:
        yield process


@pytest.fixture(autouse=True)
def _fresh_state(request):
    """Clear log, scripts and config before each test that uses the simulator."""
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").reset()


@pytest.fixture(scope="session")
def cached():
    """Memoise expensive SDK clients (each builds an SSL context) across tests."""
    store: dict = {}

    def get(key, factory):
        if key not in store:
            store[key] = factory()
        return store[key]
    return get


@pytest.fixture
def http():
    """A plain HTTP session for byte-level checks."""
    with requests.Session() as session:
        yield session


def sse_events(raw: bytes) -> list:
    """Split an SSE body into events (lists of lines), as the SDK parsers do."""
    return [block.split(b"\n") for block in raw.split(b"\n\n") if block]

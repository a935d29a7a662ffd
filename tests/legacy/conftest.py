"""Shared constants, fixtures and helpers for the GLM/Kimi handler tests."""
from __future__ import annotations

import math
import time

import pytest

from glm_46_handler_real import GLM46ServiceReal
from kimi_k2_handler_real import KimiK2ServiceReal
from simulator.harness import SimulatorProcess

UNREACHABLE = "http://127.0.0.1:9"
KEYS = {"glm": "glm-test-key-123456789", "kimi": "sk-kimi-test-123456789"}
CLASSES = {"glm": GLM46ServiceReal, "kimi": KimiK2ServiceReal}
NAMES = {"glm": "GLM-4.6", "kimi": "Kimi K2"}
FAMILY = {"glm": "GLM", "kimi": "Kimi K2"}
DEFAULTS = {"glm": ("https://open.bigmodel.cn/api/paas/v4", "glm-4.6", "Zhipu AI"),
            "kimi": ("https://api.moonshot.cn/v1", "moonshot-v1-8k", "Moonshot AI")}
HI = [{"role": "user", "content": "hi there"}]



@pytest.fixture(scope="module")
def sim():
    """One simulator process for this module."""
    with SimulatorProcess() as process:
        yield process


@pytest.fixture(autouse=True)
def _fresh(sim):
    """Clear the simulator's log, scripts and config before each test."""
    sim.reset()


@pytest.fixture(params=["glm", "kimi"])
def short(request) -> str:
    """Each test using this runs for both handlers."""
    return request.param


def make(sim: SimulatorProcess, short: str, key: str | None = None):
    """A handler with a key, pointed at the simulator."""
    handler = CLASSES[short]()
    handler.api_key = KEYS[short] if key is None else key
    handler.base_url = sim.url_for(short)
    return handler


def chats(sim, short):
    """The chat completion requests the simulator received for a provider."""
    return [r for r in sim.requests(short) if r["endpoint"] == "chat"]


def expected_usage(messages: list[dict], completion: int = 5) -> dict:
    """The simulator's usage rule: ceil(chars / 4) prompt tokens, one completion token per chunk."""
    prompt = max(1, math.ceil(sum(len(m["content"]) for m in messages) / 4))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll until predicate() is true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()



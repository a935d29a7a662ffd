"""Catalogue integrity (contract values untouched, every model priced with a source) and cost maths."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import catalogue as cat_mod
from catalogue import (Catalogue, ModelInfo, baseline_cost_usd, cost_usd, load_catalogue, model_info,
                       models_for, provider_ids, provider_info, routing_rules)

ROOT = Path(__file__).resolve().parent.parent
RAW = json.loads((ROOT / "providers" / "catalogue.json").read_text(encoding="utf-8"))
CAPABILITIES = {"tools", "vision", "embeddings", "json_mode", "reasoning", "chat"}
# ATOM contract §2: ids in order, exact expected_format, capabilities, and the original models (a prefix).
CONTRACT = {
    "openai": ("OpenAI", "sk-...", ["chat", "embeddings", "moderation"], ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "gpt-4o"]),
    "deepseek": ("DeepSeek AI", "sk-...", ["chat", "embeddings"], ["deepseek-chat", "deepseek-coder", "deepseek-reasoner"]),
    "anthropic": ("Anthropic Claude", "sk-ant-...", ["chat"], ["claude-3-opus", "claude-3-sonnet", "claude-3-haiku"]),
    "google_gemini": ("Google Gemini", "AIza...", ["chat", "embeddings"], ["gemini-2.0-flash", "gemini-2.0-pro", "text-embedding-004"]),
    "azure_openai": ("Azure OpenAI", "Azure API key + endpoint", ["chat", "embeddings"], ["gpt-4", "gpt-35-turbo"]),
    "glm_4_6": ("GLM-4.6 (Zhipu AI)", "glm-...", ["chat", "embeddings", "function_calling"], ["glm-4.6", "glm-4", "glm-4-0520", "glm-4-air"]),
    "kimi_k2": ("Kimi K2 (Moonshot AI)", "sk-...", ["chat", "long_context", "reasoning"], ["moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"]),
}
ALL_MODELS = [(pid, mid, entry) for pid, models in RAW["models"].items() for mid, entry in models.items()]


def test_provider_ids_and_contract_values_untouched() -> None:
    assert provider_ids() == list(CONTRACT)
    for pid, (name, fmt, caps, original_models) in CONTRACT.items():
        info = provider_info(pid)
        assert set(info) == set(cat_mod.PROVIDER_FIELDS)
        assert (info["name"], info["expected_format"], info["capabilities"]) == (name, fmt, caps)
        assert info["models"][: len(original_models)] == original_models
        assert isinstance(info["models"], list) and all(isinstance(m, str) and m for m in info["models"])
    assert "moonshot" in provider_info("kimi_k2")["models"][0]
    assert "Chinese" in provider_info("glm_4_6")["description"]
    assert "Long-context" in provider_info("kimi_k2")["description"]


def test_provider_info_is_a_copy() -> None:
    provider_info("openai")["models"].append("mutated")
    assert "mutated" not in provider_info("openai")["models"]


def test_every_listed_model_has_data_and_every_data_model_is_listed() -> None:
    for pid in provider_ids():
        listed = provider_info(pid)["models"]
        assert sorted(listed) == sorted(RAW["models"][pid]), pid
        assert len(set(listed)) == len(listed), f"duplicate model ids in {pid}"
    assert set(RAW["models"]) == set(RAW["providers"])


@pytest.mark.parametrize(("pid", "mid", "entry"), ALL_MODELS, ids=[f"{p}/{m}" for p, m, _ in ALL_MODELS])
def test_model_entry_is_complete(pid: str, mid: str, entry: dict) -> None:
    assert isinstance(entry["context_window"], int) and entry["context_window"] > 0
    assert entry["max_output"] is None or (isinstance(entry["max_output"], int) and entry["max_output"] > 0)
    caps = set(entry["capabilities"])
    assert caps and caps <= CAPABILITIES
    assert set(entry["price"]) == {"input", "output", "cached_input"}
    for value in entry["price"].values():
        assert value is None or (isinstance(value, (int, float)) and value >= 0)
    assert entry["price_source"].strip() and entry["price_date"].strip()
    if "embeddings" in caps:
        assert isinstance(entry["embedding_dims"], int) and entry["embedding_dims"] > 0
        assert entry["price"]["output"] is None  # embeddings bill input only
    else:
        assert "embedding_dims" not in entry and "chat" in caps


@pytest.mark.parametrize(("pid", "mid", "entry"), ALL_MODELS, ids=[f"{p}/{m}" for p, m, _ in ALL_MODELS])
def test_zero_prices_only_for_models_documented_free(pid: str, mid: str, entry: dict) -> None:
    if 0 in (entry["price"]["input"], entry["price"]["output"]):
        assert "free" in entry["price_source"].lower(), f"{pid}/{mid} is priced 0 without saying it is free"


def test_unpriced_models_say_why_and_converted_prices_state_the_rate() -> None:
    for pid, mid, entry in ALL_MODELS:
        if entry["price"]["input"] is None:
            assert "unpriced" in entry["price_source"], (pid, mid)
        if "price_original" in entry or "converted" in entry["price_source"]:
            assert "CNY/USD" in entry["price_source"] and entry["price_original"]["currency"] == "CNY"
            rate = entry["price_original"]["input"] / entry["price"]["input"]
            assert 6.5 < rate < 7.6, (pid, mid, rate)


def test_section_10_prices() -> None:
    gpt4o = model_info("openai", "gpt-4o")
    assert (gpt4o.price_input, gpt4o.price_output, gpt4o.price_cached) == (2.50, 10.00, 1.25)
    assert model_info("kimi_k2", "kimi-k2-0905-preview").context_window == 262144
    assert model_info("glm_4_6", "glm-4.6").context_window == 200000
    assert model_info("glm_4_6", "glm-4-flash").price_input == 0.0
    assert model_info("google_gemini", "gemini-embedding-001").embedding_dims == 3072


def test_baseline_and_rules_present() -> None:
    assert RAW["baseline"] == {"provider": "openai", "model": "gpt-4o"}
    rules = routing_rules()
    assert rules["tasks"]["embeddings"]["prefer"][0]["provider"] == "google_gemini"
    for task, spec in rules["tasks"].items():
        for pref in spec["prefer"]:
            for model in pref["models"]:
                assert model_info(pref["provider"], model) is not None, (task, pref["provider"], model)


def test_routing_rules_returns_a_deep_copy() -> None:
    rules = routing_rules()
    rules["tasks"]["embeddings"]["prefer"].clear()
    assert routing_rules()["tasks"]["embeddings"]["prefer"]


def test_model_info_types() -> None:
    info = model_info("anthropic", "claude-sonnet-4-5")
    assert isinstance(info, ModelInfo) and isinstance(info.capabilities, frozenset)
    assert "tools" in info.capabilities and info.context_window == 200000
    assert model_info("anthropic", "no-such-model") is None and model_info("nope", "gpt-4o") is None
    assert [m.model for m in models_for("kimi_k2")][:3] == ["moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"]
    assert models_for("nope") == []


def test_cost_usd_uses_real_prices() -> None:
    assert cost_usd("openai", "gpt-4o", 1_000_000, 0) == pytest.approx(2.50)
    assert cost_usd("openai", "gpt-4o", 1000, 500) == pytest.approx((1000 * 2.5 + 500 * 10) / 1e6)
    assert baseline_cost_usd(1000, 500) == cost_usd("openai", "gpt-4o", 1000, 500)


def test_cached_tokens_billed_at_cached_price_else_input_price() -> None:
    assert cost_usd("openai", "gpt-4o", 1000, 0, cached_tokens=400) == pytest.approx((600 * 2.5 + 400 * 1.25) / 1e6)
    mini = model_info("openai", "gpt-4o-mini")
    assert mini.price_cached is None
    assert cost_usd("openai", "gpt-4o-mini", 1000, 0, cached_tokens=400) == pytest.approx(1000 * 0.15 / 1e6)


def test_unpriced_is_none_never_zero() -> None:
    assert cost_usd("google_gemini", "gemini-2.0-pro", 1000, 10) is None
    assert cost_usd("openai", "no-such-model", 1000, 10) is None
    assert cost_usd("glm_4_6", "glm-4-flash", 1000, 10) == 0.0
    assert cost_usd("openai", "text-embedding-3-small", 1000, 0) == pytest.approx(0.00002)
    assert cost_usd("openai", "text-embedding-3-small", 1000, 5) is None  # no output price known


def test_cost_usd_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        cost_usd("openai", "gpt-4o", -1, 0)
    with pytest.raises(ValueError):
        cost_usd("openai", "gpt-4o", 10, 0, cached_tokens=11)


def test_load_from_a_path_argument(tmp_path: Path) -> None:
    data = json.loads(json.dumps(RAW))
    data["models"]["openai"]["gpt-4o"]["price"]["input"] = 99.0
    path = tmp_path / "cat.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    other = load_catalogue(str(path))
    assert other is load_catalogue(str(path))  # loaded once
    assert cost_usd("openai", "gpt-4o", 1_000_000, 0, catalogue=other) == pytest.approx(99.0)
    assert cost_usd("openai", "gpt-4o", 1_000_000, 0) == pytest.approx(2.50)
    assert isinstance(Catalogue(data).model("openai", "gpt-4o"), ModelInfo)


@pytest.mark.parametrize("module", ["catalogue.py", "router.py", "router_legacy.py"])
def test_pure_modules_read_no_environment_and_import_no_web_or_db(module: str) -> None:
    source = (ROOT / module).read_text(encoding="utf-8")
    assert "os.environ" not in source and "getenv(" not in source
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert not imported & {"flask", "sqlalchemy", "requests", "httpx", "os", "socket", "urllib"}

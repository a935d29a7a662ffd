"""The pure router: each rule, window fit, price order, rules as data, NoRouteError, legacy API."""
from __future__ import annotations

import copy

import pytest

from catalogue import Catalogue, baseline_cost_usd, load_catalogue, model_info, models_for, provider_ids, routing_rules
from router import (Candidate, NoRouteError, RequestFeatures, cost_report, detect_task_types, extract_features,
                    route, routing_capabilities, select_provider)

ALL = provider_ids()
CHINESE = "请用中文详细介绍一下人工智能在医疗领域的应用，以及未来的发展方向。"
CODE = "Fix this:\n```python\ndef add(a, b):\n    return a - b\n```"
REASONING = "Prove step by step that the square root of two is irrational, and explain why the proof works."
GENERAL = "Hello! Write a short friendly greeting for a birthday card."


def first(candidates: list[Candidate]) -> tuple[str, str]:
    """Return the first candidate as (provider, model)."""
    return candidates[0].provider, candidates[0].model


def needed(features: RequestFeatures) -> int:
    """Return the tokens a model window must hold for these features."""
    out = 0 if features.embeddings else (features.max_tokens or routing_rules()["default_output_tokens"])
    return features.prompt_tokens + out


def assert_all_fit(features: RequestFeatures, candidates: list[Candidate]) -> None:
    """Fail when any candidate's window or output limit is too small."""
    for c in candidates:
        info = model_info(c.provider, c.model)
        assert info.context_window >= needed(features), c
        if features.max_tokens is not None and info.max_output is not None:
            assert info.max_output >= features.max_tokens, c


# --- features ----------------------------------------------------------------------------------

def test_features_estimate_tokens_and_cjk_share() -> None:
    latin = extract_features(["a" * 400])
    assert latin.prompt_tokens == 100 + 4 and latin.cjk_share == 0.0
    cjk = extract_features(["中" * 100])
    assert cjk.prompt_tokens == 100 + 4 and cjk.cjk_share == 1.0
    mixed = extract_features(["中" * 50 + "a" * 50], max_tokens=7)
    assert mixed.cjk_share == pytest.approx(0.5) and mixed.max_tokens == 7


def test_features_detect_code_reasoning_and_message_shapes() -> None:
    assert extract_features([CODE]).code and not extract_features([GENERAL]).code
    assert extract_features([REASONING]).reasoning and not extract_features([GENERAL]).reasoning
    parts = [{"role": "system", "content": "be brief"},
             {"role": "user", "content": [{"type": "text", "text": "why is the sky blue?"}]}]
    f = extract_features(parts, tools=True)
    assert f.reasoning and f.tools and f.prompt_tokens > 8
    assert extract_features(["x"], task="embeddings").embeddings
    with pytest.raises(ValueError):
        extract_features(["x"], task="poetry")


def test_features_on_a_one_megabyte_prompt() -> None:
    f = extract_features(["Ordinary words about nothing much. " * 30_000 + "```js\nconst x = () => 1;\n```"])
    assert f.code and f.prompt_tokens > 250_000
    zh = extract_features([CHINESE * 30_000])
    assert zh.cjk_share > 0.9


# --- rules -------------------------------------------------------------------------------------

def test_chinese_goes_to_glm_first() -> None:
    cands = route(extract_features([CHINESE]), ALL)
    assert first(cands) == ("glm_4_6", "glm-4.6") and cands[0].task == "chinese_language"
    assert "Chinese" in cands[0].reason


def test_a_little_chinese_below_the_threshold_is_not_routed_to_glm_by_rule() -> None:
    f = extract_features([GENERAL + " 你好"])
    assert 0 < f.cjk_share < 0.3
    assert all(c.task is None for c in route(f, ALL))


def test_long_context_goes_to_kimi_and_every_window_fits() -> None:
    f = extract_features(["Long report paragraph. " * 17_400])  # ~100K tokens
    cands = route(f, ALL)
    assert first(cands) == ("kimi_k2", "kimi-k2-0905-preview") and cands[0].task == "long_context"
    assert_all_fit(f, cands)


def test_beyond_kimis_window_kimi_is_skipped_for_a_fitting_model() -> None:
    f = RequestFeatures(prompt_tokens=300_000, max_tokens=2000)
    cands = route(f, ALL)
    assert "kimi_k2" not in {c.provider for c in cands}
    assert cands[0].provider == "google_gemini"
    assert_all_fit(f, cands)


@pytest.mark.parametrize("prompt_tokens", [100, 7_000, 16_000, 31_000, 120_000, 130_000, 199_000, 255_000,
                                           270_000, 500_000, 1_000_000, 1_046_000])
@pytest.mark.parametrize("max_tokens", [None, 4096, 20_000, 100_000])
def test_never_a_model_smaller_than_the_request(prompt_tokens: int, max_tokens: int | None) -> None:
    for tools in (False, True):
        f = RequestFeatures(prompt_tokens=prompt_tokens, max_tokens=max_tokens, tools=tools, cjk_share=0.5, code=True)
        try:
            cands = route(f, ALL)
        except NoRouteError:
            continue
        assert_all_fit(f, cands)


def test_nothing_fits_a_huge_request() -> None:
    with pytest.raises(NoRouteError, match="shorten the prompt"):
        route(RequestFeatures(prompt_tokens=5_000_000), ALL)


def test_code_goes_to_deepseek_first() -> None:
    cands = route(extract_features([CODE]), ALL)
    assert first(cands) == ("deepseek", "deepseek-v4-flash") and cands[0].task == "code_generation"


def test_reasoning_goes_to_anthropic_first() -> None:
    cands = route(extract_features([REASONING]), ALL)
    assert first(cands) == ("anthropic", "claude-sonnet-4-5") and cands[0].task == "reasoning"


def test_embeddings_order_gemini_glm_openai_embedding_models_only() -> None:
    cands = route(extract_features(["a sentence to embed"], embeddings=True), ALL)
    assert [c.provider for c in cands[:3]] == ["google_gemini", "glm_4_6", "openai"]
    assert cands[0].model == "gemini-embedding-001"
    assert all("embeddings" in model_info(c.provider, c.model).capabilities for c in cands)
    only = route(extract_features(["x"], embeddings=True), ["anthropic", "openai", "kimi_k2"])
    assert [(c.provider, c.model) for c in only] == [("openai", "text-embedding-3-small")]


def test_tools_only_tool_capable_models() -> None:
    rules = routing_rules()
    rules["tasks"]["code_generation"]["prefer"][0]["models"] = ["deepseek-coder"]  # chat-only model
    for tools in (False, True):
        cands = route(extract_features([CODE], tools=tools), ALL, rules=rules)
        if tools:
            assert all("tools" in model_info(c.provider, c.model).capabilities for c in cands)
            assert ("deepseek", "deepseek-coder") not in [(c.provider, c.model) for c in cands]
        else:
            assert first(cands) == ("deepseek", "deepseek-coder")


def test_general_goes_to_the_cheapest_model_by_real_price() -> None:
    f = extract_features([GENERAL], max_tokens=500)
    cands = route(f, ALL)
    assert all(c.task is None for c in cands)
    out = f.max_tokens
    brute = min((m.cost_usd(f.prompt_tokens, out), m.provider, m.model) for p in ALL for m in models_for(p)
                if "chat" in m.capabilities and not m.retired and m.price_input is not None
                and m.price_output is not None and m.context_window >= f.prompt_tokens + out)
    assert cands[0].est_cost_usd == pytest.approx(brute[0])
    assert cands[0].est_cost_usd == pytest.approx(model_info(*first(cands)).cost_usd(f.prompt_tokens, out))


def test_fallback_is_price_ordered_one_model_per_provider() -> None:
    cands = route(extract_features([CHINESE]), ALL)
    providers = [c.provider for c in cands]
    assert len(providers) == len(set(providers)) == len(ALL)
    rest = [c.est_cost_usd for c in cands if c.task is None]
    assert rest == sorted(rest) and len(rest) >= 2


def _tiny_catalogue(price_b: dict) -> Catalogue:
    """Three one-model providers: a dear, b as given, c cheap."""
    entry = {"name": "x", "description": "x", "acquisition_url": "x", "expected_format": "x",
             "capabilities": ["chat"], "models": []}
    def model(price: dict) -> dict:
        """One chat model entry with the given price."""
        return {"context_window": 10_000, "max_output": 1000, "capabilities": ["chat"], "price": price,
                "price_source": "test", "price_date": "test"}
    cheap, dear = {"input": 0.1, "output": 0.1, "cached_input": None}, {"input": 5, "output": 5, "cached_input": None}
    return Catalogue({"providers": {p: dict(entry, models=[f"{p}-1"]) for p in "abc"},
                      "models": {"a": {"a-1": model(dear)}, "b": {"b-1": model(price_b)}, "c": {"c-1": model(cheap)}},
                      "baseline": {"provider": "a", "model": "a-1"}, "routing_rules": {"tasks": {}, "task_order": []}})


@pytest.mark.parametrize("price_b", [{"input": None, "output": None, "cached_input": None},
                                     {"input": 0.01, "output": None, "cached_input": None}])
def test_unpriced_models_sort_after_priced_ones(price_b: dict) -> None:
    cands = route(RequestFeatures(prompt_tokens=100), "abc", catalogue=_tiny_catalogue(price_b))
    assert [c.provider for c in cands] == ["c", "a", "b"]
    assert cands[-1].est_cost_usd is None and "unpriced" in cands[-1].reason


def test_priced_cheaper_beats_dearer_in_a_tiny_catalogue() -> None:
    cat = _tiny_catalogue({"input": 0.01, "output": 0.01, "cached_input": None})
    assert [c.provider for c in route(RequestFeatures(prompt_tokens=100), "abc", catalogue=cat)] == ["b", "c", "a"]


def test_no_usable_provider_names_what_to_configure() -> None:
    with pytest.raises(NoRouteError) as err:
        route(extract_features(["embed"], embeddings=True), ["anthropic", "kimi_k2"])
    msg = str(err.value)
    assert "embeddings" in msg and "add a key for google_gemini, glm_4_6, openai" in msg
    with pytest.raises(NoRouteError, match="add a key for"):
        route(extract_features([GENERAL]), [])
    with pytest.raises(NoRouteError, match="add a key for"):
        route(extract_features([GENERAL]), ["not_a_provider"])
    assert issubclass(NoRouteError, Exception) and NoRouteError.__mro__[1] is Exception


def test_rules_are_data_a_changed_rules_dict_changes_the_outcome() -> None:
    f = extract_features([CHINESE])
    rules = routing_rules()
    rules["tasks"]["chinese_language"]["prefer"].insert(0, {"provider": "kimi_k2", "models": ["kimi-k2.5"]})
    assert first(route(f, ALL, rules=rules)) == ("kimi_k2", "kimi-k2.5")
    rules2 = copy.deepcopy(routing_rules())
    rules2["cjk_share_threshold"] = 1.01
    assert route(f, ALL, rules=rules2)[0].task is None
    assert first(route(f, ALL)) == ("glm_4_6", "glm-4.6")  # defaults untouched


def test_explicit_task_goes_first() -> None:
    cands = route(extract_features([GENERAL], task="translation"), ALL)
    assert cands[0].provider == "glm_4_6" and cands[0].task == "translation"


def test_route_uses_the_catalogue_it_is_given() -> None:
    data = copy.deepcopy(load_catalogue().data)
    data["models"]["anthropic"]["claude-3-haiku"]["price"].update(input=0.0001, output=0.0001)
    data["models"]["anthropic"]["claude-3-haiku"]["price_source"] = "test"
    cands = route(extract_features([GENERAL]), ["openai", "anthropic"], catalogue=Catalogue(data))
    assert first(cands) == ("anthropic", "claude-3-haiku")


# --- original API (contract §8) ------------------------------------------------------------------

def test_detect_task_types() -> None:
    assert detect_task_types(GENERAL) == ["general"]
    assert "chinese_language" in detect_task_types(CHINESE)
    assert "code_generation" in detect_task_types(CODE)
    assert detect_task_types(GENERAL, context_length=9000)[0] == "long_context"
    assert "translation" in detect_task_types("Translate this into French")


def test_select_provider_prefers_the_cheaper_of_openai_and_anthropic() -> None:
    res = select_provider(GENERAL, ["openai", "anthropic"])
    assert {"success", "provider_id", "provider", "model", "score", "reasons", "detected_tasks",
            "selection_reasoning"} <= set(res)
    assert res["success"] is True and res["detected_tasks"] == ["general"]
    cands = route(extract_features([GENERAL]), ["openai", "anthropic"])
    cheaper = min(cands, key=lambda c: c.est_cost_usd)
    assert (res["provider_id"], res["model"]) == (cheaper.provider, cheaper.model)
    assert res["model"] != "claude-3-opus"  # the original's defect
    assert res["score"] > res["alternatives"][0]["score"]
    assert res["provider"]["name"] == "OpenAI" and res["provider"]["cost_savings"] > 0


def test_select_provider_failures_and_specialists() -> None:
    assert select_provider(GENERAL, []) == {"success": False, "error": "No AI providers configured",
                                            "suggestion": select_provider(GENERAL, [])["suggestion"]}
    assert set(select_provider(GENERAL, ["nope"])) == {"success", "error", "suggestion"}
    emb = select_provider("embed", ["anthropic"], task_types=["embeddings"])
    assert emb["success"] is False and "google_gemini" in emb["error"]
    assert select_provider(CHINESE, ALL)["provider_id"] == "glm_4_6"
    assert select_provider(GENERAL, ALL, context_length=100_000)["provider_id"] == "kimi_k2"


def test_cost_report_uses_real_catalogue_prices() -> None:
    report = cost_report(["openai", "anthropic"])
    mix = routing_rules()["reference_mix"]
    p, c = mix["prompt_tokens"], mix["completion_tokens"]
    base = baseline_cost_usd(p, c)
    rows = {row["provider_id"]: row for row in report["providers"]}
    assert set(rows) == {"openai", "anthropic"}
    for pid, row in rows.items():
        cheapest = min(m.cost_usd(p, c) for m in models_for(pid) if "chat" in m.capabilities and not m.retired
                       and m.price_input is not None and m.price_output is not None)
        assert row["cost_savings"] == round((1 - cheapest / base) * 100, 1)
    assert report["total_potential_savings"] == max(r["cost_savings"] for r in rows.values())
    assert report["baseline"]["model"] == "gpt-4o" and report["recommendations"]
    assert cost_report([])["total_potential_savings"] == 0.0


def test_routing_capabilities_come_from_the_rules() -> None:
    caps = routing_capabilities()
    assert "embeddings: google_gemini -> glm_4_6 -> openai" in caps
    rules = routing_rules()
    rules["tasks"]["embeddings"]["prefer"].reverse()
    assert "embeddings: openai -> glm_4_6 -> google_gemini" in routing_capabilities(rules=rules)


def test_long_prompt_keywords_are_found_at_head_and_tail_and_tokens_cover_everything():
    from router import extract_features
    filler = "lorem ipsum dolor sit amet " * 40_000          # ~1 MB of plain prose
    head = extract_features([{"role": "user", "content": "Please refactor this python code.\n" + filler}])
    tail = extract_features([{"role": "user", "content": filler + "\nNow explain step by step why."}])
    plain = extract_features([{"role": "user", "content": filler}])
    assert head.code and not plain.code
    assert tail.reasoning and not plain.reasoning
    assert plain.prompt_tokens >= len(filler) // 4

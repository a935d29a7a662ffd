"""The original ATOM router API (contract §8) on top of the pure router, with cost scored the right way.

Scores rise with desirability: rule-preferred candidates score in (1, 1.5] by rank; the others score
baseline / (baseline + cost) in (0, 1], so a cheaper model always scores higher; unpriced scores 0.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Collection, Mapping

from catalogue import Catalogue, baseline, load_catalogue, models_for
from router import TASK_TYPES, Candidate, NoRouteError, RequestFeatures, extract_features, route

_HINT_ORDER = ("document_analysis", "translation", "embeddings", "multilingual")


def _setup(rules: Mapping[str, Any] | None, catalogue: Catalogue | None) -> tuple[Catalogue, Mapping[str, Any]]:
    """Resolve the default catalogue and rules."""
    cat = catalogue if catalogue is not None else load_catalogue()
    return cat, (cat.rules if rules is None else rules)


def detect_task_types(prompt: str, context_length: int = 0, *, rules: Mapping[str, Any] | None = None,
                      catalogue: Catalogue | None = None) -> list[str]:
    """Return the task types detected in a prompt (original API); ["general"] when nothing matches."""
    _, r = _setup(rules, catalogue)
    f = extract_features([prompt])
    tasks: list[str] = []
    if context_length > r.get("legacy_long_context_chars", 8000) or f.prompt_tokens > r.get("long_context_tokens", 32000):
        tasks.append("long_context")
    flags = (("chinese_language", f.cjk_share >= r.get("cjk_share_threshold", 0.3)),
             ("code_generation", f.code), ("reasoning", f.reasoning))
    tasks += [name for name, on in flags if on]
    tasks += [h for h in _HINT_ORDER if h in f.hints]
    return tasks or ["general"]


def _scores(cands: list[Candidate], base_cost: float | None) -> list[float]:
    """Score candidates so the list order is preserved and cheaper fallbacks score higher."""
    k = sum(1 for c in cands if c.task is not None)
    out: list[float] = []
    for i, c in enumerate(cands):
        if c.task is not None:
            out.append(round(1 + 0.5 * (k - i) / k, 4))
        elif c.est_cost_usd is None or not base_cost:
            out.append(0.0)
        else:
            out.append(round(base_cost / (base_cost + c.est_cost_usd), 4))
    return out


def _savings(cost: float | None, base_cost: float | None) -> float | None:
    """Return the percentage saved against the baseline, or None when unpriced."""
    if cost is None or not base_cost:
        return None
    return round((1 - cost / base_cost) * 100, 1)


def _provider(cat: Catalogue, rules: Mapping[str, Any], pid: str, savings: float | None) -> dict[str, Any]:
    """Return the provider block of the original response (catalogue fields + profile + savings)."""
    entry = cat.providers[pid]
    profile = rules.get("legacy_profiles", {}).get(pid, {})
    return {"id": pid, "name": entry["name"], "description": entry["description"],
            "capabilities": list(entry["capabilities"]), "models": list(entry["models"]),
            "specialization": profile.get("specialization", "general purpose"),
            "reliability": profile.get("reliability"), "cost_savings": savings}


def select_provider(prompt: str, configured: Collection[str], context_length: int = 0,
                    task_types: list[str] | None = None, *, rules: Mapping[str, Any] | None = None,
                    catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Pick a provider and model for a prompt in the original response shape."""
    cat, r = _setup(rules, catalogue)
    wanted = set(configured)
    known = [p for p in cat.providers if p in wanted]
    if not known:
        return {"success": False, "error": "No AI providers configured",
                "suggestion": "Add an API key for at least one provider: " + ", ".join(cat.providers)}
    given = [t for t in (task_types or []) if t in TASK_TYPES]
    detected = given or detect_task_types(prompt, context_length, rules=r, catalogue=cat)
    task = next((t for t in detected if t not in ("general", "chat")), None)
    f = extract_features([prompt], task=task, embeddings="embeddings" in given)
    f = replace(f, prompt_tokens=max(f.prompt_tokens, context_length))
    try:
        cands = route(f, known, rules=r, catalogue=cat)
    except NoRouteError as exc:
        return {"success": False, "error": str(exc),
                "suggestion": "Configure one of the providers named in the error, or shorten the request"}
    base_cost = _baseline_cost(f, r, cat)
    scores = _scores(cands, base_cost)
    top, saving = cands[0], _savings(cands[0].est_cost_usd, base_cost)
    alternatives = [{"provider_id": c.provider, "model": c.model, "score": s, "reason": c.reason,
                     "cost_savings": _savings(c.est_cost_usd, base_cost)} for c, s in zip(cands[1:], scores[1:])]
    return {"success": True, "provider_id": top.provider, "provider": _provider(cat, r, top.provider, saving),
            "model": top.model, "score": scores[0], "reasons": _reasons(top, saving, cat),
            "detected_tasks": detected, "alternatives": alternatives,
            "selection_reasoning": f"Selected {cat.providers[top.provider]['name']} ({top.model}) for "
                                   f"{', '.join(detected)}: {top.reason}"}


def _baseline_cost(f: RequestFeatures, rules: Mapping[str, Any], cat: Catalogue) -> float | None:
    """Return what the request would cost on the baseline model."""
    out = f.max_tokens if f.max_tokens is not None else int(rules.get("default_output_tokens", 1024))
    return baseline(catalogue=cat).cost_usd(f.prompt_tokens, 0 if f.embeddings else out)


def _reasons(top: Candidate, saving: float | None, cat: Catalogue) -> list[str]:
    """Return the human-readable reasons for the chosen candidate."""
    base = "/".join(cat.baseline)
    cost = "price unknown (unpriced model)" if saving is None else f"{saving}% cheaper than {base}"
    return [top.reason, f"Cost: {cost}"]


def _report_row(cat: Catalogue, rules: Mapping[str, Any], pid: str, probe: RequestFeatures,
                base_cost: float | None) -> dict[str, Any]:
    """Return one provider's line of the cost report (its cheapest priced chat model)."""
    try:
        cand: Candidate | None = route(probe, (pid,), rules=rules, catalogue=cat)[0]
    except NoRouteError:
        cand = None
    cost = cand.est_cost_usd if cand else None
    tokens = probe.prompt_tokens + (probe.max_tokens or 0)
    return {"provider_id": pid, "name": cat.providers[pid]["name"], "cheapest_model": cand.model if cand else None,
            "blended_price_per_1m": None if cost is None else round(cost / tokens * 1_000_000, 4),
            "cost_savings": _savings(cost, base_cost),
            "unpriced_models": [m.model for m in models_for(pid, catalogue=cat) if m.price_input is None]}


def cost_report(configured: Collection[str], *, rules: Mapping[str, Any] | None = None,
                catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Compare configured providers' real catalogue prices with the OpenAI baseline (original API)."""
    cat, r = _setup(rules, catalogue)
    mix = r.get("reference_mix", {"prompt_tokens": 750, "completion_tokens": 250})
    probe = RequestFeatures(prompt_tokens=mix["prompt_tokens"], max_tokens=mix["completion_tokens"])
    base = baseline(catalogue=cat)
    base_cost = base.cost_usd(probe.prompt_tokens, mix["completion_tokens"])
    rows = {pid: _report_row(cat, r, pid, probe, base_cost) for pid in cat.providers}
    wanted = set(configured)
    mine = [rows[p] for p in cat.providers if p in wanted]
    total = max((row["cost_savings"] for row in mine if row["cost_savings"] is not None), default=0.0)
    return {"baseline": {"provider": base.provider, "model": base.model,
                         "blended_price_per_1m": round(base_cost / sum(mix.values()) * 1_000_000, 4)},
            "reference_mix": dict(mix), "providers": mine, "total_potential_savings": total,
            "recommendations": _recommendations(mine, rows, total, r)}


def _recommendations(mine: list[dict[str, Any]], rows: dict[str, dict[str, Any]], total: float,
                     rules: Mapping[str, Any]) -> list[str]:
    """Suggest keys that would add fallback depth, lower cost or cover a specialist task."""
    have = {row["provider_id"] for row in mine}
    recs = [] if len(have) >= 3 else ["Configure at least 3 providers so a failed call can fall back"]
    cheaper = [row for pid, row in rows.items() if pid not in have and (row["cost_savings"] or 0) > total]
    if cheaper:
        best = max(cheaper, key=lambda row: row["cost_savings"])
        recs.append(f"Add a key for {best['provider_id']}: {best['cheapest_model']} is {best['cost_savings']}% "
                    f"cheaper than the baseline at the reference token mix")
    for task in rules.get("task_order", ()):
        prefer = [p["provider"] for p in rules.get("tasks", {}).get(task, {}).get("prefer", ())]
        if prefer and not have.intersection(prefer):
            recs.append(f"No {task} specialist configured: add a key for {prefer[0]}")
    return recs


def routing_capabilities(*, rules: Mapping[str, Any] | None = None, catalogue: Catalogue | None = None) -> list[str]:
    """Describe what the router can do, derived from the rules data."""
    _, r = _setup(rules, catalogue)
    out = [f"{task}: " + " -> ".join(p["provider"] for p in spec.get("prefer", ()))
           for task, spec in r.get("tasks", {}).items() if spec.get("prefer")]
    return out + ["general: cheapest usable model by catalogue price (unpriced last)",
                  "tools: only tool-capable models", "context window: never a model smaller than prompt + max_tokens",
                  "fallback: remaining usable providers by price"]

"""The pure task router: request features + usable providers + rules + prices -> ordered candidates.

No Flask, DB, HTTP or environment here. Rules and prices are data (providers/catalogue.json,
section `routing_rules`); lookup tables derived from them are built once per catalogue/rules pair.
"""
from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Collection, Mapping, NamedTuple

from catalogue import Catalogue, ModelInfo, load_catalogue
from router_text import scan_window, text_of

TASK_TYPES = ("chat", "code_generation", "reasoning", "embeddings", "translation", "document_analysis",
              "long_context", "chinese_language", "multilingual", "function_calling", "general")
# Han ideographs plus CJK punctuation and full-width forms (so runs of Chinese text stay long).
_CJK_RUN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")
# Substring markers per detected trait, matched on " " + lowercased text with C-speed `in` (linear,
# no regex backtracking). "code" and "reasoning" become flags; the other groups become hints.
_MARKERS = {
    "code": ("```", "def ", "#include", "console.log", "=>", "();", "){", "};", "</", "import ", "public static",
             " function", " code", "python", "javascript", "typescript", " java ", " rust", "golang", " sql",
             "debug", "refactor", "compile", "stack trace", "traceback", "代码", "函数", "编程"),
    "reasoning": ("analy", " prove", " proof", "step by step", "step-by-step", " reason", " compar", " why",
                  " explain", " derive", " deduce", "trade-off", "tradeoff", "pros and cons", " evaluate",
                  "think through", " justify", "分析", "推理", "证明", "比较", "为什么", "逐步"),
    "translation": ("translat", "翻译"), "document_analysis": ("summar", "tl;dr", "总结", "摘要"),
    "embeddings": (" embed", " vector", "向量")}
_ASCII_MARKERS = {k: tuple(m for m in v if m.isascii()) for k, v in _MARKERS.items()}
_MESSAGE_OVERHEAD_TOKENS = 4


class NoRouteError(Exception):
    """No usable provider can serve the request; the message says which key to configure."""


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """What the router needs to know about a request (computed once by extract_features)."""

    prompt_tokens: int
    cjk_share: float = 0.0
    max_tokens: int | None = None
    code: bool = False
    reasoning: bool = False
    tools: bool = False
    embeddings: bool = False
    task: str | None = None
    hints: frozenset[str] = frozenset()


class Candidate(NamedTuple):
    """One routing choice with a human-readable reason; task is None for price-ordered picks."""

    provider: str
    model: str
    reason: str
    task: str | None = None
    est_cost_usd: float | None = None


def extract_features(messages: list[dict] | list[str], *, max_tokens: int | None = None, tools: bool = False,
                     embeddings: bool = False, task: str | None = None) -> RequestFeatures:
    """Compute request features in one linear pass family.

    Token estimate: ~4 characters per token for non-CJK text, 1 token per CJK character, plus
    4 tokens of overhead per message. Keyword detection is substring-based (no regex backtracking).
    """
    if task is not None and task not in TASK_TYPES:
        raise ValueError(f"unknown task type {task!r}; expected one of {', '.join(TASK_TYPES)}")
    embeddings = embeddings or task == "embeddings"
    text, count = text_of(messages)
    length, is_ascii = len(text), text.isascii()
    cjk = 0 if is_ascii else length - len(_CJK_RUN.sub("", text))
    low = " " + scan_window(text).lower().replace("\n", " ")  # " why" also matches at a line start
    found = {k for k, marks in (_ASCII_MARKERS if is_ascii else _MARKERS).items() if any(m in low for m in marks)}
    if not is_ascii and (length - len(text.encode("ascii", "ignore")) - cjk) / length >= 0.3:
        found.add("multilingual")
    return RequestFeatures(
        prompt_tokens=(length - cjk + 3) // 4 + cjk + _MESSAGE_OVERHEAD_TOKENS * count,
        cjk_share=cjk / length if length else 0.0, max_tokens=max_tokens, code="code" in found,
        reasoning="reasoning" in found, tools=tools, embeddings=embeddings, task=task,
        hints=frozenset(found - {"code", "reasoning"}))


# A hot-loop model row (tuples index faster than attributes): (window, max_output, is_chat, is_embed,
# has_tools, input price, output price, ModelInfo).
_Row = tuple[int, "int | None", bool, bool, bool, "float | None", "float | None", ModelInfo]


def _row(m: ModelInfo) -> _Row:
    """Flatten a ModelInfo into a hot-loop row."""
    caps = m.capabilities
    return (m.context_window, m.max_output, "chat" in caps, "embeddings" in caps, "tools" in caps,
            m.price_input, m.price_output, m)


@dataclass(frozen=True, slots=True)
class _Tables:
    """Lookup tables derived once from a catalogue and a rules mapping."""

    cjk_threshold: float
    long_tokens: int
    default_output: int
    task_order: tuple[str, ...]
    prefer: dict[str, tuple[tuple[str, tuple[_Row, ...]], ...]]
    why: dict[str, str]
    chat_rows: dict[str, tuple[_Row, ...]]
    embed_rows: dict[str, tuple[_Row, ...]]
    provider_order: tuple[str, ...]


def _build_tables(cat: Catalogue, rules: Mapping[str, Any]) -> _Tables:
    """Resolve rule model names to rows; keep non-retired models per provider for price picks."""
    prefer: dict[str, tuple[tuple[str, tuple[_Row, ...]], ...]] = {}
    for task, spec in rules.get("tasks", {}).items():
        prefer[task] = tuple(
            (p["provider"], tuple(_row(m) for m in (cat.model(p["provider"], n) for n in p["models"]) if m))
            for p in spec.get("prefer", ()))
    live = {p: [_row(m) for m in ms.values() if not m.retired] for p, ms in cat.models.items()}
    return _Tables(
        cjk_threshold=float(rules.get("cjk_share_threshold", 0.3)),
        long_tokens=int(rules.get("long_context_tokens", 32000)),
        default_output=int(rules.get("default_output_tokens", 1024)),
        task_order=tuple(rules.get("task_order", ())), prefer=prefer,
        why={t: s.get("why", t) for t, s in rules.get("tasks", {}).items()},
        chat_rows={p: _pareto([r for r in rs if r[2]]) for p, rs in live.items()},
        embed_rows={p: _pareto([r for r in rs if r[3]]) for p, rs in live.items()},
        provider_order=tuple(cat.providers))


def _order_key(r: _Row) -> tuple[float, ...]:
    """Return a row's coordinates where larger is better (unknown limit = unlimited, unknown price = worst)."""
    inf = float("inf")
    return (r[0], inf if r[1] is None else r[1], r[4], -(inf if r[5] is None else r[5]),
            -(inf if r[6] is None else r[6]))


def _pareto(rows: list[_Row]) -> tuple[_Row, ...]:
    """Drop rows that can never be the cheapest fitting pick, so the hot loop scans fewer rows."""
    keys = [_order_key(r) for r in rows]
    # b dominates a when it fits wherever a fits and never costs more; ties go to the earlier row.
    return tuple(rows[i] for i, ka in enumerate(keys) if not any(
        j != i and all(x >= y for x, y in zip(kb, ka)) and (j < i or kb != ka) for j, kb in enumerate(keys)))


_TABLE_CACHE: dict[tuple[int, int], tuple[Catalogue, Mapping[str, Any], _Tables]] = {}


def _tables(cat: Catalogue, rules: Mapping[str, Any] | None) -> _Tables:
    """Return the cached tables for (catalogue, rules) object identity; rules are treated as immutable."""
    rules = cat.rules if rules is None else rules
    key = (id(cat), id(rules))
    hit = _TABLE_CACHE.get(key)
    if hit is None or hit[0] is not cat or hit[1] is not rules:
        if len(_TABLE_CACHE) >= 16:
            _TABLE_CACHE.pop(next(iter(_TABLE_CACHE)))
        hit = _TABLE_CACHE[key] = (cat, rules, _build_tables(cat, rules))
    return hit[2]


# The per-request constraints every candidate model must meet (a NamedTuple: cheap to build).
_Need = NamedTuple("_Need", [("prompt", int), ("output", int), ("total", int), ("max_tokens", "int | None"),
                             ("embeddings", bool), ("tools", bool)])


def _fits(row: _Row, need: _Need) -> bool:
    """Return True when the model has the capability, window and output limit the request needs."""
    window, max_out, chat, embed, tools = row[:5]
    if not (embed if need.embeddings else chat) or (need.tools and not tools) or window < need.total:
        return False
    return need.max_tokens is None or max_out is None or need.max_tokens <= max_out


def _cheapest(rows: tuple[_Row, ...], need: _Need) -> tuple[_Row | None, float | None]:
    """Return the cheapest fitting row (priced first) and its cost; the hot loop, so _fits is inlined."""
    best: _Row | None = None
    best_cost: float | None = None
    total, max_tokens, tools, prompt, output = need.total, need.max_tokens, need.tools, need.prompt, need.output
    for row in rows:
        window, max_out, _, _, has_tools, pin, pout, _ = row
        if window < total or (tools and not has_tools) or (
                max_tokens is not None and max_out is not None and max_tokens > max_out):
            continue
        cost = None if pin is None or (output and pout is None) else (
            (prompt * pin + (output * pout if output else 0.0)) / 1_000_000)
        if best is None or (cost is not None and (best_cost is None or cost < best_cost)):
            best, best_cost = row, cost
    return best, best_cost


def _triggered(features: RequestFeatures, t: _Tables, need: _Need) -> list[str]:
    """Return the rule tasks that apply, explicit task first, then detected ones in task_order."""
    tasks = [features.task] if features.task in t.prefer else []
    checks = {"embeddings": features.embeddings, "long_context": need.total > t.long_tokens,
              "chinese_language": features.cjk_share >= t.cjk_threshold,
              "code_generation": features.code, "reasoning": features.reasoning}
    for name in t.task_order:
        if name not in tasks and checks.get(name, name in features.hints):
            tasks.append(name)
    return tasks


def _need(features: RequestFeatures, t: _Tables) -> _Need:
    """Derive token and capability constraints from the features."""
    out = 0 if features.embeddings else (features.max_tokens if features.max_tokens is not None
                                         else t.default_output)
    return _Need(features.prompt_tokens, out, features.prompt_tokens + out, features.max_tokens,
                 features.embeddings, features.tools)


def _cost_text(cost: float | None) -> str:
    """Format an estimated cost for a reason string."""
    return "unpriced" if cost is None else f"est. ${cost:.3g}"


def _preferred(features: RequestFeatures, usable: Collection[str], t: _Tables, need: _Need,
               seen: set[str]) -> list[Candidate]:
    """Return the rule-preferred candidates, one per provider, first fitting preferred model each."""
    out: list[Candidate] = []
    for task in _triggered(features, t, need):
        for rank, (provider, models) in enumerate(t.prefer[task], 1):
            if provider in seen or provider not in usable:
                continue
            row = next((r for r in models if _fits(r, need)), None)
            if row is not None:
                m, cost = row[7], _cheapest((row,), need)[1]
                out.append(Candidate(provider, m.model, f"{t.why[task]}: {provider} is preference #{rank} "
                                     f"for {task}; {m.model} fits {need.total} tokens (window "
                                     f"{m.context_window}); {_cost_text(cost)}", task, cost))
                seen.add(provider)
    return out


def _by_price(usable: Collection[str], t: _Tables, need: _Need, seen: set[str]) -> list[Candidate]:
    """Return each remaining usable provider's cheapest fitting model, cheapest first, unpriced last."""
    ranked: list[tuple[bool, float, int, str, str, float | None]] = []
    for index, provider in enumerate(t.provider_order):
        if provider in seen or provider not in usable:
            continue
        row, cost = _cheapest((t.embed_rows if need.embeddings else t.chat_rows).get(provider, ()), need)
        if row is not None:
            ranked.append((cost is None, cost or 0.0, index, provider, row[7].model, cost))
    ranked.sort()
    return [Candidate(p, model, f"cheapest fitting model on {p}: {model} ({_cost_text(cost)} for "
                      f"{need.prompt}+{need.output} tokens)", None, cost) for _, _, _, p, model, cost in ranked]


def route(features: RequestFeatures, usable_providers: Collection[str], *,
          rules: Mapping[str, Any] | None = None, catalogue: Catalogue | None = None) -> list[Candidate]:
    """Return ordered candidates (preferred by rule, then by price); raise NoRouteError if none."""
    cat = catalogue if catalogue is not None else load_catalogue()
    t = _tables(cat, rules)
    need = _need(features, t)
    usable = usable_providers if isinstance(usable_providers, (AbstractSet, dict)) else set(usable_providers)
    seen: set[str] = set()
    found = _preferred(features, usable, t, need, seen)
    found += _by_price(usable, t, need, seen)
    if not found:
        raise NoRouteError(_no_route_message(features, t, need))
    return found


def _no_route_message(features: RequestFeatures, t: _Tables, need: _Need) -> str:
    """Say which provider keys would make the request routable."""
    every = t.provider_order
    names = [c.provider for c in _preferred(features, every, t, need, set())]
    names += [c.provider for c in _by_price(every, t, need, set(names))]
    kind = "an embeddings request" if need.embeddings else f"a request needing {need.total} tokens"
    kind += " with tools" if need.tools else ""
    if not names:
        return f"No model in the catalogue can serve {kind}: shorten the prompt or lower max_tokens"
    keys = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"No usable provider for {kind}: add a key for {keys}"


def __getattr__(name: str) -> Any:
    """Expose the original-API helpers (router_legacy) as router attributes, imported lazily."""
    if name in ("detect_task_types", "select_provider", "cost_report", "routing_capabilities"):
        import router_legacy
        return getattr(router_legacy, name)
    raise AttributeError(f"module 'router' has no attribute {name!r}")

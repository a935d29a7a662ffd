"""The provider and model catalogue: the ATOM provider fields, per-model prices and routing rules.

Data lives in providers/catalogue.json; this module only loads it once and answers questions.
Prices are USD per 1M tokens; None means "unpriced" (unknown), never "free".
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

DEFAULT_PATH = Path(__file__).resolve().parent / "providers" / "catalogue.json"
PROVIDER_FIELDS = ("name", "description", "acquisition_url", "expected_format", "capabilities", "models")
_PER_TOKEN = 1_000_000
# A dated snapshot suffix: OpenAI/Azure answer 'gpt-4o-2024-11-20', Anthropic 'claude-...-20250929'.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|20\d{6})$")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model of one provider: window, output limit, capabilities and list prices."""

    provider: str
    model: str
    context_window: int
    max_output: int | None
    capabilities: frozenset[str]
    price_input: float | None
    price_output: float | None
    price_cached: float | None
    embedding_dims: int | None = None
    deprecated: str | None = None
    retired: bool = False
    price_source: str = ""
    price_date: str = ""

    def cost_usd(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float | None:
        """Return the USD cost of a call, or None when a needed price is unknown."""
        if min(prompt_tokens, completion_tokens, cached_tokens) < 0 or cached_tokens > prompt_tokens:
            raise ValueError("token counts must be >= 0 and cached_tokens <= prompt_tokens")
        fresh = prompt_tokens - cached_tokens
        cached_price = self.price_cached if self.price_cached is not None else self.price_input
        total = 0.0
        for tokens, price in ((fresh, self.price_input), (cached_tokens, cached_price),
                              (completion_tokens, self.price_output)):
            if tokens:
                if price is None:
                    return None
                total += tokens * price
        return total / _PER_TOKEN


def _model_from_dict(provider: str, model: str, raw: Mapping[str, Any]) -> ModelInfo:
    """Build a ModelInfo from one entry of the JSON models section."""
    price = raw.get("price") or {}
    return ModelInfo(
        provider=provider, model=model,
        context_window=int(raw["context_window"]), max_output=raw.get("max_output"),
        capabilities=frozenset(raw.get("capabilities", ())),
        price_input=price.get("input"), price_output=price.get("output"),
        price_cached=price.get("cached_input"),
        embedding_dims=raw.get("embedding_dims"), deprecated=raw.get("deprecated"),
        retired=bool(raw.get("retired", False)),
        price_source=raw.get("price_source", ""), price_date=raw.get("price_date", ""),
    )


class Catalogue:
    """An immutable view of the catalogue JSON with typed model lookups."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.providers: dict[str, dict[str, Any]] = dict(data["providers"])
        self.models: dict[str, dict[str, ModelInfo]] = {
            pid: {mid: _model_from_dict(pid, mid, raw) for mid, raw in entries.items()}
            for pid, entries in data.get("models", {}).items()
        }
        self.rules: Mapping[str, Any] = data.get("routing_rules", {})
        base = data.get("baseline", {"provider": "openai", "model": "gpt-4o"})
        self.baseline: tuple[str, str] = (base["provider"], base["model"])

    @classmethod
    def from_path(cls, path: str | Path) -> "Catalogue":
        """Read and parse a catalogue JSON file."""
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def model(self, provider_id: str, model: str) -> ModelInfo | None:
        """Return one model's data, or None when the catalogue has none.

        A dated snapshot id that is not listed itself resolves to its listed alias, because
        providers answer with the snapshot ('gpt-4o-2024-11-20') when asked for the alias.
        """
        models = self.models.get(provider_id, {})
        info = models.get(model)
        if info is None and model and _SNAPSHOT.search(model):
            info = models.get(_SNAPSHOT.sub("", model))
        return info


@lru_cache(maxsize=8)
def load_catalogue(path: str | None = None) -> Catalogue:
    """Load (once per path) the catalogue from providers/catalogue.json or the given path."""
    return Catalogue.from_path(path or DEFAULT_PATH)


def _cat(catalogue: Catalogue | None) -> Catalogue:
    """Return the given catalogue or the default one."""
    return catalogue if catalogue is not None else load_catalogue()


def provider_ids(*, catalogue: Catalogue | None = None) -> list[str]:
    """Return provider ids in catalogue order."""
    return list(_cat(catalogue).providers)


def provider_info(provider_id: str, *, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Return a copy of the six ATOM contract fields for one provider (KeyError if unknown)."""
    entry = _cat(catalogue).providers[provider_id]
    return {field: copy.copy(entry[field]) for field in PROVIDER_FIELDS}


def model_info(provider_id: str, model: str, *, catalogue: Catalogue | None = None) -> ModelInfo | None:
    """Return one model's data, or None when unknown."""
    return _cat(catalogue).model(provider_id, model)


def models_for(provider_id: str, *, catalogue: Catalogue | None = None) -> list[ModelInfo]:
    """Return every model with data for a provider, in catalogue order."""
    return list(_cat(catalogue).models.get(provider_id, {}).values())


def cost_usd(provider_id: str, model: str, prompt_tokens: int, completion_tokens: int,
             cached_tokens: int = 0, *, catalogue: Catalogue | None = None) -> float | None:
    """Return the USD cost of a call; None when the model or a needed price is unknown.

    cached_tokens are part of prompt_tokens (OpenAI usage semantics) and are billed at the
    cached price when known, else at the input price.
    """
    info = _cat(catalogue).model(provider_id, model)
    return None if info is None else info.cost_usd(prompt_tokens, completion_tokens, cached_tokens)


def baseline_cost_usd(prompt_tokens: int, completion_tokens: int, *,
                      catalogue: Catalogue | None = None) -> float | None:
    """Return what the same tokens would cost on the baseline model (OpenAI gpt-4o)."""
    cat = _cat(catalogue)
    provider, model = cat.baseline
    return cost_usd(provider, model, prompt_tokens, completion_tokens, catalogue=cat)


def baseline(*, catalogue: Catalogue | None = None) -> ModelInfo:
    """Return the baseline model the savings figures compare against."""
    cat = _cat(catalogue)
    info = cat.model(*cat.baseline)
    if info is None:
        raise LookupError(f"baseline model {cat.baseline} has no models data")
    return info


def routing_rules(*, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Return a deep copy of the routing rules (safe to modify and pass to router.route)."""
    return copy.deepcopy(dict(_cat(catalogue).rules))


def providers_section() -> dict[str, dict[str, Any]]:
    """The shared, read-only provider section (id -> six ATOM fields), in contract order."""
    return _cat(None).providers


def providers_copy() -> dict[str, dict[str, Any]]:
    """A deep copy of the provider section that callers may mutate."""
    return copy.deepcopy(providers_section())

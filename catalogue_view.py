"""The provider section of the catalogue (the six ATOM fields per provider), read once."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE_PATH = Path(__file__).resolve().parent / "providers" / "catalogue.json"


@lru_cache(maxsize=1)
def providers() -> dict[str, dict[str, Any]]:
    """Provider id -> {name, description, acquisition_url, expected_format, capabilities, models}."""
    return json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))["providers"]


def providers_copy() -> dict[str, dict[str, Any]]:
    """A deep copy callers may mutate."""
    return copy.deepcopy(providers())

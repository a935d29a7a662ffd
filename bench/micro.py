"""In-process micro-benchmarks: the routing decision, and key lookup + decrypt on the hot path."""
from __future__ import annotations

from pathlib import Path

from bench_router import _prompt, measure
from report import Figure


def routing_figures(repeat: int, samples: int) -> list[Figure]:
    """route() alone and extract_features + route for a 1 KB prompt (bench/bench_router.py)."""
    from catalogue import load_catalogue, provider_ids
    from router import extract_features, route
    load_catalogue()
    usable = provider_ids()
    small = [{"role": "user", "content": _prompt(1024)}]
    feats = extract_features(small, max_tokens=512)
    cases = [("route() alone, 1 KB prompt", lambda: route(feats, usable)),
             ("extract_features + route, 1 KB prompt",
              lambda: route(extract_features(small, max_tokens=512), usable))]
    figures = []
    for name, fn in cases:
        fig = Figure("routing", name, "µs median/call", note="bench_router.measure")
        for _ in range(repeat):
            fig.gateway.append(measure(fn, samples=samples)[0])
        figures.append(fig)
    return figures


def vault_figures(db_url: str, enc_key: str, data_dir: Path, user: str, repeat: int,
                  samples: int) -> list[Figure]:
    """vault.credentials() cold (cache miss: SELECT + decrypt) and warm; usable_credentials()."""
    from config import Config
    from gateway import UNUSABLE
    from user_api_key_service import UserAPIKeyService
    vault = UserAPIKeyService(config=Config(database_url=db_url, encryption_keys=enc_key,
                                            data_dir=data_dir, auto_migrate=False))

    def cold_creds() -> object:
        """Cache cleared, then one lookup."""
        vault.cache.invalidate()
        return vault.credentials(user, "openai")

    def cold_usable() -> object:
        """Cache cleared, then one usable-credentials map."""
        vault.cache.invalidate()
        return vault.usable_credentials(user, UNUSABLE)

    cases = [("credentials() cold (SELECT + decrypt)", cold_creds, samples),
             ("credentials() warm (cache hit)", lambda: vault.credentials(user, "openai"),
              samples * 10),
             ("usable_credentials() cold", cold_usable, samples),
             ("usable_credentials() warm", lambda: vault.usable_credentials(user, UNUSABLE),
              samples * 10)]
    figures = []
    for name, fn, count in cases:
        fig = Figure("key vault", name, "µs median/call", note=f"{count} calls/repeat")
        for _ in range(repeat):
            fig.gateway.append(measure(fn, samples=count)[0])
        figures.append(fig)
    vault.engine.dispose()
    return figures

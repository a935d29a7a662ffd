"""Micro-benchmark of the pure router: route() alone, extract_features + route, and large prompts.

Run: python bench/bench_router.py [--quick]. Prints median and p99 per call in microseconds.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import timeit
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalogue import load_catalogue, provider_ids  # noqa: E402
from router import extract_features, route  # noqa: E402

_SENTENCE = "Please review the quarterly figures and tell me what changed since last month. "


def _prompt(size: int) -> str:
    """Return an English prompt of about `size` characters."""
    return (_SENTENCE * (size // len(_SENTENCE) + 1))[:size]


def measure(fn: Callable[[], object], *, samples: int) -> tuple[float, float]:
    """Return (median, p99) microseconds over `samples` individually timed calls (timeit, GC off)."""
    fn()  # warm caches (catalogue, routing tables)
    runs = sorted(t * 1e6 for t in timeit.repeat(fn, repeat=samples, number=1))
    return statistics.median(runs), runs[min(len(runs) - 1, int(0.99 * len(runs)))]


def machine() -> str:
    """Describe the machine and interpreter."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} "
            f"{platform.machine()}, {cpu}, {os.cpu_count()} CPUs")


def main(quick: bool = False) -> None:
    """Run every case and print a table."""
    scale = 10 if quick else 1
    load_catalogue()
    usable = provider_ids()
    small = [{"role": "user", "content": _prompt(1024)}]
    feats = extract_features(small, max_tokens=512)
    big100k, big1m = [_prompt(100_000)], [_prompt(1_000_000)]
    zh1m = [("请分析这份季度报告，并说明与上个月相比有哪些变化。" * 40_000)[:1_000_000]]
    cases = [
        ("route() alone, 1 KB prompt, 7 providers", lambda: route(feats, usable), 20_000),
        ("extract_features + route, 1 KB prompt", lambda: route(extract_features(small, max_tokens=512), usable),
         20_000),
        ("extract_features, 100 KB prompt", lambda: extract_features(big100k), 300),
        ("extract_features, 1 MB prompt", lambda: extract_features(big1m), 40),
        ("extract_features, 1 MB Chinese prompt", lambda: extract_features(zh1m), 40),
    ]
    print(machine())
    print(f"{'case':<44} {'median µs':>11} {'p99 µs':>11} {'samples':>8}")
    for name, fn, samples in cases:
        samples = max(samples // scale, 5)
        med, p99 = measure(fn, samples=samples)
        print(f"{name:<44} {med:>11.1f} {p99:>11.1f} {samples:>8}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

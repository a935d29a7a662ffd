"""Upstream call cost: requests' stock adapter (urllib3, http.client) vs the lean transport.

Run: python bench/transport_micro.py [--calls 3000] [--repeat 5]

Starts bench/mock_upstream.py (fixed OpenAI bytes, gevent) on 127.0.0.1, then sends the same
1 KB chat through each adapter from one thread: prepare (providers.http.prepare), send, read the
whole body, parse it with orjson; for streams, read every SSE byte. Adapters alternate per repeat.
Prints the median CPU time (this process: utime + stime) and wall time per call, with min–max,
and the ratio of medians. The mock's own CPU is not counted.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import orjson
from requests.adapters import BaseAdapter, HTTPAdapter

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from providers import http, transport  # noqa: E402

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-micro",
           "User-Agent": "byok-gateway/1.0", "Accept": "application/json"}


def start_mock() -> tuple[subprocess.Popen, int]:
    """bench/mock_upstream.py on a free loopback port."""
    proc = subprocess.Popen([sys.executable, str(BENCH / "mock_upstream.py")],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("MOCK_PORT="):
        proc.kill()
        raise SystemExit(f"mock_upstream did not start: {line!r}")
    return proc, int(line.split("=", 1)[1])


def caller(adapter: BaseAdapter, url: str, stream: bool) -> Callable[[], None]:
    """One upstream call through `adapter`, as the providers make it."""
    body = {"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "x" * 1000}]}

    def call() -> None:
        prepared = http.prepare("POST", url, headers=HEADERS, body=body)
        resp = adapter.send(prepared, stream=stream, timeout=(5.0, 30.0))
        if stream:
            sum(len(piece) for piece in resp.iter_content(chunk_size=None))
        else:
            orjson.loads(resp.content)
        resp.close()
    return call


def measure(call: Callable[[], None], calls: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per call over `calls` calls, after a warm-up."""
    for _ in range(min(200, calls)):
        call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return ((time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6)


def fmt(values: list[float]) -> str:
    """median (min–max)."""
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def main() -> None:
    """Measure both adapters, JSON and streamed, interleaved; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    proc, port = start_mock()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    adapters = {"requests HTTPAdapter": HTTPAdapter(max_retries=0), "lean transport": transport.LeanAdapter()}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for r in range(args.repeat):
            for name in (list(adapters) if r % 2 == 0 else list(reversed(adapters))):
                for kind, stream in (("JSON", False), ("20-chunk stream", True)):
                    results.setdefault((kind, name), []).append(
                        measure(caller(adapters[name], url, stream), args.calls))
    finally:
        proc.kill()
    print("| call | adapter | CPU µs/call median (min–max) | wall µs/call median (min–max) |")
    print("|---|---|---|---|")
    for (kind, name), runs in sorted(results.items()):
        print(f"| {kind} | {name} | {fmt([c for c, _ in runs])} | {fmt([w for _, w in runs])} |")
    for kind in ("JSON", "20-chunk stream"):
        stock = statistics.median(c for c, _ in results[(kind, "requests HTTPAdapter")])
        lean = statistics.median(c for c, _ in results[(kind, "lean transport")])
        print(f"\n{kind}: lean transport uses {lean / stock:.2f}× the CPU of the stock adapter")


if __name__ == "__main__":
    main()

"""HTTP measurements, each interleaving the gateway with the direct-to-mock baseline per repeat."""
from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import loadgen
import sse_client
import stack
from loadgen import Target
from report import Figure


@dataclass
class Ctx:
    """Everything a phase needs."""

    sim: object
    server: stack.GatewayServer
    gateway: Target
    direct: Target
    folder: Path
    repeat: int
    seconds: float
    litellm: Target | None = None
    figures: list[Figure] = field(default_factory=list)
    log: Callable[[str], None] = print

    def pids(self, who: str) -> list[int]:
        """The processes serving a target: gateway tree, simulator, or LiteLLM tree."""
        if who == "gateway":
            return self.server.pids()
        if who == "litellm":
            import litellm_proxy
            return litellm_proxy.pids()
        return [self.sim._proc.pid]          # SimulatorProcess keeps its Popen private

    def order(self, r: int) -> list[tuple[str, Target]]:
        """Targets of repeat r: the order alternates so that drift does not favour one side."""
        items = [("baseline", self.direct), ("gateway", self.gateway)]
        if self.litellm is not None:
            items.append(("litellm", self.litellm))
        return items if r % 2 == 0 else items[::-1]


def _add(fig: Figure, who: str, value: float) -> None:
    """Append to the gateway, baseline or litellm series."""
    getattr(fig, who).append(value)


def _wrk_figures(ctx: Ctx, section: str, cases: list[tuple[str, int, bool, int]],
                 metrics: list[tuple[str, str, Callable]]) -> None:
    """Run each (label, conns, stream, prompt_bytes) case per repeat and target; keep metrics."""
    figs = {(label, m): Figure(section, f"{m} {label}", unit) for label, *_ in cases
            for m, unit, _ in metrics}
    errors = {(label, who): 0 for label, *_ in cases for who in ("gateway", "litellm")}
    for r in range(ctx.repeat):
        for label, conns, stream, size in cases:
            for who, target in ctx.order(r):
                body = loadgen.write_body(ctx.folder, target.model, size, stream)
                pids = ctx.pids(who)
                cpu0 = stack.cpu_seconds(pids)
                res = loadgen.run_wrk(target, body, conns, ctx.seconds)
                res.cpu_ms_per_req = (stack.cpu_seconds(pids) - cpu0) * 1000 / max(1, res.requests)
                if who != "baseline":
                    errors[(label, who)] += res.errors + (res.requests == 0)
                for m, _, get in metrics:
                    _add(figs[(label, m)], who, get(res) if res.requests else float("nan"))
        ctx.log(f"  {section}: repeat {r + 1}/{ctx.repeat} done")
    for (label, _), fig in figs.items():
        fig.note = f"gateway errors: {errors[(label, 'gateway')]}"
        if ctx.litellm is not None:
            fig.note += f"; LiteLLM errors/empty runs: {errors[(label, 'litellm')]}"
        ctx.figures.append(fig)


def warm_up(ctx: Ctx) -> None:
    """One short run per target (connection pools, caches, imports)."""
    stack.configure_stream(ctx.sim, chunks=20, delay_ms=0)
    for who, target in ctx.order(0):
        for stream in (False, True):
            body = loadgen.write_body(ctx.folder, target.model, 1024, stream)
            loadgen.run_wrk(target, body, 8, 5 if who == "litellm" else 1)


def latency(ctx: Ctx, conns: tuple[int, ...]) -> None:
    """Added latency p50/p99 at each concurrency, non-streaming, 1 KB prompt."""
    stack.configure_stream(ctx.sim, chunks=20, delay_ms=0)
    cases = [(f"c={c}", c, False, 1024) for c in conns]
    _wrk_figures(ctx, "latency", cases, [("p50", "ms", lambda r: r.p50_ms),
                                         ("p99", "ms", lambda r: r.p99_ms)])


def throughput(ctx: Ctx, conns: tuple[int, ...]) -> None:
    """Requests/s at each concurrency, non-streaming and 20-chunk streams."""
    stack.configure_stream(ctx.sim, chunks=20, delay_ms=0)
    cases = [(f"c={c} {'stream-20' if s else 'json'}", c, s, 1024)
             for c in conns for s in (False, True)]
    _wrk_figures(ctx, "throughput", cases, [("req/s", "req/s", lambda r: r.rps),
                                            ("server CPU/req", "ms", lambda r: r.cpu_ms_per_req)])


def prompt_sizes(ctx: Ctx, sizes: tuple[int, ...]) -> None:
    """Latency at c=1 for growing prompts."""
    stack.configure_stream(ctx.sim, chunks=20, delay_ms=0)
    cases = [(f"prompt {_size(s)}, c=1", 1, False, s) for s in sizes]
    _wrk_figures(ctx, "growth", cases, [("p50", "ms", lambda r: r.p50_ms),
                                        ("p99", "ms", lambda r: r.p99_ms)])


def _size(n: int) -> str:
    """'100 KB' / '1 MB'."""
    return f"{n // (1 << 20)} MB" if n >= 1 << 20 else f"{n // 1024} KB"


def _tokens(target: Target) -> list[str]:
    """The bearer tokens of a target."""
    return [t for t in target.tokens_file.read_text().split() if t]


def _stream_stats(results: list[sse_client.StreamResult]) -> tuple[float, float, list[float]]:
    """Median TTFB, median first-content time, and mean arrival time per content index."""
    ok = [r for r in results if r.ok and r.content_ms]
    if not ok:
        return float("nan"), float("nan"), []
    n = min(len(r.content_ms) for r in ok)
    arrivals = [statistics.fmean(r.content_ms[i] for r in ok) for i in range(n)]
    return (statistics.median(r.ttfb_ms for r in ok),
            statistics.median(r.content_ms[0] for r in ok), arrivals)


def stream_overhead(ctx: Ctx, chunks: int = 20, cadence_ms: float = 25.0, per: int = 4) -> None:
    """TTFB, first content and per-chunk arrival via the gateway vs direct (known cadence)."""
    stack.configure_stream(ctx.sim, chunks=chunks, delay_ms=cadence_ms, first_ms=0)
    names = ("TTFB (status line)", "first content event",
             "chunk arrival, median over chunks", "chunk arrival, worst chunk")
    figs = [Figure("stream", n, "ms", note=f"{chunks} chunks every {cadence_ms:g} ms, "
                   f"{per} streams/repeat; chunk rows: gateway − direct arrival per chunk index")
            for n in names]
    for r in range(ctx.repeat):
        stats = {}
        for who, target in ctx.order(r):
            body = loadgen.write_body(ctx.folder, target.model, 1024, True).read_bytes()
            token = _tokens(target)[0]
            runs = [asyncio.run(sse_client.stream_once(target.url, token, body)) for _ in range(per)]
            stats[who] = _stream_stats(runs)
        for who, (ttfb, first, arr) in stats.items():
            _add(figs[0], who, ttfb)
            _add(figs[1], who, first)
            delays = sorted(a - b for a, b in zip(arr, stats["baseline"][2]))
            if who != "baseline":
                _add(figs[2], who, statistics.median(delays) if delays else float("nan"))
                _add(figs[3], who, delays[-1] if delays else float("nan"))
        figs[2].baseline.append(0.0)
        figs[3].baseline.append(0.0)
        ctx.log(f"  stream overhead: repeat {r + 1}/{ctx.repeat} done")
    ctx.figures += figs

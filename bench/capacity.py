"""Capacity: many concurrent slow streams through the gateway vs direct; errors and peak RSS."""
from __future__ import annotations

import asyncio
import statistics
import time

import loadgen
import sse_client
import stack
from phases import Ctx, _tokens
from report import Figure


async def _with_rss(coro, sample) -> tuple[list, tuple[float, ...]]:
    """Run coro while sampling memory every 0.25 s; returns (result, peak of each sampled figure)."""
    peak = sample()
    task = asyncio.ensure_future(coro)
    while not task.done():
        peak = tuple(map(max, peak, sample()))
        await asyncio.wait([task], timeout=0.25)
    return task.result(), peak


def settle(ctx: Ctx, limit_s: float = 60.0) -> None:
    """Wait (up to limit_s) until the servers under test use < 10% of a core: no leftovers."""
    whos = ["gateway", "baseline"] + (["litellm"] if ctx.litellm is not None else [])
    pids = [p for who in whos for p in ctx.pids(who)]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = stack.cpu_seconds(pids)
        time.sleep(1.0)
        if stack.cpu_seconds(pids) - before < 0.1:
            return


def _peak_overlap(results: list[sse_client.StreamResult]) -> int:
    """The most streams that were open at the same moment."""
    edges = sorted([(r.started, 1) for r in results] + [(r.ended, -1) for r in results])
    best = cur = 0
    for _, step in edges:
        cur += step
        best = max(best, cur)
    return best


def _errors(results: list[sse_client.StreamResult], chunks: int) -> int:
    """Streams that failed, or delivered fewer content events than the upstream sent."""
    return sum(1 for r in results if not r.ok or len(r.content_ms) < chunks)


def capacity(ctx: Ctx, streams: int, seconds: float, cadence_ms: float, repeat: int) -> None:
    """Hold `streams` streams whose upstream sends a chunk every cadence_ms for `seconds`."""
    chunks = max(1, int(seconds * 1000 / cadence_ms))
    stack.configure_stream(ctx.sim, chunks=chunks, delay_ms=cadence_ms, first_ms=cadence_ms)
    note = f"{streams} streams, {chunks} chunks every {cadence_ms:g} ms"
    figs = {k: Figure("capacity", k, u, note=note) for k, u in (
        ("errors", "streams"), ("peak concurrent streams", "streams"),
        ("stream duration p50", "s"), ("stream duration p99", "s"),
        ("server RSS idle", "MiB"), ("server RSS peak", "MiB"),
        ("server PSS idle", "MiB"), ("server PSS peak", "MiB"))}
    for r in range(repeat):
        for who, target in ctx.order(r):
            body = loadgen.write_body(ctx.folder, target.model, 1024, True).read_bytes()
            sample = ((lambda: (ctx.server.rss_mb(), ctx.server.pss_mb())) if who == "gateway"
                      else (lambda: (0.0, 0.0)))
            idle = sample()
            coro = sse_client.many_streams(target.url, _tokens(target), body, streams,
                                           ramp_s=2.0, timeout_s=seconds + 110)
            results, peak = asyncio.run(_with_rss(coro, sample))
            durations = sorted(r.ended - r.started for r in results)
            _record(figs, who, _errors(results, chunks), _peak_overlap(results), durations,
                    idle, peak)
            bad = [r.error or r.status for r in results if not r.ok][:3]
            ctx.log(f"  capacity {who}: errors={_errors(results, chunks)} peak RSS={peak[0]:.0f} MiB "
                    f"PSS={peak[1]:.0f} MiB "
                    f"{'sample failures: ' + str(bad) if bad else ''}")
            settle(ctx)
    for key in ("server RSS idle", "server RSS peak"):
        figs[key].note = "gunicorn master + workers, summed VmRSS from /proc; baseline column unused"
    for key in ("server PSS idle", "server PSS peak"):
        figs[key].note = ("gunicorn master + workers, summed Pss from /proc/*/smaps_rollup (pages "
                          "the worker shares with the master after fork counted once)")
    ctx.figures += list(figs.values())


def _record(figs: dict, who: str, errors: int, overlap: int, durations: list[float],
            idle: tuple[float, float], peak: tuple[float, float]) -> None:
    """Append one run's numbers to the figures."""
    p99 = durations[min(len(durations) - 1, int(0.99 * len(durations)))]
    for key, value in (("errors", errors), ("peak concurrent streams", overlap),
                       ("stream duration p50", statistics.median(durations)),
                       ("stream duration p99", p99)):
        getattr(figs[key], who).append(float(value))
    if who == "gateway":
        figs["server RSS idle"].gateway.append(idle[0])
        figs["server RSS peak"].gateway.append(peak[0])
        figs["server PSS idle"].gateway.append(idle[1])
        figs["server PSS peak"].gateway.append(peak[1])

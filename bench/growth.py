"""Growth: many users with stored keys (random user per request), and a large usage ledger."""
from __future__ import annotations

import threading
import time
import urllib.request
from dataclasses import replace

import loadgen
import stack
from phases import Ctx
from report import Figure


def users(ctx: Ctx, groups: dict[str, list[str]]) -> None:
    """Added latency at c=1 when each request comes from a random user of a group."""
    stack.configure_stream(ctx.sim, chunks=20, delay_ms=0)
    targets = {name: replace(ctx.gateway, name=f"gateway {name}",
                             tokens_file=loadgen.write_tokens(ctx.folder, name.replace(" ", "-"), toks))
               for name, toks in groups.items()}
    def note(n: int) -> str:
        """What the 5 s token/credential/limit caches do for a group of n users."""
        return ("few users: token, key and limit lookups are cache hits" if n <= 100 else
                "most requests miss the 5 s caches: token, key and limit rows are read "
                "(and the key decrypted) per request")

    figs = {(name, m): Figure("growth", f"{m} {name}, random user, c=1", "ms",
                              note=note(len(groups[name])))
            for name in groups for m in ("p50", "p99")}
    for r in range(ctx.repeat):
        base = loadgen.run_wrk(ctx.direct, loadgen.write_body(ctx.folder, ctx.direct.model, 1024, False),
                               1, ctx.seconds)
        for name, target in (targets.items() if r % 2 == 0 else list(targets.items())[::-1]):
            res = loadgen.run_wrk(target, loadgen.write_body(ctx.folder, target.model, 1024, False),
                                  1, ctx.seconds)
            for m, g, b in (("p50", res.p50_ms, base.p50_ms), ("p99", res.p99_ms, base.p99_ms)):
                figs[(name, m)].gateway.append(g)
                figs[(name, m)].baseline.append(b)
            if res.errors:
                figs[(name, "p50")].note += f"; {res.errors} errors"
        ctx.log(f"  users: repeat {r + 1}/{ctx.repeat} done")
    ctx.figures += list(figs.values())


def _get_ms(url: str, token: str) -> float:
    """Time one authenticated GET (the body is read in full)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as resp:
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: {resp.status}")
    return (time.perf_counter() - t0) * 1000


def _health_while(url: str, token: str, health: str) -> tuple[float, float]:
    """(time of GET url, max latency of GET /health polled every 20 ms meanwhile), in ms."""
    worst, took = 0.0, []
    worker = threading.Thread(target=lambda: took.append(_get_ms(url, token)), daemon=True)
    worker.start()
    while worker.is_alive():
        t0 = time.perf_counter()
        with urllib.request.urlopen(health, timeout=300) as resp:
            resp.read()
        worst = max(worst, (time.perf_counter() - t0) * 1000)
        worker.join(0.02)
    if not took:
        raise RuntimeError(f"GET {url} failed")
    return took[0], worst


def ledger(ctx: Ctx, tokens: dict[str, str], sizes: dict[str, int]) -> None:
    """GET /api/user/api-keys/<user>/usage (and ?group_by=day): small ledger vs large one.

    One warm-up call each, then one call per repeat: the figure is the median of N calls.
    """
    (small, n_small), (big, n_big) = sorted(sizes.items(), key=lambda kv: kv[1])
    queries = (("usage totals", ""), ("usage ?group_by=day", "?group_by=day"))
    figs = {q: Figure("growth", f"GET {q[0]}, {n_big:,} rows", "ms",
                      note=f"one call per repeat after a warm-up call; baseline column = same "
                           f"query on a {n_small}-row ledger") for q in queries}
    stall = Figure("growth", f"worst GET /health during the ?group_by=day call, {n_big:,} rows",
                   "ms", note="/health polled every 20 ms on the same worker while the usage "
                              f"query runs; baseline column = during the {n_small}-row query")
    figs[("stall", "")] = stall
    url = ctx.server.base_url + "/api/user/api-keys/{}/usage{}"
    for q in queries:
        for user in (small, big):
            _get_ms(url.format(user, q[1]), tokens[user])
    for r in range(ctx.repeat):
        for who, user in (("baseline", small), ("gateway", big)):
            getattr(figs[queries[0]], who).append(_get_ms(url.format(user, ""), tokens[user]))
            took, worst = _health_while(url.format(user, queries[1][1]), tokens[user],
                                        ctx.server.base_url + "/health")
            getattr(figs[queries[1]], who).append(took)
            getattr(stall, who).append(worst)
        ctx.log(f"  ledger: repeat {r + 1}/{ctx.repeat} done")
    ctx.figures += list(figs.values())

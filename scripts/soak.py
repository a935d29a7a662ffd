"""Soak: mixed traffic with faults and hang-ups; RSS, fds and upstream connections must stay flat."""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

import common

MODELS = ["openai/gpt-4o", "deepseek/deepseek-v4-flash", "anthropic/claude-sonnet-4-5",
          "google_gemini/gemini-2.5-flash"]
SIM_OF = {"openai": "openai", "deepseek": "deepseek", "anthropic": "anthropic", "google_gemini": "gemini"}
FAULTS = [{"fault": "rate_limit", "retry_after": 0}, {"fault": "server_error"}, {"fault": "cut"},
          {"fault": "reset"}]


def hang_up(session: requests.Session, base: str, model: str) -> str:
    """Stream, read 2 data lines, then close the connection mid-stream."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Tell a story"}]}
    try:
        with session.post(base + "/v1/chat/completions", json=body, stream=True, timeout=60) as resp:
            seen = 0
            for line in resp.iter_lines():
                seen += line.startswith(b"data: ")
                if seen >= 2:
                    break
            return f"hangup {resp.status_code}"
    except requests.RequestException as exc:
        return f"hangup {type(exc).__name__}"


class Traffic:
    """Client threads sending the mix until stopped."""

    def __init__(self, base: str, sim, threads: int) -> None:
        """Nothing runs until run_for()."""
        self.base, self.sim, self.threads = base, sim, threads
        self.stop = threading.Event()
        self.outcomes: Counter = Counter()
        self.lock = threading.Lock()

    def _one(self, rng: random.Random, session: requests.Session) -> str:
        """One request of the mix; returns its outcome label."""
        model, roll = rng.choice(MODELS), rng.random()
        if roll < 0.15:
            return hang_up(session, self.base, model)
        provider = SIM_OF[model.partition("/")[0]]
        if roll < 0.40 and self.sim.script(provider) < 2:
            # The next call to this provider fails (FIFO, shared). Keep the backlog short: a request
            # refused by an open breaker never reaches the simulator, so faults would pile up.
            self.sim.script(provider, rng.choice(FAULTS))
        stream = rng.random() < 0.5
        result = common.chat(session, self.base, model=model, stream=stream, timeout=60)
        kind = "stream" if stream else "json"
        return f"{kind} {'ok' if result['ok'] else result['status'] or 'neterr'}"

    def _loop(self, index: int) -> None:
        """Thread body: requests until stopped."""
        rng, session = random.Random(index * 7919 + int(time.time())), requests.Session()
        while not self.stop.is_set():
            outcome = self._one(rng, session)
            with self.lock:
                self.outcomes[outcome] += 1
        session.close()                    # no idle keep-alive sockets left on the server

    def run_for(self, seconds: float) -> None:
        """Run the mix for `seconds` (blocking), then stop every thread."""
        self.stop.clear()
        workers = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in workers:
            worker.start()
        time.sleep(seconds)
        self.stop.set()
        for worker in workers:
            worker.join(120)


class Sampler:
    """Samples RSS, fds and upstream connections of master + workers every `every` seconds."""

    def __init__(self, gateway: common.Gateway, sim_port: int, traffic: Traffic, every: float) -> None:
        """Nothing is sampled until run()."""
        self.gateway, self.sim_port, self.traffic, self.every = gateway, sim_port, traffic, every
        self.samples: list[dict] = []
        self.worker_pids: set[int] = set()
        self.done = threading.Event()

    def sample(self, t0: float) -> dict:
        """One sample now."""
        pids = self.gateway.pids()
        self.worker_pids |= set(pids[1:])
        with self.traffic.lock:
            done = sum(self.traffic.outcomes.values())
            good = sum(n for k, n in self.traffic.outcomes.items() if k.endswith(" ok") or k == "hangup 200")
        return {"t": time.monotonic() - t0, "rss_kb": common.rss_kb(pids), "fds": common.fd_count(pids),
                "upstream": common.established_to(self.sim_port, pids), "requests": done, "good": good}

    def run(self, t0: float) -> None:
        """Thread body: sample until done."""
        while not self.done.wait(self.every):
            self.samples.append(self.sample(t0))


def settle(gateway: common.Gateway, sim_port: int, seconds: float = 7.0) -> dict:
    """After traffic: wait past gunicorn's 5 s keep-alive, then count fds and upstream sockets."""
    time.sleep(seconds)
    pids = gateway.pids()
    upstream = common.established_to(sim_port, pids)
    fds = common.fd_count(pids)
    return {"fds": fds, "upstream": upstream, "other_fds": fds - upstream}


def sim_in_flight(sim) -> int:
    """Simulator requests still running: open streams, or replies not yet sent."""
    busy = 0
    for entry in sim.requests():
        if entry["stream"] and entry["stream_started"] and not entry["stream_ended"]:
            busy += 1
        elif not entry["stream"] and entry["status"] is None and entry["fault"] not in ("reset", "hang"):
            busy += 1
    return busy


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    return p.parse_args()


def setup(workdir: Path, sim, workers: int) -> common.Gateway:
    """A local-mode gateway with a key for each provider in the mix."""
    env = common.gateway_env(sim, WEB_CONCURRENCY=str(workers), BYOK_RETRY_BASE_S="0.05",
                             BYOK_RETRY_CAP_S="1", BYOK_BREAKER_COOLDOWN_S="5")
    gateway = common.Gateway(workdir, env).start()
    for provider in SIM_OF:
        requests.post(f"{gateway.base}/api/user/api-keys/current-user/keys/{provider}",
                      json={"api_key": f"sk-soak-{provider.replace('_', '-')}-0123456789"},
                      timeout=30).raise_for_status()
    return gateway


def main() -> int:
    """Prime, measure the baseline, soak while sampling, settle, judge."""
    args = parse_args()
    total = args.minutes * 60
    warm = min(60.0, total / 5)
    workdir = Path(tempfile.mkdtemp(prefix="byok-soak-"))
    print(f"soak {args.minutes:g} min, {args.threads} client threads, {args.workers} workers; workdir {workdir}; "
          f"{common.machine()}")
    sim = common.start_simulator(chunks=10, chunk_delay_ms=20)
    try:
        gateway = setup(workdir, sim, args.workers)
        traffic = Traffic(gateway.base, sim, args.threads)
        traffic.run_for(min(20.0, warm))                  # prime pools and caches
        baseline = settle(gateway, sim.port)
        traffic.outcomes.clear()
        sampler = Sampler(gateway, sim.port, traffic, min(5.0, warm / 4))
        thread = threading.Thread(target=sampler.run, args=(time.monotonic(),), daemon=True)
        thread.start()
        traffic.run_for(total)
        sampler.done.set()
        thread.join()
        after = settle(gateway, sim.port)
        in_flight = sim_in_flight(sim)
        log = gateway.output()
        log_tail = (log.count("Traceback"), log[log.find("Traceback") - 300:][:3000] if "Traceback" in log else "")
        gateway.stop()
    finally:
        sim.stop()
    return report(args, sampler, traffic, (baseline, after, in_flight, warm, log_tail))


def report(args, sampler: Sampler, traffic: Traffic, extra: tuple) -> int:
    """Print the sample table, the outcome mix and the verdict."""
    baseline, after, in_flight, warm, log_tail = extra
    samples, total = sampler.samples, args.minutes * 60
    print(f"\n{'t (s)':>7} {'RSS MB':>8} {'fds':>5} {'upstream conns':>14} {'requests':>9} {'succeeded':>9}")
    for s in samples:
        print(f"{s['t']:>7.0f} {s['rss_kb'] / 1024:>8.1f} {s['fds']:>5} {s['upstream']:>14} {s['requests']:>9} "
              f"{s['good']:>9}")
    first = [s["rss_kb"] for s in samples if warm <= s["t"] < 2 * warm]
    last = [s["rss_kb"] for s in samples if s["t"] >= total - warm]
    growth_mb = (common.median(last) - common.median(first)) / 1024
    tail = [s for s in samples if s["t"] >= total - warm] or samples[-1:]
    sent = tail[-1]["requests"] - tail[0]["requests"]
    success = (tail[-1]["good"] - tail[0]["good"]) / sent if sent else 0.0
    print(f"\noutcomes: {dict(sorted(traffic.outcomes.items()))}")
    print(f"fds: baseline {baseline}, after {after}")
    bound = args.threads * len(SIM_OF) * args.workers
    peak = max((s["upstream"] for s in samples), default=0)
    tracebacks, first_trace = log_tail
    if tracebacks:
        print(f"first traceback in the server log:\n{first_trace}")
    internal = sum(n for outcome, n in traffic.outcomes.items() if outcome.endswith(" 500"))
    return common.verdict(f"soak {args.minutes:g} min", [
        ("RSS growth after warm-up < 10 MB", growth_mb < 10,
         f"median {common.median(first) / 1024:.1f} MB (t {warm:.0f}-{2 * warm:.0f} s) -> "
         f"{common.median(last) / 1024:.1f} MB (last {warm:.0f} s): {growth_mb:+.1f} MB"),
        ("fds back to baseline (+-5), pooled upstream sockets aside",
         abs(after["other_fds"] - baseline["other_fds"]) <= 5,
         f"{baseline['other_fds']} -> {after['other_fds']} (raw {baseline['fds']} -> {after['fds']})"),
        ("no simulator request still in flight", in_flight == 0, f"{in_flight} in flight"),
        ("upstream connections bounded", peak <= bound and after["upstream"] <= bound,
         f"peak {peak}, idle after {after['upstream']} (pool bound {bound})"),
        ("no worker restart", len(sampler.worker_pids) == args.workers, f"worker pids seen {sorted(sampler.worker_pids)}"),
        ("traffic ran", sum(traffic.outcomes.values()) > 0, f"{sum(traffic.outcomes.values())} requests"),
        ("the mix stayed realistic to the end (>= 50% succeeded in the last window)", success >= 0.5,
         f"{success:.0%} of {sent} requests succeeded (the rest: injected faults)"),
        ("no internal error (HTTP 500) and no traceback in the server log", internal == 0 and tracebacks == 0,
         f"{internal} x 500, {tracebacks} tracebacks"),
    ])


if __name__ == "__main__":
    sys.exit(main())

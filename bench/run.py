"""The gateway benchmark: `python bench/run.py [--quick] [--repeat N] [--vs-litellm] [--profile]`.

Starts the gateway exactly as `python main_api_app.py` runs it (gunicorn + gevent, token auth,
usage ledger on) in front of the project's provider simulator, and measures every figure against
the same requests sent straight to the simulator, interleaved, N times. See bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import capacity  # noqa: E402
import growth  # noqa: E402
import loadgen  # noqa: E402
import micro  # noqa: E402
import phases  # noqa: E402
import report  # noqa: E402
import seed  # noqa: E402
import stack  # noqa: E402

RESULTS = BENCH / "results"
FULL = dict(repeat=5, seconds=2.0, latency=(1, 4, 16, 64), throughput=(10, 64),
            prompts=(1024, 100 * 1024, 1 << 20), users=10_000, ledger_big=1_000_000,
            streams=1000, stream_s=10.0, cap_repeat=3, per=4)
QUICK = dict(repeat=3, seconds=1.0, latency=(1, 16), throughput=(10,), prompts=(1024, 1 << 20),
             users=1_000, ledger_big=100_000, streams=200, stream_s=5.0, cap_repeat=1, per=2)
SECTIONS = ("micro", "latency", "throughput", "stream", "prompts", "users", "ledger", "capacity")
_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress on stderr, with elapsed time."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options (defaults of the full run; --quick swaps in the QUICK set)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="~2-minute subset")
    p.add_argument("--repeat", type=int, help="repeats per measurement (default 5; quick 3)")
    p.add_argument("--seconds", type=float, help="seconds per wrk run (default 2; quick 1)")
    p.add_argument("--workers", type=int, default=1, help="WEB_CONCURRENCY (default 1, as in production)")
    p.add_argument("--capacity-streams", type=int, help="concurrent streams (default 1000)")
    p.add_argument("--capacity-repeat", type=int, help="capacity repeats (default 3; quick 1)")
    p.add_argument("--database-url", default="", help="seed and serve this (empty) database instead "
                   "of a SQLite copy; PostgreSQL rows go in with COPY")
    p.add_argument("--vs-litellm", action="store_true", help="also run a LiteLLM proxy (separate venv)")
    p.add_argument("--litellm-bin", default="/tmp/litellm-venv/bin/litellm")
    p.add_argument("--profile", action="store_true", help="only profile the worker with py-spy")
    p.add_argument("--profile-seconds", type=float, default=15.0)
    p.add_argument("--profile-prompt", type=int, default=1024, help="prompt bytes while profiling")
    p.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    p.add_argument("--only", default="", help="comma-separated sections to run while iterating: "
                   + ",".join(SECTIONS) + " (implies --no-write)")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.only = {name for name in args.only.split(",") if name}
    if args.only - set(SECTIONS):
        p.error(f"--only takes {', '.join(SECTIONS)}")
    args.no_write = args.no_write or bool(args.only)
    args.streams = args.capacity_streams or preset["streams"]
    args.cap_repeat = args.capacity_repeat or preset["cap_repeat"]
    return args


def start_stack(args: argparse.Namespace, run_dir: Path, sd: seed.Seed) -> phases.Ctx:
    """Simulator, CLI token, gateway server, and the targets."""
    sim = stack.start_simulator()
    env = stack.server_env(stack.base_environ(), port=stack.free_port(), workers=args.workers,
                           db_url=sd.db_url, enc_key=sd.enc_key, openai_url=sim.url_for("openai"),
                           data_dir=run_dir)
    token = stack.cli_token(env, seed.MAIN_USER)
    server = stack.GatewayServer(env, run_dir / "server.log").start()
    log(f"gateway up on {server.base_url} (pids {server.pids()}), simulator on {sim.base_url}")
    gw = loadgen.Target("gateway", server.base_url + "/v1/chat/completions", "openai/gpt-4o",
                        loadgen.write_tokens(run_dir, "main", [token]))
    direct = loadgen.Target("direct", sim.url_for("openai") + "/chat/completions", "gpt-4o",
                            loadgen.write_tokens(run_dir, "direct", ["sk-bench-direct-key"]))
    return phases.Ctx(sim=sim, server=server, gateway=gw, direct=direct, folder=run_dir,
                      repeat=args.repeat, seconds=args.seconds, log=log)


def measure_http(ctx: phases.Ctx, args: argparse.Namespace, sd: seed.Seed) -> None:
    """Every over-the-wire measurement, in order (or those named by --only)."""
    groups = {"10 users": sd.users[:10], f"{len(sd.users):,} users": sd.users}
    steps = {
        "latency": lambda: phases.latency(ctx, args.latency),
        "throughput": lambda: phases.throughput(ctx, args.throughput),
        "stream": lambda: phases.stream_overhead(ctx, per=args.per),
        "prompts": lambda: phases.prompt_sizes(ctx, args.prompts),
        "users": lambda: growth.users(ctx, {name: [sd.tokens[u] for u in users]
                                            for name, users in groups.items()}),
        "ledger": lambda: growth.ledger(ctx, sd.tokens, sd.ledger_rows),
        "capacity": lambda: capacity.capacity(ctx, args.streams, args.stream_s, 100.0, args.cap_repeat),
    }
    phases.warm_up(ctx)
    for name, step in steps.items():
        if not args.only or name in args.only:
            log(name + (f" ({args.streams} streams)" if name == "capacity" else ""))
            step()


def context_lines(args: argparse.Namespace, sd: seed.Seed, rlimit: tuple) -> list[str]:
    """What was run, on what, with which settings."""
    db = "SQLite (WAL, the default DATABASE_URL backend)" if sd.db_url.startswith("sqlite") else \
        sd.db_url.split("://", 1)[0]
    return [f"- Server: `python main_api_app.py`, gunicorn + gevent, WEB_CONCURRENCY={args.workers}, "
            f"BYOK_AUTH_MODE=token (token from `flask --app main_api_app tokens create`), usage "
            f"ledger on, database {db}",
            "- Upstream: the project simulator (`python -m simulator`), OpenAI surface; baseline = "
            "the same requests sent straight to it",
            f"- Load: wrk {args.seconds:g} s per run via bench/bench.lua; {args.repeat} repeats, "
            "gateway and baseline interleaved (order alternates per repeat)",
            f"- Seed: {len(sd.users):,} users with keys + tokens, ledgers {sd.ledger_rows} "
            f"({'copy of a cached seed, which took' if sd.cached else 'seeded in'} {sd.seconds:.0f} s); "
            f"RLIMIT_NOFILE soft/hard {rlimit[0]}/{rlimit[1]} (inherited by the server)"]


def main(argv: list[str] | None = None) -> None:
    """Seed, micro-benchmarks, HTTP phases, then the table and BENCHMARKS.md."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    rlimit, load_start = stack.raise_fd_limit(), os.getloadavg()
    run_dir = RESULTS / time.strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    log(f"seeding ({args.users:,} users, ledger {args.ledger_big:,} rows) in {run_dir}")
    sd = seed.prepare(run_dir, RESULTS / "seed-cache", args.users,
                      {"ledger-small": 10, "ledger-big": args.ledger_big}, args.database_url)
    if args.profile:
        import profiling
        profiling.run(args, start_stack(args, run_dir, sd), run_dir, log)
        return drop_db_copy(run_dir)
    figures = []
    if not args.only or "micro" in args.only:
        log("micro-benchmarks")
        figures = micro.routing_figures(args.repeat, 2000) + micro.vault_figures(
            sd.db_url, sd.enc_key, run_dir, seed.MAIN_USER, args.repeat, 300)
    version = report.code_version()
    ctx = start_stack(args, run_dir, sd)
    try:
        if args.vs_litellm:
            import litellm_proxy
            ctx.litellm = litellm_proxy.start(args, ctx, run_dir, log)
        measure_http(ctx, args, sd)
    finally:
        ctx.server.stop()
        ctx.sim.stop()
        if args.vs_litellm:
            import litellm_proxy
            litellm_proxy.stop()
        drop_db_copy(run_dir)
    finish(args, sd, rlimit, (load_start, version), figures + ctx.figures)


def drop_db_copy(run_dir: Path) -> None:
    """Delete the run's copy of the seeded SQLite database (hundreds of MB); keep the logs."""
    for copy in run_dir.glob("byok.db*"):
        copy.unlink()


def auto_notes(figures: list) -> list[str]:
    """How fast the baseline itself was: is the simulator a fast enough upstream?"""
    by_name = {(f.section, f.name): f for f in figures}
    lat = by_name.get(("latency", "p50 c=1"))
    rps = [f for f in figures if f.section == "throughput" and f.name.startswith("req/s")]
    notes = []
    if lat and lat.baseline:
        notes.append(f"Simulator alone (baseline): p50 {report._med(lat.baseline):.2f} ms at c=1; "
                     + ", ".join(f"{f.name[6:]} {report._med(f.baseline):,.0f} req/s" for f in rps
                                 if f.baseline)
                     + " — far above the gateway's figures, so it is a fast enough upstream.")
    negative = [f.name for f in figures if f.name.startswith("p99") and f.baseline and f.gateway
                and report._med([g - b for g, b in zip(f.gateway, f.baseline)]) < 0]
    if negative:
        notes.append(f"Negative added p99 ({', '.join(negative)}): the direct runs' tail is the "
                     "busy machine descheduling the simulator while c connections queue on it "
                     "(bench/mock_upstream.py shows the same tail); through the gateway the "
                     "simulator sees fewer requests at once. Read p99 differences as noise-bound.")
    return notes


def finish(args: argparse.Namespace, sd: seed.Seed, rlimit: tuple, start: tuple,
           figures: list) -> None:
    """Print the table and update BENCHMARKS.md; start = (load average, code version)."""
    load_start, version = start
    mode = ("quick" if args.quick else "full") + (" vs-litellm" if args.vs_litellm else "")
    command = "python bench/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    context = report.machine_lines(load_start, os.getloadavg(), version) + context_lines(
        args, sd, rlimit)
    if args.vs_litellm:
        import litellm_proxy
        context.append(litellm_proxy.describe(args.litellm_bin, args.workers))
    text = report.section(mode, command.strip(), context, figures, auto_notes(figures))
    print(text)
    if not args.no_write:
        report.write_section(mode, text)
        log("BENCHMARKS.md updated")
    log(f"total {time.monotonic() - _T0:.0f} s")


if __name__ == "__main__":
    main()

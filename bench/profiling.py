"""`run.py --profile`: py-spy on a gateway worker under non-streaming load; speedscope + SVG."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import hotspots
import loadgen
import stack
from phases import Ctx


def _py_spy() -> str:
    """The py-spy executable."""
    path = shutil.which("py-spy")
    if path is None:
        raise SystemExit("py-spy is not installed: run bench/setup.sh (pip install py-spy)")
    return path


def _record(pid: int, seconds: float, fmt: str, out: Path) -> None:
    """py-spy record on one process (idle frames excluded, subprocesses not followed)."""
    cmd = [_py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
           "--format", fmt, "--output", str(out), "--nonblocking"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=seconds + 60)


def run(args: argparse.Namespace, ctx: Ctx, run_dir: Path, log: Callable[[str], None]) -> None:
    """Load the gateway with wrk (c=16, JSON chats) while py-spy samples its first worker twice."""
    results = run_dir.parent
    stamp = time.strftime("%Y%m%d-%H%M%S")
    speedscope = results / f"profile-{stamp}.speedscope.json"
    svg = results / f"profile-{stamp}.svg"
    try:
        stack.configure_stream(ctx.sim, chunks=20, delay_ms=0)
        body = loadgen.write_body(ctx.folder, ctx.gateway.model, args.profile_prompt, False)
        loadgen.run_wrk(ctx.gateway, body, 8, 2)                                  # warm-up
        worker = ctx.server.worker_pids()[0]
        total = 2 * args.profile_seconds + 10
        cmd = [loadgen.wrk_binary(), "-t2", "-c16", f"-d{int(total)}s", "-s", str(loadgen.LUA),
               ctx.gateway.url]
        env = {**os.environ, "BENCH_BODY_FILE": str(body),
               "BENCH_TOKENS_FILE": str(ctx.gateway.tokens_file)}
        load = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        time.sleep(2)
        log(f"py-spy on worker {worker} for {args.profile_seconds:g} s (speedscope, then SVG)")
        _record(worker, args.profile_seconds, "speedscope", speedscope)
        _record(worker, args.profile_seconds, "flamegraph", svg)
        out, _ = load.communicate(timeout=total + 60)
    finally:
        ctx.server.stop()
        ctx.sim.stop()
    log(f"load during profiling: {next((ln for ln in out.splitlines() if 'Requests/sec' in ln), '?')}")
    print(hotspots.summarise(speedscope))
    print(f"\nSaved {speedscope} (open in https://www.speedscope.app) and {svg}")

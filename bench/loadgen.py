"""wrk as the load generator: request bodies, the Lua script, and its machine-readable summary."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "bench.lua"
_SENTENCE = "Please review the quarterly figures and tell me what changed since last month. "


@dataclass(frozen=True)
class Target:
    """Where requests go and how they authenticate: the gateway, or the mock directly."""

    name: str
    url: str              # full chat-completions URL
    model: str            # "openai/gpt-4o" through the gateway, "gpt-4o" direct
    tokens_file: Path     # one bearer token per line


@dataclass
class WrkResult:
    """One wrk run."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_req: float = 0.0   # server-side CPU (utime + stime) per completed request

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    """The wrk executable (install with bench/setup.sh)."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: run bench/setup.sh (apt-get install -y wrk)")
    return path


def prompt_text(size: int) -> str:
    """An English prompt of exactly `size` characters."""
    return (_SENTENCE * (size // len(_SENTENCE) + 1))[:size]


def write_body(folder: Path, model: str, prompt_bytes: int, stream: bool) -> Path:
    """A chat-completions body file (cached by its parameters)."""
    path = folder / f"body-{model.replace('/', '_')}-{prompt_bytes}-{int(stream)}.json"
    if not path.exists():
        body = {"model": model, "messages": [{"role": "user", "content": prompt_text(prompt_bytes)}],
                "max_tokens": 64, "stream": stream}
        path.write_text(json.dumps(body))
    return path


def write_tokens(folder: Path, name: str, tokens: list[str]) -> Path:
    """A tokens file for bench.lua."""
    path = folder / f"tokens-{name}.txt"
    path.write_text("\n".join(tokens) + "\n")
    return path


def run_wrk(target: Target, body: Path, conns: int, seconds: float,
            timeout_s: float = 30.0) -> WrkResult:
    """Run wrk with --latency and the Lua script; parse the BENCH_JSON line."""
    threads = max(1, min(conns, 2))
    cmd = [wrk_binary(), f"-t{threads}", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency",
           f"--timeout={int(timeout_s)}s", "-s", str(LUA), target.url]
    env = {**os.environ, "BENCH_BODY_FILE": str(body), "BENCH_TOKENS_FILE": str(target.tokens_file)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout}")
    data = json.loads(line.split(" ", 1)[1])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(requests=data["requests"], seconds=data["duration_us"] / 1e6,
                     p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000,
                     p99_ms=data["p99_us"] / 1000, errors=errors)

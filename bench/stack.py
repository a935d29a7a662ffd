"""Processes under test: the provider simulator and the gateway, started as production runs it."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.harness import SimulatorProcess, terminate  # noqa: E402
from tests.helpers.servers import children, free_port, proc_kb  # noqa: E402,F401 - free_port re-exported

FD_TARGET = 65536


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else FD_TARGET
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Poll a URL until it answers 2xx (or fail when the process exits or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def start_simulator() -> SimulatorProcess:
    """The project's provider simulator; a short request log keeps its memory flat."""
    return SimulatorProcess(max_log=200).start()


REPLY_TEXT = "The quarterly figures rose by four percent since last month. " * 6   # 360 chars


def configure_stream(sim: SimulatorProcess, *, chunks: int, delay_ms: float,
                     first_ms: float = 0.0) -> None:
    """Set the simulator's reply shape for every provider (latency_ms stays 0).

    The reply text is long enough that every one of up to 360 chunks carries content.
    """
    sim.configure("*", chunks=chunks, chunk_delay_ms=delay_ms, first_chunk_delay_ms=first_ms,
                  latency_ms=0, content=REPLY_TEXT)


def server_env(base: dict[str, str], *, port: int, workers: int, db_url: str, enc_key: str,
               openai_url: str, data_dir: Path) -> dict[str, str]:
    """The environment `python main_api_app.py` reads (config.Config.from_env)."""
    env = dict(base)
    env.update(PORT=str(port), WEB_CONCURRENCY=str(workers), BYOK_AUTH_MODE="token",
               DATABASE_URL=db_url, BYOK_ENCRYPTION_KEYS=enc_key, OPENAI_BASE_URL=openai_url,
               BYOK_DATA_DIR=str(data_dir), HOST="127.0.0.1", PYTHONPATH=str(REPO))
    return env


def cli_token(env: dict[str, str], user_id: str) -> str:
    """`flask --app main_api_app tokens create USER`; the token is the last stdout line."""
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "main_api_app", "tokens",
                          "create", user_id], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1].strip()


class GatewayServer:
    """`python main_api_app.py` (gunicorn master + gevent workers) in a child process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        """Remember how to start; nothing runs yet."""
        self.env, self.log_path = env, log_path
        self.port = int(env["PORT"])
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "GatewayServer":
        """Start exactly as production does and wait for /health."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "main_api_app.py"], cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        wait_http(self.base_url + "/health", timeout, self.proc)
        return self

    def pids(self) -> list[int]:
        """The master and every descendant (the workers)."""
        return process_tree(self.proc.pid) if self.proc else []

    def worker_pids(self) -> list[int]:
        """Worker processes only."""
        return [p for p in self.pids() if p != self.proc.pid]

    def rss_mb(self) -> float:
        """Summed resident memory of master + workers, in MiB."""
        return sum(proc_kb(p) for p in self.pids()) / 1024

    def pss_mb(self) -> float:
        """Summed proportional set size of master + workers, in MiB (shared pages counted once)."""
        return sum(proc_kb(p, "Pss:", "smaps_rollup") for p in self.pids()) / 1024

    def stop(self) -> None:
        """SIGTERM (graceful: the ledger flushes), SIGKILL after 30 s."""
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate(proc, grace_s=30)


def process_tree(root: int) -> list[int]:
    """root and all its descendants."""
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid not in seen and Path(f"/proc/{pid}").exists():
            seen.append(pid)
            todo += children(pid)
    return seen


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes, in seconds (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def base_environ() -> dict[str, str]:
    """The driver's environment without variables that would redirect the server."""
    drop = {"DATABASE_URL", "BYOK_ENCRYPTION_KEYS", "PORT", "WEB_CONCURRENCY", "REDIS_URL"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.endswith("_BASE_URL")}

"""Start the real gateway (`python main_api_app.py`) on a free loopback port for e2e tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GatewayProcess:
    """Runs the gateway exactly as users do (`python main_api_app.py`: gunicorn master + gevent
    workers) in a private working directory and its own process group. Shared by the e2e tests
    and the reliability scripts."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = {"PATH": os.environ.get("PATH", ""), "PORT": str(self.port),
                    "HOME": os.environ.get("HOME", "/root"), **(env or {})}
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "GatewayProcess":
        """Start the server and wait until /health answers (the log is appended to)."""
        self.log = open(self.workdir / "gateway.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "main_api_app.py")],
                                     cwd=self.workdir, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._wait(timeout)
        return self

    def __enter__(self) -> "GatewayProcess":
        return self.start()

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early: {self.output()[-2000:]}")
            try:
                if requests.get(self.base + "/health", timeout=5).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("gateway did not start in time")

    def output(self) -> str:
        """Everything the server printed so far."""
        self.log.flush()
        return (self.workdir / "gateway.log").read_text(errors="replace")

    def pids(self) -> list[int]:
        """The master and its workers."""
        return [self.proc.pid, *children(self.proc.pid)] if self.proc else []

    def kill9(self) -> None:
        """SIGKILL the whole process group (master and workers at once)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self, timeout: float = 30.0) -> int:
        """Graceful stop (SIGTERM to the master, SIGKILL to the group after timeout); exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode if self.proc else 0

    def __exit__(self, *exc) -> None:
        self.stop()


def proc_kb(pid: int, field: str = "VmRSS:", source: str = "status") -> int:
    """One kB figure of a process from /proc: VmRSS from status, Pss from smaps_rollup; 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct child process ids (from /proc/<pid>/task/*/children)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def postgres_url() -> str | None:
    """TEST_DATABASE_URL, else the machine's PostgreSQL on 127.0.0.1 if it answers, else None."""
    url = os.environ.get("TEST_DATABASE_URL") or "postgresql://root@127.0.0.1:5432/test"
    try:
        import psycopg
        psycopg.connect(url, connect_timeout=2).close()
    except Exception:  # noqa: BLE001 - absent server means the test is skipped
        return None
    return url


def redis_url() -> str | None:
    """REDIS_URL-style address of the machine's Redis if it answers, else None."""
    try:
        import redis
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1)
        client.ping()
    except Exception:  # noqa: BLE001
        return None
    return "redis://127.0.0.1:6379/0"

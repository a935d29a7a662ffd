"""Start the real gateway (`python main_api_app.py`) on a free loopback port for e2e tests."""
from __future__ import annotations

import os
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
    """Runs the gateway exactly as users do, in a private working directory."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = {"PATH": os.environ.get("PATH", ""), "PORT": str(self.port),
                    "HOME": os.environ.get("HOME", "/root"), **(env or {})}
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "GatewayProcess":
        self.log = open(self.workdir / "gateway.log", "wb")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "main_api_app.py")],
                                     cwd=self.workdir, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._wait()
        return self

    def _wait(self, timeout: float = 30.0) -> None:
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

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


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

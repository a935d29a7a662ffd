"""Run the simulator in a subprocess for tests and benchmarks.

    with SimulatorProcess() as sim:
        client = openai.OpenAI(base_url=sim.url_for("openai"), api_key="sk-test", max_retries=0)
        sim.script("openai", {"fault": "rate_limit", "retry_after": 0})
        ...
        assert sim.requests("openai")[-1]["status"] == 429
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from simulator.routes import BASE_PATHS, key_hash

REPO_ROOT = Path(__file__).resolve().parent.parent


class SimulatorError(RuntimeError):
    """The simulator process failed to start or a control call failed."""


class SimulatorProcess:
    """Context manager: ``python -m simulator`` on a free loopback port, stopped on exit."""

    def __init__(self, *, host: str = "127.0.0.1", startup_timeout: float = 20.0,
                 max_log: int = 100_000) -> None:
        """Configure (nothing starts until ``start()`` or ``with``)."""
        self.host, self.startup_timeout, self.max_log = host, startup_timeout, max_log
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise SimulatorError("simulator not started")
        return f"http://{self.host}:{self.port}"

    def url_for(self, provider: str) -> str:
        """The base URL to give that provider's SDK (see ``simulator.routes``)."""
        return self.base_url + BASE_PATHS[provider]

    def start(self) -> "SimulatorProcess":
        """Start the process and wait until it listens."""
        cmd = [sys.executable, "-m", "simulator", "--host", self.host, "--port", "0",
               "--max-log", str(self.max_log)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        self._proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True)
        self.port = self._wait_for_port()
        return self

    def _wait_for_port(self) -> int:
        """Read stdout until ``SIMULATOR_PORT=<n>``, within the startup timeout."""
        found: list = []
        ready = threading.Event()
        reader = threading.Thread(target=self._read_port, args=(found, ready), daemon=True)
        reader.start()
        ready.wait(self.startup_timeout)
        if not found:
            self.stop()
            raise SimulatorError(f"simulator did not start within {self.startup_timeout}s")
        return found[0]

    def _read_port(self, found: list, ready: threading.Event) -> None:
        """Thread body: find the port line, then keep draining stdout (until the process ends)."""
        for line in self._proc.stdout:
            if line.startswith("SIMULATOR_PORT=") and not found:
                found.append(int(line.strip().split("=", 1)[1]))
                ready.set()
        ready.set()

    def stop(self) -> None:
        """Terminate the process (kill after 5 s)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, grace_s=5)
            proc.stdout.close()

    def __enter__(self) -> "SimulatorProcess":
        """Start on entering the block."""
        return self.start()

    def __exit__(self, *exc) -> None:
        """Stop on leaving the block."""
        self.stop()

    def _control(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call a ``/__sim`` endpoint and return its JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SimulatorError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None

    def script(self, provider: str, *responses: dict) -> int:
        """Queue scripted responses for a provider ("*" = any); returns the queue length."""
        return self._control("POST", "/__sim/script",
                             {"provider": provider, "responses": list(responses)})["queued"]

    def configure(self, provider: str = "*", **settings) -> dict:
        """Set defaults (chunks, chunk_delay_ms, latency_ms, first_chunk_delay_ms, content...)."""
        return self._control("POST", "/__sim/config", {"provider": provider, **settings})["config"]

    def requests(self, provider: str | None = None, *, since: int = 0, limit: int = 0) -> list:
        """The request log (optionally one provider's, ids > since, the newest ``limit``)."""
        query = f"?since={since}&limit={limit}" + (f"&provider={provider}" if provider else "")
        return self._control("GET", "/__sim/requests" + query)["requests"]

    def reset(self) -> None:
        """Clear the log, scripts and config."""
        self._control("POST", "/__sim/reset", {})

    @staticmethod
    def key_hash(key: str) -> str:
        """How a key appears in the request log."""
        return key_hash(key)


def terminate(proc: subprocess.Popen, *, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after grace_s; no-op if it has exited."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)

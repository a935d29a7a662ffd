"""Shared plumbing for the reliability scripts: simulator, gateway process, tokens, /proc sampling."""
from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simulator.harness import SimulatorProcess  # noqa: E402
from tests.helpers.servers import GatewayProcess, proc_kb  # noqa: E402

if TYPE_CHECKING:
    from user_api_key_service import UserAPIKeyService

BASE_URL_VARS = {"openai": ("OPENAI_BASE_URL", "openai"), "deepseek": ("DEEPSEEK_BASE_URL", "deepseek"),
                 "anthropic": ("ANTHROPIC_BASE_URL", "anthropic"),
                 "google_gemini": ("GEMINI_BASE_URL", "gemini"), "glm_4_6": ("GLM_BASE_URL", "glm"),
                 "kimi_k2": ("KIMI_BASE_URL", "kimi"),
                 "azure_openai": ("AZURE_OPENAI_ENDPOINT", "azure")}


def start_simulator(**config: Any) -> SimulatorProcess:
    """Start the provider simulator (loopback only) and apply default settings."""
    sim = SimulatorProcess(max_log=200_000).start()
    if config:
        sim.configure("*", **config)
    return sim


def gateway_env(sim: SimulatorProcess, **extra: str) -> dict[str, str]:
    """Environment for the gateway: every provider on the simulator, no key test on save."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"),
           "PYTHONPATH": str(ROOT), "BYOK_TEST_ON_SAVE": "false", "LOG_LEVEL": "WARNING"}
    env.update({var: sim.url_for(short) for var, short in BASE_URL_VARS.values()})
    env.update(extra)
    return env


# `python main_api_app.py` in its own process group: the e2e tests' launcher.
Gateway = GatewayProcess


def open_vault(database_url: str, keys: list[bytes], data_dir: Path) -> "UserAPIKeyService":
    """An in-process UserAPIKeyService on the same database, with exactly these Fernet keys."""
    from cipher import VaultCipher
    from config import Config
    from storage import build_engine, upgrade
    from user_api_key_service import UserAPIKeyService
    engine = build_engine(database_url)
    upgrade(engine)
    config = Config(data_dir=data_dir, database_url=database_url, cache_ttl_s=0)
    return UserAPIKeyService(engine=engine, cipher=VaultCipher(list(keys)), config=config)


def create_tokens(vault, users: Iterable[str]) -> dict[str, str]:
    """user -> raw bearer token, created in-process with TokenService."""
    from auth import TokenService
    service = TokenService(vault._sessions, vault.audit)
    return {user: service.create(user, label="reliability")[0] for user in users}


# -- /proc sampling -----------------------------------------------------------------------------
def rss_kb(pids: Iterable[int]) -> int:
    """Sum of VmRSS (kB) over the processes."""
    return sum(proc_kb(pid) for pid in pids)


def fd_count(pids: Iterable[int]) -> int:
    """Open file descriptors summed over the processes."""
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return total


def _socket_inodes(pid: int) -> set[str]:
    """Inode numbers of the sockets a process holds open."""
    inodes: set[str] = set()
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def established_to(port: int, pids: Iterable[int]) -> int:
    """ESTABLISHED TCP connections owned by the processes whose remote port is `port`."""
    inodes: set[str] = set()
    for pid in pids:
        inodes |= _socket_inodes(pid)
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and remote_port == port and fields[9] in inodes:
                count += 1
    return count


def median(values: list[float]) -> float:
    """Median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile, or NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))]


def verdict(title: str, checks: list[tuple[str, bool, str]]) -> int:
    """Print one line per check and the overall PASS/FAIL; returns the exit code."""
    print(f"\n== {title} ==")
    for name, ok, detail in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    passed = all(ok for _, ok, _ in checks)
    print(f"RESULT: {'PASS' if passed else 'FAIL'} ({sum(ok for _, ok, _ in checks)}/{len(checks)} checks)")
    return 0 if passed else 1


def machine() -> str:
    """A one-line description of this machine."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    load = os.getloadavg()
    return f"{os.cpu_count()} cores ({cpu}), load avg {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}"


# -- clients ------------------------------------------------------------------------------------
def chat(session: requests.Session, base: str, *, token: str | None = None, model: str = "openai/gpt-4o",
         stream: bool = False, timeout: float = 60.0) -> dict[str, Any]:
    """One /v1/chat/completions call: {'ok', 'status', 'request_id', 'usage', 'error'}."""
    import json
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"model": model, "messages": [{"role": "user", "content": "Say hi"}], "stream": stream}
    out: dict[str, Any] = {"ok": False, "status": None, "request_id": None, "usage": None, "error": ""}
    try:
        with session.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=timeout,
                          stream=stream) as resp:
            out["status"] = resp.status_code
            if not stream or resp.status_code != 200:
                data = resp.json()
                out.update(request_id=data.get("id"), usage=data.get("usage"),
                           ok=resp.status_code == 200, error="" if resp.ok else resp.text[:200])
                return out
            done = False
            for line in resp.iter_lines():
                if not line.startswith(b"data: "):
                    continue
                if line == b"data: [DONE]":
                    done = True
                    continue
                event = json.loads(line[6:])
                if "error" in event:
                    out["error"] = str(event["error"])[:200]
                out["request_id"] = out["request_id"] or event.get("id")
                out["usage"] = event.get("usage") or out["usage"]
            out["ok"] = done and not out["error"]
            out["error"] = out["error"] or ("" if done else "stream ended without [DONE]")
    except (requests.RequestException, ValueError) as exc:
        out["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
    return out

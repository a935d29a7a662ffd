"""`--vs-litellm`: a LiteLLM proxy from its own venv in front of the same simulator.

Not a project dependency. Install it apart, e.g.
    python -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]'
and pass --litellm-bin if it lives elsewhere. It runs with master-key auth and no database
(so no spend tracking: it does less per request than the gateway, whose ledger stays on).
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Callable

import loadgen
import stack
from phases import Ctx

MASTER_KEY = "sk-bench-litellm-master"
_state: dict[str, subprocess.Popen] = {}

CONFIG = """model_list:
  - model_name: openai/gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {api_base}
      api_key: sk-bench-litellm-upstream
general_settings:
  master_key: {master_key}
litellm_settings:
  telemetry: false
"""


def start(args: argparse.Namespace, ctx: Ctx, run_dir: Path,
          log: Callable[[str], None]) -> loadgen.Target:
    """Start `litellm --config ... --num_workers N` on a free port; return its target."""
    if not Path(args.litellm_bin).exists():
        raise SystemExit(f"--vs-litellm: {args.litellm_bin} not found (see bench/README.md)")
    cfg = run_dir / "litellm.yaml"
    cfg.write_text(CONFIG.format(api_base=ctx.sim.url_for("openai"), master_key=MASTER_KEY))
    port = stack.free_port()
    env = {**stack.base_environ(), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR", "NO_PROXY": "*"}
    log_file = open(run_dir / "litellm.log", "ab")
    proc = subprocess.Popen([args.litellm_bin, "--config", str(cfg), "--host", "127.0.0.1",
                             "--port", str(port), "--num_workers", str(args.workers)],
                            env=env, stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=run_dir)
    log_file.close()
    _state["proc"] = proc
    base = f"http://127.0.0.1:{port}"
    stack.wait_http(base + "/health/liveliness", 240, proc)
    log(f"LiteLLM proxy up on {base} (pids {pids()})")
    return loadgen.Target("litellm", base + "/v1/chat/completions", "openai/gpt-4o",
                          loadgen.write_tokens(run_dir, "litellm", [MASTER_KEY]))


def describe(litellm_bin: str, workers: int) -> str:
    """A context line: LiteLLM's version and how it was run."""
    python = Path(litellm_bin).with_name("python")
    try:
        version = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                                  "print(m.version('litellm'))"], capture_output=True, text=True,
                                 timeout=60).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        version = "?"
    return (f"- LiteLLM proxy {version} (`{litellm_bin}`), --num_workers {workers}, master-key auth, "
            "no database (no spend tracking), same simulator; interleaved with the other runs")


def pids() -> list[int]:
    """The proxy process and its children."""
    proc = _state.get("proc")
    return stack.process_tree(proc.pid) if proc else []


def stop() -> None:
    """Terminate the proxy (kill after 20 s)."""
    proc = _state.pop("proc", None)
    if proc is not None:
        stack.terminate(proc, grace_s=20)

"""A client reads 2 chunks of a slow stream and hangs up: upstream must close fast, usage must say so."""
from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import requests

import common


def read_two_then_close(port: int) -> tuple[str, float, float]:
    """Stream a chat, read 2 content chunks, close; returns (request id, t_first_byte, t_close)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = {"model": "openai/gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Tell a story"}]}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"stream request failed: {resp.status} {resp.read()[:200]!r}")
    t_first, request_id, seen = time.time(), "", 0
    while seen < 2:
        line = resp.readline()
        if not line:
            raise RuntimeError("stream ended before 2 chunks")
        if line.startswith(b"data: {"):
            event = json.loads(line[6:])
            request_id = request_id or event.get("id", "")
            seen += bool(((event.get("choices") or [{}])[0].get("delta") or {}).get("content"))
    resp.close()
    conn.close()                      # the client hangs up: FIN/RST to the gateway
    return request_id, t_first, time.time()


def wait_gateway_closed(sim_port: int, pids: list[int], timeout: float = 15.0) -> float:
    """When the gateway's own TCP connection to the simulator stopped being ESTABLISHED."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and common.established_to(sim_port, pids):
        time.sleep(0.005)
    return time.time()


def wait_upstream_end(sim, since: int, timeout: float = 15.0) -> dict:
    """The simulator's log entry of this stream, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = [e for e in sim.requests("openai", since=since) if e["endpoint"] == "chat"]
        if entries and entries[-1]["stream_ended"]:
            return entries[-1]
        time.sleep(0.02)
    raise RuntimeError("upstream stream did not end in time")


def wait_usage_row(db: Path, request_id: str, timeout: float = 10.0) -> dict | None:
    """The usage_records row of a request, once the ledger has flushed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = sqlite3.connect(db, timeout=30)
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM usage_records WHERE request_id = ?", (request_id,)).fetchone()
        conn.close()
        if row is not None:
            return dict(row) | {"seen_after_s": timeout - (deadline - time.monotonic())}
        time.sleep(0.05)
    return None


def trial(sim, gateway: common.Gateway, db: Path) -> dict:
    """One disconnect: figures for the report."""
    since = max([e["id"] for e in sim.requests("openai")] or [0])
    pids = gateway.pids()
    request_id, t_first, t_close = read_two_then_close(gateway.port)
    t_gw_closed = wait_gateway_closed(sim.port, pids)
    entry = wait_upstream_end(sim, since)
    row = wait_usage_row(db, request_id)
    return {"request_id": request_id, "delay_s": entry["stream_ended"] - t_close,
            "gw_close_s": t_gw_closed - t_close,
            "upstream_disconnected": entry["client_disconnected"], "upstream_completed": entry["completed"],
            "stream_s": entry["stream_ended"] - entry["stream_started"],
            "status": row["status"] if row else None, "completion_tokens": row["completion_tokens"] if row else None,
            "row_after_s": row["seen_after_s"] if row else None}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--chunks", type=int, default=40)
    p.add_argument("--chunk-delay-ms", type=int, default=250)
    p.add_argument("--max-delay", type=float, default=1.0, help="target: upstream closed within this")
    return p.parse_args()


def main() -> int:
    """Run the trials and print the verdict."""
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="byok-disconnect-"))
    print(f"workdir {workdir}; {common.machine()}")
    sim = common.start_simulator(chunks=args.chunks, chunk_delay_ms=args.chunk_delay_ms)
    results = []
    try:
        gateway = common.Gateway(workdir, common.gateway_env(sim)).start()
        try:
            requests.post(f"{gateway.base}/api/user/api-keys/current-user/keys/openai",
                          json={"api_key": "sk-disconnect-0123456789"}, timeout=30).raise_for_status()
            results = [trial(sim, gateway, workdir / "data" / "byok.db") for _ in range(args.trials)]
        finally:
            gateway.stop()
    finally:
        sim.stop()
    return report(results, args)


def report(results: list[dict], args) -> int:
    """Print one line per trial and the verdict."""
    full = args.chunks * args.chunk_delay_ms / 1000
    print(f"\nslow stream: {args.chunks} chunks x {args.chunk_delay_ms} ms (~{full:.0f} s if read to the end)")
    print(f"{'trial':>5} {'gateway closed upstream':>23} {'simulator logged end':>20} {'sim saw disconnect':>18} "
          f"{'stream lasted':>13} {'usage status':>20} {'row after':>9}")
    for i, r in enumerate(results):
        print(f"{i:>5} {r['gw_close_s'] * 1000:>20.0f} ms {r['delay_s'] * 1000:>17.0f} ms "
              f"{str(r['upstream_disconnected']):>18} "
              f"{r['stream_s']:>11.2f} s {str(r['status']):>20} {r['row_after_s'] or 0:>7.2f} s")
    delays, gw = [r["delay_s"] for r in results], [r["gw_close_s"] for r in results]
    print(f"client close -> gateway's upstream socket closed: median {common.median(gw) * 1000:.0f} ms, "
          f"max {max(gw) * 1000:.0f} ms")
    print(f"client close -> simulator logged the end (it notices on its next write): median "
          f"{common.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms")
    # The simulator sees a closed peer only when it writes: the first write after the gateway's
    # FIN draws an RST, the next one fails. So it cannot log the end sooner than 2 chunk intervals.
    sim_bound = max(args.max_delay, 2 * args.chunk_delay_ms / 1000 + 0.25)
    return common.verdict("client disconnect mid-stream", [
        ("trials", len(results) == args.trials, f"{len(results)}"),
        ("gateway closed the upstream connection promptly", max(gw) <= args.max_delay,
         f"max {max(gw) * 1000:.0f} ms <= {args.max_delay * 1000:.0f} ms"),
        ("simulator logged the disconnect promptly", max(delays) <= sim_bound,
         f"max {max(delays) * 1000:.0f} ms <= {sim_bound * 1000:.0f} ms"),
        ("simulator logged the disconnect", all(r["upstream_disconnected"] and not r["upstream_completed"]
                                               for r in results), "client_disconnected=True, completed=False"),
        ("usage row with status client_disconnected", all(r["status"] == "client_disconnected" for r in results),
         ", ".join(str(r["status"]) for r in results)),
        ("partial tokens billed", all((r["completion_tokens"] or 0) > 0 for r in results),
         ", ".join(str(r["completion_tokens"]) for r in results)),
    ])


if __name__ == "__main__":
    sys.exit(main())

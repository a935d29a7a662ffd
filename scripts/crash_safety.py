"""kill -9 the gateway mid-burst (key saves + chats), restart, and check that nothing is torn or lost.

Design note: usage rows are buffered in memory for up to BYOK_USAGE_FLUSH_S (0.5 s) before a
batched INSERT, so rows buffered at the kill are lost by design. The target is "no torn row" and
"no lost 2xx key save", not "no lost usage row".
"""
from __future__ import annotations

import argparse
import math
import random
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

import common

API = "/api/user/api-keys"


class Burst:
    """Save and chat threads hammering one server until told to stop."""

    def __init__(self, base: str, tag: str, savers: int, chatters: int) -> None:
        """Nothing runs until start()."""
        self.base, self.tag, self.savers, self.chatters = base, tag, savers, chatters
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.saves: list[tuple[str, str, str]] = []   # (user, key, "2xx" | "failed")
        self.chats: list[dict] = []
        self.killed_at = float("inf")                 # attempts started later are not counted

    def _save_loop(self, index: int) -> None:
        """Save a new key for a new user, again and again; remember each outcome."""
        session, j = requests.Session(), 0
        while not self.stop.is_set():
            user, key = f"{self.tag}-w{index}-{j}", f"sk-crash-{self.tag}-{index}-{j}-{secrets.token_hex(8)}"
            started = time.monotonic()
            try:
                resp = session.post(f"{self.base}{API}/{user}/keys/openai", json={"api_key": key}, timeout=30)
                outcome = "2xx" if 200 <= resp.status_code < 300 else f"http {resp.status_code}"
            except requests.RequestException:
                outcome = "failed"
            with self.lock:
                if started < self.killed_at:
                    self.saves.append((user, key, outcome))
            j += 1

    def _chat_loop(self, index: int) -> None:
        """Chat (half streamed) again and again; remember each result."""
        rng, session = random.Random(index), requests.Session()
        while not self.stop.is_set():
            started = time.monotonic()
            result = common.chat(session, self.base, stream=rng.random() < 0.5, timeout=30)
            result["ended"] = time.monotonic()
            with self.lock:
                if started < self.killed_at:
                    self.chats.append(result)

    def start(self) -> list[threading.Thread]:
        """Start every thread."""
        threads = [threading.Thread(target=self._save_loop, args=(i,), daemon=True) for i in range(self.savers)]
        threads += [threading.Thread(target=self._chat_loop, args=(i,), daemon=True) for i in range(self.chatters)]
        for thread in threads:
            thread.start()
        return threads


def integrity(db: Path) -> str:
    """PRAGMA integrity_check on the crashed file (opening it replays the WAL)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return ";".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def check_saves(data_dir: Path, saves: list) -> dict:
    """Every 2xx save must decrypt to exactly what was sent; count in-flight saves that landed."""
    from cipher import load_cipher
    cipher = load_cipher("", data_dir / "encryption.key")
    vault = common.open_vault(f"sqlite:///{data_dir / 'byok.db'}", cipher.keys, data_dir)
    out = {"acked": 0, "acked_lost": 0, "unacked": 0, "unacked_stored": 0}
    for user, key, outcome in saves:
        got = vault.get_api_key(user, "openai")
        if outcome == "2xx":
            out["acked"] += 1
            out["acked_lost"] += got != key
        else:
            out["unacked"] += 1
            out["unacked_stored"] += got == key
    vault.engine.dispose()
    return out


def _close(a: float | None, b: float | None) -> bool:
    """Equal within float tolerance (None only equals None)."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def torn(row: dict, baseline: str) -> str:
    """Why a usage row is inconsistent ('' if it is whole)."""
    import catalogue
    for name in ("ts", "user_id", "provider", "model", "status", "request_id", "kind"):
        if row[name] in (None, ""):
            return f"{name} is empty"
    if min(row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) < 0:
        return "negative tokens"
    args = (row["prompt_tokens"], row["completion_tokens"], min(row["cached_tokens"], row["prompt_tokens"]))
    cost = catalogue.cost_usd(row["provider"], row["model"], *args)
    base_p, _, base_m = baseline.partition("/")
    base = catalogue.cost_usd(base_p, base_m, *args)
    if not (_close(row["cost_usd"], cost) and _close(row["baseline_cost_usd"], base)):
        return f"cost {row['cost_usd']} / baseline {row['baseline_cost_usd']} != {cost} / {base}"
    if cost is not None and not _close(row["savings_usd"], base - cost):
        return "savings != baseline - cost"
    return ""


def check_ledger(db: Path, chats: list) -> dict:
    """Row invariants over every usage row, and agreement with the usage each 2xx reply reported."""
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM usage_records")]
    conn.close()
    by_id = {r["request_id"]: r for r in rows}
    problems = [f"row {r['id']}: {why}" for r in rows if (why := torn(r, "openai/gpt-4o"))]
    ok_chats = [c for c in chats if c["ok"] and c["request_id"]]
    found = 0
    for chat in ok_chats:
        row, usage = by_id.get(chat["request_id"]), chat["usage"] or {}
        if usage.get("total_tokens") != usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0):
            problems.append(f"reply {chat['request_id']}: total != prompt + completion")
        if row is None:
            continue
        found += 1
        if (row["prompt_tokens"], row["completion_tokens"]) != (usage.get("prompt_tokens"),
                                                                usage.get("completion_tokens")):
            problems.append(f"row {row['id']}: tokens differ from the reply's usage")
    dupes = len(rows) - len(by_id)
    return {"rows": len(rows), "chat_2xx": len(ok_chats), "found": found, "problems": problems,
            "duplicates": dupes, "ids": set(by_id)}


def check_rollups(db: Path) -> list[str] | None:
    """Hourly rollups (if the schema has them) must equal sums recomputed from usage_records."""
    from datetime import datetime, timezone
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'usage_rollups'").fetchone():
        conn.close()
        return None
    expected: dict[tuple, list[float]] = {}
    for r in conn.execute("SELECT * FROM usage_records"):
        ts = datetime.fromisoformat(r["ts"]).replace(tzinfo=timezone.utc)
        sums = expected.setdefault((r["user_id"], int(ts.timestamp()) // 3600, r["provider"], r["model"]),
                                   [0, 0, 0, 0.0])
        for i, value in enumerate((1, r["prompt_tokens"], r["completion_tokens"], r["cost_usd"] or 0.0)):
            sums[i] += value
    actual = {(r["user_id"], r["hour"], r["provider"], r["model"]):
              [r["requests"], r["prompt_tokens"], r["completion_tokens"], r["cost_usd"]]
              for r in conn.execute("SELECT * FROM usage_rollups")}
    conn.close()
    problems = [f"rollup {key}: {actual.get(key)} != {sums}" for key, sums in expected.items()
                if actual.get(key) is None or actual[key][:3] != sums[:3]
                or not math.isclose(actual[key][3], sums[3], rel_tol=1e-9, abs_tol=1e-12)]
    return problems + [f"rollup {key} has no rows" for key in set(actual) - set(expected)]


def lost_ages(burst: "Burst", ids: set) -> list[float]:
    """For 2xx chats without a usage row: how long before the kill each one had finished (s)."""
    return [burst.killed_at - c["ended"] for c in burst.chats
            if c["ok"] and c["request_id"] and c["request_id"] not in ids]


def run_round(gateway: common.Gateway, tag: str, delay: float, args) -> tuple[Burst, float]:
    """One burst, killed with SIGKILL after `delay` seconds; returns the burst and the real delay."""
    burst = Burst(gateway.base, tag, args.savers, args.chatters)
    threads = burst.start()
    t0 = time.monotonic()
    time.sleep(delay)
    with burst.lock:
        burst.killed_at = time.monotonic()
    gateway.kill9()
    killed_after = time.monotonic() - t0
    burst.stop.set()
    for thread in threads:
        thread.join(60)
    return burst, killed_after


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--delays", default="0.4,1.3,2.7,4.1", help="seconds into each burst to kill -9")
    p.add_argument("--savers", type=int, default=8)
    p.add_argument("--chatters", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    return p.parse_args()


def main() -> int:
    """Rounds of burst, kill -9, integrity check, restart, verification."""
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="byok-crash-"))
    data_dir, db = workdir / "data", workdir / "data" / "byok.db"
    print(f"workdir {workdir}; {common.machine()}")
    sim = common.start_simulator(chunks=8, chunk_delay_ms=20)
    env = common.gateway_env(sim, WEB_CONCURRENCY=str(args.workers))
    rows, all_chats = [], []
    try:
        gateway = common.Gateway(workdir, env).start()
        requests.post(f"{gateway.base}{API}/current-user/keys/openai", json={"api_key": "sk-crash-chat-0123456789"},
                      timeout=30).raise_for_status()
        for r, delay in enumerate(float(d) for d in args.delays.split(",")):
            burst, killed_after = run_round(gateway, f"r{r}", delay + random.uniform(-0.1, 0.1), args)
            status = integrity(db)
            gateway = common.Gateway(workdir, env).start()          # restart on the crashed files
            saves = check_saves(data_dir, burst.saves)
            all_chats += burst.chats
            rows.append((r, killed_after, status, saves, burst))
        ledger = check_ledger(db, all_chats)
        ledger["rollups"] = check_rollups(db)
        gateway.stop()
    finally:
        sim.stop()
    return report(rows, ledger)


def report(rows: list, ledger: dict) -> int:
    """Print per-round figures and the verdict."""
    print(f"\n{'round':>5} {'kill@s':>7} {'integrity':>9} {'saves 2xx':>9} {'2xx lost':>8} "
          f"{'in-flight':>9} {'of which stored':>15} {'chats 2xx':>9} {'chat errs':>9}")
    for r, killed, status, saves, burst in rows:
        ok_chats = sum(c["ok"] for c in burst.chats)
        print(f"{r:>5} {killed:>7.2f} {status:>9} {saves['acked']:>9} {saves['acked_lost']:>8} "
              f"{saves['unacked']:>9} {saves['unacked_stored']:>15} {ok_chats:>9} {len(burst.chats) - ok_chats:>9}")
        errors = sorted({(c["status"], c["error"][:70]) for c in burst.chats if not c["ok"]}, key=str)
        for status, error in errors[:3]:
            print(f"        chat error: status={status} {error}")
    lost_rows = ledger["chat_2xx"] - ledger["found"]
    ages = [age for *_, burst in rows for age in lost_ages(burst, ledger["ids"])]
    oldest = max(ages, default=0.0)
    print(f"ledger: {ledger['rows']} usage rows; {ledger['chat_2xx']} chats got a 2xx, {ledger['found']} of them "
          f"have a row, {lost_rows} lost (buffered <= 0.5 s at a kill, by design); the lost ones had "
          f"finished at most {oldest * 1000:.0f} ms before the kill")
    for problem in ledger["problems"][:10]:
        print(f"  torn: {problem}")
    acked = sum(s["acked"] for _, _, _, s, _ in rows)
    lost = sum(s["acked_lost"] for _, _, _, s, _ in rows)
    return common.verdict("crash safety (kill -9 mid-burst)", [
        ("rounds", len(rows) >= 3, f"{len(rows)} kills at {', '.join(f'{k:.2f}s' for _, k, *_ in rows)}"),
        ("integrity_check ok after every kill", all(s == "ok" for _, _, s, _, _ in rows),
         ", ".join(s for _, _, s, _, _ in rows)),
        ("server restarts on the crashed files", True, f"{len(rows)} restarts"),
        ("every 2xx key save readable and exact", lost == 0 and acked > 0, f"{lost} lost of {acked}"),
        ("no torn usage row", not ledger["problems"], f"{len(ledger['problems'])} problems in {ledger['rows']} rows"),
        ("no duplicate usage row", ledger["duplicates"] == 0, f"{ledger['duplicates']} duplicates"),
        ("hourly rollups equal the rows they sum", not ledger["rollups"],
         "no rollup table in this schema" if ledger["rollups"] is None
         else f"{len(ledger['rollups'])} mismatches {ledger['rollups'][:2]}"),
        ("rows lost only from the last flush window (finished <= 2 s before the kill)", oldest <= 2.0,
         f"{ledger['found']}/{ledger['chat_2xx']} 2xx chats have a row; oldest lost {oldest * 1000:.0f} ms"),
    ])


if __name__ == "__main__":
    sys.exit(main())

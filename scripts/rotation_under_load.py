"""Rotate the vault's encryption key (`keys rotate --batch 10`) while chat traffic runs: 0 failures."""
from __future__ import annotations

import argparse
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet

import common


def seed(database_url: str, data_dir: Path, old: bytes, users: int) -> tuple[dict, dict]:
    """Store one OpenAI key per user under the OLD key, and one token per user."""
    vault = common.open_vault(database_url, [old], data_dir)
    with vault.session() as sess:
        from sqlalchemy import text
        if sess.scalar(text("SELECT count(*) FROM api_keys")):
            raise SystemExit("FAIL: the database already holds keys; give an empty database")
    plain = {f"rot-u{i:04d}": f"sk-rot-{i:04d}-{secrets.token_hex(12)}" for i in range(users)}
    for user, key in plain.items():
        vault.store(user, "openai", key)
    tokens = common.create_tokens(vault, plain)
    vault.engine.dispose()
    return plain, tokens


class Load:
    """Threads sending chat requests (half streamed) as random users until stopped."""

    def __init__(self, base: str, tokens: dict[str, str], threads: int) -> None:
        """Nothing runs until run()."""
        self.base, self.tokens, self.threads = base, tokens, threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results: list[tuple[float, float, dict]] = []   # (start, end, result)

    def _worker(self, seed_: int) -> None:
        """Thread body: chat as random users until stopped."""
        rng, session = random.Random(seed_), requests.Session()
        users = list(self.tokens)
        while not self.stop.is_set():
            user = rng.choice(users)
            start = time.monotonic()
            result = common.chat(session, self.base, token=self.tokens[user], stream=rng.random() < 0.5)
            with self.lock:
                self.results.append((start, time.monotonic(), result))
        session.close()

    def run(self) -> list[threading.Thread]:
        """Start the threads."""
        workers = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in workers:
            worker.start()
        return workers


def rotate(workdir: Path, env: dict[str, str], batch: int) -> tuple[str, float, int]:
    """Run the CLI exactly as an operator would; returns (output, seconds, exit code)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "main_api_app", "keys", "rotate",
                           "--batch", str(batch)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=600)
    return proc.stdout + proc.stderr, time.monotonic() - start, proc.returncode


def verify_new_only(database_url: str, data_dir: Path, new: bytes, plain: dict) -> tuple[int, int]:
    """(rows that decrypt with NEW alone to the right key, rows sealed under NEW's key id)."""
    from cipher import key_id
    from models import ApiKey
    from sqlalchemy import select
    vault = common.open_vault(database_url, [new], data_dir)
    good = sealed = 0
    with vault.session() as sess:
        for row in sess.scalars(select(ApiKey)):
            try:
                good += vault.cipher.decrypt(row.ciphertext) == plain.get(row.user_id)
            except Exception:  # noqa: BLE001 - counted as a failure below
                pass
            sealed += row.key_id == key_id(new)
    vault.engine.dispose()
    return good, sealed


def upstream_keys_ok(sim, plain: dict) -> tuple[int, int]:
    """(upstream chat calls whose key hash is not a seeded key, distinct seeded keys seen)."""
    expected = {sim.key_hash(k) for k in plain.values()}
    seen = [e["key_hash"] for e in sim.requests("openai") if e["endpoint"] == "chat"]
    return sum(h not in expected for h in seen), len(set(seen) & expected)


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    p.add_argument("--before", type=float, default=3.0, help="seconds of load before rotating")
    p.add_argument("--after", type=float, default=3.0, help="seconds of load after rotating")
    p.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    p.add_argument("--cache-ttl", default="0", help="BYOK_CACHE_TTL_S (0: decrypt on every request)")
    return p.parse_args()


def drive(args, workdir: Path, env: dict, tokens: dict) -> tuple[Load, tuple, float, float]:
    """Start load, rotate in the middle of it, stop; returns (load, rotate result, t0, t1)."""
    gateway = common.Gateway(workdir, env).start()
    load = Load(gateway.base, tokens, args.threads)
    threads = load.run()
    try:
        time.sleep(args.before)
        t0 = time.monotonic()
        result = rotate(workdir, env, args.batch)
        t1 = time.monotonic()
        time.sleep(args.after)
        result += rotate(workdir, env, args.batch)     # the re-run must be a no-op
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(120)
        gateway.stop()
    return load, result, t0, t1


def main() -> int:
    """Seed, serve with new+old keys, rotate under load, verify."""
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="byok-rotation-"))
    data_dir = workdir / "data"
    database_url = args.database_url or f"sqlite:///{data_dir / 'byok.db'}"
    data_dir.mkdir(parents=True, exist_ok=True)
    old, new = Fernet.generate_key(), Fernet.generate_key()
    t_seed = time.monotonic()
    plain, tokens = seed(database_url, data_dir, old, args.users)
    print(f"seeded {len(plain)} keys under OLD + {len(tokens)} tokens in {time.monotonic() - t_seed:.1f}s "
          f"({database_url.split(':')[0]}, workdir {workdir}); {common.machine()}")
    sim = common.start_simulator(chunks=5, chunk_delay_ms=5)
    try:
        env = common.gateway_env(sim, BYOK_ENCRYPTION_KEYS=f"{new.decode()},{old.decode()}",
                                 BYOK_AUTH_MODE="token", WEB_CONCURRENCY=str(args.workers),
                                 BYOK_CACHE_TTL_S=args.cache_ttl, DATABASE_URL=database_url)
        load, (output, seconds, code, *rerun), t0, t1 = drive(args, workdir, env, tokens)
        bad_keys, distinct = upstream_keys_ok(sim, plain)
    finally:
        sim.stop()
    return report(load, (output, seconds, code, *rerun), (t0, t1), plain,
                  verify_new_only(database_url, data_dir, new, plain), (bad_keys, distinct))


def report(load: Load, runs: tuple, window: tuple, plain: dict, verified: tuple,
           upstream: tuple) -> int:
    """Print the figures and the verdict."""
    output, seconds, code, rerun_out, rerun_s, rerun_code = runs
    results = load.results
    failures = [r for _, _, r in results if not r["ok"]]
    during = sum(1 for s, e, _ in results if e >= window[0] and s <= window[1])
    lat = [(e - s) * 1000 for s, e, _ in results]
    counts = output.strip().splitlines()[-1] if output.strip() else ""
    rerun = rerun_out.strip().splitlines()[-1] if rerun_out.strip() else ""
    print(f"rotate output: {counts!r} (exit {code}) in {seconds:.2f}s")
    print(f"re-run output: {rerun!r} (exit {rerun_code}) in {rerun_s:.2f}s (CLI start-up + count, no rows)")
    print(f"requests: {len(results)} sent, {len(failures)} failed, {during} overlapped the rotate command; "
          f"latency p50 {common.percentile(lat, 50):.0f} ms, p99 {common.percentile(lat, 99):.0f} ms")
    for _, _, r in failures[:5]:
        print(f"  failure: status={r['status']} error={r['error']}")
    n = len(plain)
    return common.verdict("rotation under load", [
        ("no failed request", not failures, f"{len(failures)}/{len(results)} failed"),
        ("load overlapped the rotation", during > 0, f"{during} requests in flight during rotate"),
        ("rotate rotated every key", code == 0 and f"rotated={n}" in counts, counts or output[-300:]),
        ("re-run is a no-op", rerun_code == 0 and "rotated=0" in rerun, rerun),
        ("every key decrypts with NEW alone", verified[0] == n, f"{verified[0]}/{n}"),
        ("every row sealed under NEW's key id", verified[1] == n, f"{verified[1]}/{n}"),
        ("upstream saw only the right keys", upstream[0] == 0,
         f"{upstream[0]} unexpected key hashes; {upstream[1]} distinct user keys used"),
    ])


if __name__ == "__main__":
    sys.exit(main())

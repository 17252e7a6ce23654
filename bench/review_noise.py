"""How many review-queue items the demo's traffic raises, per rule.

Runs `manage.py demo` (every area's simulator against the real server) on a fresh SQLite
database for N minutes, stops it, and prints the items raised per kind, with how many are
still open (the rest were closed by their own follow-up, e.g. an unsettle undone by the same
settle).

    .venv/bin/python bench/review_noise.py --minutes 2

Compare two branches by running it on each. The issue's figure is for 14 minutes; a shorter
run gives the rate, not the total, so say which length you ran.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="how long the simulators run")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="review-noise-"))
    db = workdir / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "LOG_LEVEL": "warning",
        "TOUCHLINE_DEMO": "true",  # demo secrets, plain HTTP (config/security.py)
    }
    for name in ("REDIS_URL", "UOF_AMQP_URL", "FASTTRACK_TRANSPORT"):
        env.pop(name, None)
    python = sys.executable
    print(f"fresh database {db}; migrating…", flush=True)
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    log = open(workdir / "demo.log", "w")  # noqa: SIM115 - closed below
    demo = subprocess.Popen(
        [python, "manage.py", "demo", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    seconds = args.minutes * 60
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            if demo.poll() is not None:
                raise SystemExit(f"the demo stopped early (exit {demo.returncode}); see {workdir / 'demo.log'}")
            print(f"\r  demo traffic: {elapsed:5.0f} / {seconds:.0f} s", end="", flush=True)
            time.sleep(5)
        print()
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        log.close()

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT kind, COUNT(*), SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END)"
            " FROM wallet_reviewitem GROUP BY kind ORDER BY kind"
        ).fetchall()
        bets = conn.execute("SELECT COUNT(*) FROM wallet_bet").fetchone()[0]
        steps = conn.execute("SELECT kind, COUNT(*) FROM wallet_settlement GROUP BY kind ORDER BY kind").fetchall()
    print(f"\n{args.minutes:g} minutes of demo traffic: {bets} bets; settlement steps {dict(steps)}")
    print(f"{'rule (kind)':<24}{'raised':>8}{'open':>8}")
    for kind, raised, still_open in rows:
        print(f"{kind:<24}{raised:>8}{still_open:>8}")
    total = sum(r[1] for r in rows)
    print(f"{'total':<24}{total:>8}{sum(r[2] for r in rows):>8}")


if __name__ == "__main__":
    main()

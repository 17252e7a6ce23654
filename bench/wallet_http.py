#!/usr/bin/env python
"""Benchmark the IGPX wallet callbacks over real HTTP, against pgbench on the same statements.

What it does, in one run (default about 60 s):
1. creates its own PostgreSQL database (default tl_bench_igpx), migrates it, seeds players
   with funded EUR wallets;
2. starts the Fast Track delivery side as in production: a Celery worker (README's command) on
   Redis consuming the delivery task each exporting callback's on-commit kick queues, delivering
   to a fake Fast Track, so every kick is a real one (--no-crm-kick: transport off, no worker);
3. captures the statements the callbacks send: one round of each scenario of the mix runs
   in-process through config.wsgi.application with psycopg's statements recorded, and becomes
   the pgbench script (bench/_capture.py; it used to be kept by hand and went stale);
4. runs pgbench with the same client count on that script (one HTTP client round per pgbench
   transaction, the round's player and ids varied per round): the ceiling;
5. starts the production server as a subprocess (default granian, 6 single-threaded WSGI
   workers: config.wsgi, which hands the IGPX callbacks straight to their handler), drives POST
   /api/igpx/transaction and /transaction-rollback with N concurrent keep-alive clients (wrk,
   a C load generator like pgbench, when installed: bench/_http_wrk.py) in a closed loop and a
   realistic mix (bets, results, result retries, rollbacks, rollback
   retries), and prints requests/s, p50/p99, the ratio to pgbench and the CPU each request cost
   (server processes, Celery worker, PostgreSQL backends, this load generator);
6. the same clients paced at 35% of pgbench's rate (the goal), then at half the measured max
   (latency with headroom), latency counted from when each request was due (wrk again, when
   installed), each phase under a machine trace (bench/_http_trace.py) that says what the
   windows of its slowest 1% had that the others did not (--no-trace: without);
7. proves the ledger sound afterwards (manage.py check_ledger), runs pgbench once more (the
   ceiling is the better of the two pgbench runs) and drops the database.

Shared with bench/wallet_http_betsy.py through bench/_http_common.py.

    python bench/wallet_http.py                       # default: granian 6 x 1, 16 clients
    python bench/wallet_http.py --server all          # compare every server option
    python bench/wallet_http.py --profile /tmp/igpx   # py-spy the server (pip install py-spy)
    python bench/wallet_http.py --server uwsgi        # needs: pip install uwsgi (compiles)
    python bench/wallet_http.py --server granian-nginx  # nginx balancing per request (apt-get install nginx-light)
    python bench/wallet_http.py --fractions 0.5,0.7,0.8,0.9  # latency at those fractions of the max
    python bench/wallet_http.py --clients 32 --server gunicorn-gthread --workers 8 --threads 2
    python bench/wallet_http.py --decline-share 0.04  # 4% of rounds start with a declined bet
    python bench/wallet_http.py --duration 2 --paced-duration 1 --pgbench-duration 2 --players 20  # does it run?

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), the `pgbench` binary and Redis
(--redis-url, default 127.0.0.1:6379/12).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._http_common import Provider, Round, Scenario, Step, main  # noqa: E402

SECRET = "bench-igpx-secret"
CURRENCY = "EUR"
TRANSACTION, ROLLBACK_PATH = "/api/igpx/transaction", "/api/igpx/transaction-rollback"
STAKE, PAYOUT = "5.00", "10.00"
DECLINE_AMOUNT = "999999999.00"  # more than any bench player holds: declined INSUFFICIENT_FUNDS


def _body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def transaction(kind: str, action: str, amount: str, key: str, expect: str | None = None) -> Step:
    def build(this: Round) -> bytes:
        return _body(
            {"transaction_id": this.id(key), "action": action, "amount": amount, "user_id": this.user,
             "currency": CURRENCY}
        )  # fmt: skip

    return Step(kind, "POST", TRANSACTION, build, expect)


def _rollback(this: Round) -> bytes:
    return _body(
        {"transaction_id": this.id("rb"), "rollback_transaction_id": this.id("b"), "action": "rollback",
         "amount": STAKE, "user_id": this.user, "currency": CURRENCY}
    )  # fmt: skip


BET = transaction("bet", "bet", STAKE, "b")
PAID, LOST = transaction("result", "result", PAYOUT, "r"), transaction("result", "result", "0", "r")
ROLLBACK = Step("rollback", "POST", ROLLBACK_PATH, _rollback)
RESULT_REPLAY, ROLLBACK_REPLAY = Step("result-replay"), Step("rollback-replay")

# Per round, each client sends: a bet; then 80% a result (half of them paid; half of them
# re-sent once, as the provider does when an answer is slow), or 20% a rollback of the bet
# (half re-sent once). Resulting mix: 40% bets, 32% results, 16% result replays, 8% rollbacks,
# 4% rollback replays.
MIX = (
    Scenario("bet, result paid", 20, (BET, PAID)),
    Scenario("bet, result paid + replay", 20, (BET, PAID, RESULT_REPLAY)),
    Scenario("bet, result lost", 20, (BET, LOST)),
    Scenario("bet, result lost + replay", 20, (BET, LOST, RESULT_REPLAY)),
    Scenario("bet, rollback", 10, (BET, ROLLBACK)),
    Scenario("bet, rollback + replay", 10, (BET, ROLLBACK, ROLLBACK_REPLAY)),
)


def sign(body: bytes) -> tuple[str, str]:
    return "X-Security-Hash", hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def error_of(status: int, answer: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    return json.loads(answer).get("error")


PROVIDER = Provider(
    name="igpx",
    currency=CURRENCY,
    env={"IGPX_SECURITY_HASH": SECRET},
    sign=sign,
    error_of=error_of,
    mix=MIX,
    mix_text="40% bet / 32% result / 16% result retry / 8% rollback / 4% rollback retry",
    decline=Scenario("declined bet", 0, (transaction("declined", "bet", DECLINE_AMOUNT, "d", "INSUFFICIENT_FUNDS"),)),
)


if __name__ == "__main__":
    main(PROVIDER, __doc__, "tl_bench_igpx", 12, Path(__file__).resolve())

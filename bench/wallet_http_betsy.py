#!/usr/bin/env python
"""Benchmark the Betsy wallet callbacks over real HTTP, against pgbench on the same statements.

Measures what bench/wallet_http.py measures for IGPX, the same way (bench/_http_common.py):
1. creates its own PostgreSQL database (default tl_bench_betsy), migrates it, seeds players with
   funded USD wallets and a Betsy session token each;
2. starts the Fast Track delivery side as in production: a Celery worker (README's command) on
   Redis consuming the delivery tasks the callbacks' on-commit kicks queue, delivering to a fake
   Fast Track (--no-crm-kick: transport off, no worker);
3. captures the statements the callbacks send: one round of each scenario of the mix runs
   in-process through config.wsgi.application with psycopg's statements recorded, and becomes a
   pgbench script (bench/_capture.py), so the comparison follows the code as it changes;
4. runs pgbench with the same client count on that script (one HTTP client round per pgbench
   transaction, the round's player and request ids varied per round): the ceiling;
5. starts the production server as a subprocess (README "Processes": granian, 6 single-threaded
   WSGI workers; `/api/betsy/` goes through config.wsgi's lean callback stack) and drives the mix
   with N keep-alive clients (wrk when installed) in a closed loop, then paced at 35% of pgbench's rate and at half
   the measured max (latency counted from when each request was due); prints requests/s,
   p50/p99 per kind, the ratio to pgbench and the CPU per request of every process;
6. proves the ledger sound (manage.py check_ledger), runs pgbench again (the ceiling is the better
   run) and drops the database.

The mix, per client round, on a fresh transactionId (signed bodies as Betsy sends them):
25% place + settle won, 25% place + settle lost, 10% / 10% the same with the place and the
settle each re-sent (Betsy's retry after a timeout), 10% place + settle won + resettle lost,
5% place + settle won + unsettle + settle lost, 15% place + rollback + rollback re-sent.

    python bench/wallet_http_betsy.py                     # default: granian 6 x 1, 16 clients
    python bench/wallet_http_betsy.py --server granian,gunicorn-gthread
    python bench/wallet_http_betsy.py --duration 2 --paced-duration 1 --pgbench-duration 2 --players 20  # does it run?

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), the `pgbench` binary and Redis
(--redis-url, default 127.0.0.1:6379/13).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._http_common import Provider, Round, Scenario, Step, main  # noqa: E402
from wallet.betsy import protocol  # noqa: E402
from wallet.betsy.simulator import Betsy  # noqa: E402

SECRET = "bench-betsy-partner-secret"
CURRENCY = "USD"
PATH = "/api/betsy/payment/bet"
STAKE = Decimal(5)
NOT_ENOUGH_MONEY = protocol.Code.NOT_ENOUGH_MONEY
_bodies = Betsy(lambda request: None, SECRET)  # builds bodies only; never sends


def _body(type_: int, this: Round, amount: Decimal, token: bool = False, **extra: object) -> bytes:
    payload = _bodies.bet_body(
        type_=type_,
        transaction_id=this.id("tx"),
        user_id=this.user,
        currency=CURRENCY,
        amount=amount,
        token=this.token if token else None,
        **extra,
    )
    payload["requestId"] = this.id(f"rq{len(this.ids)}")
    return protocol.dumps(payload)


def place(amount: Decimal = STAKE, kind: str = "place", expect: str | None = None) -> Step:
    return Step(kind, "POST", PATH, lambda this: _body(1, this, amount, token=True), expect)


def settle(amount: int, result: str, kind: str) -> Step:
    return Step(kind, "PUT", PATH, lambda this: _body(2, this, Decimal(amount), resultType=result))


UNSETTLE = Step("unsettle", "PUT", PATH, lambda this: _body(1, this, STAKE))
ROLLBACK = Step("rollback", "PUT", PATH, lambda this: _body(3, this, STAKE, errorCode=10))
WON, LOST = settle(10, "won", "settle won"), settle(0, "lost", "settle lost")


def retry(kind: str) -> Step:
    return Step(f"{kind} retry")


MIX = (
    Scenario("place, settle won", 25, (place(), WON)),
    Scenario("place, settle lost", 25, (place(), LOST)),
    Scenario("place + retry, settle won + retry", 10, (place(), retry("place"), WON, retry("settle"))),
    Scenario("place + retry, settle lost + retry", 10, (place(), retry("place"), LOST, retry("settle"))),
    Scenario("place, settle won, resettle lost", 10, (place(), WON, settle(0, "lost", "resettle"))),
    Scenario("place, settle won, unsettle, settle lost", 5, (place(), WON, UNSETTLE, LOST)),
    Scenario("place, rollback + retry", 15, (place(), ROLLBACK, retry("rollback"))),
)
MIX_TEXT = ", ".join(f"{s.weight:.0f}% {s.name}" for s in MIX)


def sign(body: bytes) -> tuple[str, str]:
    return protocol.HEADER_NAME, protocol.sign(body, SECRET)


def error_of(status: int, answer: bytes) -> str | None:
    if status == 200:
        return None
    try:
        return f"code {json.loads(answer)['code']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}"


PROVIDER = Provider(
    name="betsy",
    currency=CURRENCY,
    # Fast Track's base currency is EUR: a USD event needs a rate or the worker dead-letters it.
    env={"BETSY_PARTNER_SECRET": SECRET, "FASTTRACK_EXCHANGE_RATES": "USD=0.92"},
    sign=sign,
    error_of=error_of,
    mix=MIX,
    mix_text=MIX_TEXT,
    decline=Scenario("declined place", 0, (place(Decimal(10**9), "declined", f"code {int(NOT_ENOUGH_MONEY)}"),)),
    tokens=True,
)


if __name__ == "__main__":
    main(PROVIDER, __doc__, "tl_bench_betsy", 13, Path(__file__).resolve())

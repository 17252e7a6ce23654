"""The wallet HTTP benchmarks' own database: created afresh, migrated through manage.py and
seeded with funded players whose ids are consecutive (the pgbench script computes them).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

    from bench._http_load import Provider

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def admin_connect(base_url: str) -> psycopg.Connection:
    import psycopg

    return psycopg.connect(base_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)


def create_database(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or not name.startswith(("tl_bench", "bench")):
        raise SystemExit(f"refusing to recreate database {name!r}: its name must start with tl_bench")
    with admin_connect(database_url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


@contextlib.contextmanager
def migrated_database(database_url: str, env: dict[str, str], keep: bool = False) -> Iterator[None]:
    """A bench's own database, created afresh and migrated; dropped afterwards unless `keep`."""
    name = database_url.rsplit("/", 1)[1]
    print(f"database {name}: create, migrate", flush=True)
    create_database(database_url)
    run_manage(env, "migrate", "-v0")
    try:
        yield
    finally:
        if not keep:
            with admin_connect(database_url) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=check, capture_output=True, text=True)


EXT0 = 70_000_000  # player i's external id is EXT0 + i (numeric, so pgbench can compute it)
FUNDS = 10_000_000  # per player: nobody runs out during a run

SEED = """
import django, json, sys
django.setup()
from decimal import Decimal
from django.db import transaction
from wallet import ledger
from wallet.models import Account, Player
count, currency, provider, ext0, tokens = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
# Real (not test) players: every callback also writes its Fast Track outbox rows, as in production.
# Created in one statement each, so their ids are consecutive (the pgbench script computes them).
players = Player.objects.bulk_create([Player(external_id=str(ext0 + i)) for i in range(count)])
accounts = Account.objects.bulk_create([Account(kind="player", player=p, currency=currency) for p in players])
assert [p.pk for p in players] == list(range(players[0].pk, players[0].pk + count))
assert [a.pk for a in accounts] == list(range(accounts[0].pk, accounts[0].pk + count))
cash = ledger.cash_account_id(currency)
ledger.clearing_account_id(provider, currency)  # as a session launch does: committed before any bet
with transaction.atomic():
    for p, a in zip(players, accounts):
        ledger.post(kind="deposit", currency=currency, player_id=p.pk, provider="operator", external_id=f"seed-{p.pk}",
                    legs=[ledger.Leg(a.pk, Decimal(FUNDS), tracked=True), ledger.Leg(cash, -Decimal(FUNDS))])
issued = []
if tokens:
    from wallet.betsy import tokens as betsy_tokens
    issued = [betsy_tokens.issue(player_id=p.pk, external_id=p.external_id, currency=currency) for p in players]
print(json.dumps({"players": count, "pid0": players[0].pk, "aid0": accounts[0].pk, "ext0": ext0, "tokens": issued}))
""".replace("FUNDS", str(FUNDS))


def seed(env: dict[str, str], provider: Provider, players: int) -> dict:
    out = subprocess.run(
        [PY, "-c", SEED, str(players), provider.currency, provider.name, str(EXT0), "1" if provider.tokens else "0"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"seeding failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])

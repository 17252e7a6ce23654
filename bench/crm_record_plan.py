"""The delivery record's plan: the UPDATE … FROM (VALUES …) that marks a wave delivered, with and
without the list of its ids (crm/claims.py, `record`).

    python bench/crm_record_plan.py --events 100 --repeat 3

On the database crm_rest_cost.py leaves (tl_bench_crm_rest; run that first), per repeat: write
`--events` events through the wallet postings, claim them all under one token as a worker would
(status 'sending'), and EXPLAIN ANALYZE each form of the record in a transaction that is rolled
back. Prints each form's join, planning and execution time. Without the id list PostgreSQL
estimates the rows carrying one claim token from its statistics; when it takes the token for a
rare value it expects one row and plans a nested loop against the VALUES list, quadratic in
the wave.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def forms(ids: list[int], body: str, now: object, token: str) -> dict[str, tuple[str, list]]:
    """The record as crm/claims.py sends it, and the same statement without its id list."""
    from crm.claims import ID_LIST_START, delivered_statement

    sql, params = delivered_statement([(row_id, body) for row_id in ids], now, token)
    start = sql.index(ID_LIST_START)
    without = sql[:start] + sql[sql.index(")", start + len(ID_LIST_START)) + 1 :]
    # Parameters: now, the (id, body) pairs, the listed ids, the token.
    pairs_end = 1 + 2 * len(ids)
    return {
        "without the id list": (without, [*params[:pairs_end], token]),
        "with the id list": (sql, params),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_crm_rest")
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import crm_export

    crm_export.setup_django(args.database_url)
    from django.db import connection
    from django.utils import timezone

    from crm.models import OutboxEvent
    from wallet.models import Player

    players = list(Player.objects.values_list("external_id", flat=True)[:100])
    if not players:
        raise SystemExit(f"no players in {args.database_url}: run bench/crm_rest_cost.py first")
    body = '{"activity_id": "' + "x" * 700 + '"}'  # about a real body's size
    for n in range(args.repeat):
        OutboxEvent.objects.exclude(status="delivered").update(status="delivered", claim_token="")
        crm_export.write_events(players, args.events, 1, f"plan-{time.time_ns()}")
        token = secrets.token_hex(16)  # as a worker's: a value the statistics have never seen
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE crm_outboxevent SET status = 'sending', claim_token = %s WHERE status = 'pending' RETURNING id",
                [token],
            )
            ids = sorted(row[0] for row in cursor.fetchall())
            built = list(forms(ids, body, timezone.now(), token).items())
            # Alternately first: the second form meets the first's rolled-back row versions.
            for name, (sql, params) in built if n % 2 == 0 else built[::-1]:
                cursor.execute("BEGIN")
                cursor.execute("EXPLAIN (ANALYZE, SUMMARY, COSTS OFF) " + sql, params)
                plan = [row[0].strip() for row in cursor.fetchall()]
                cursor.execute("ROLLBACK")
                join = next(
                    (line.split(" (")[0].lstrip("-> ") for line in plan if "Join" in line or "Loop" in line), "?"
                )
                times = ", ".join(line.lower() for line in plan if line.endswith(" ms") and "Time:" in line)
                removed = sum(int(line.rsplit(" ", 1)[1]) for line in plan if line.startswith("Rows Removed by Join"))
                print(
                    f"  repeat {n + 1}, {len(ids)} rows, {name}: {join}, {removed} pairs compared in vain; {times}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

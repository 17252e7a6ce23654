"""The delivery worker's statements: claim the next rows with what their payloads need, and
record how each ended (crm/services.py runs the batch; the module docstring there says why
rows are claimed and leased as they are).

Written as SQL on the wallet's hot-path cursor (wallet.rows.cursor), and rows built without
Model.__init__ (wallet.rows.partial). The delivery worker runs on the wallet's cores, and
through the ORM a batch cost more CPU than its events: under an HTTP load a CPU-only profile
of the worker put the claim's queryset (SQL compilation, five model instances a row) at ~28%,
Django's query compiler over the batch's statements at ~15%, the bets' Bet-row query at ~10%
and the record at ~7% (docs/benchmarks/crm.md). Now a batch is four statements in all: the
claim (two UPDATEs and one SELECT that joins everything the payloads read, in one
transaction) and the record (one UPDATE for the delivered rows and their bodies, plus one for
released rows and one per failure when there are any).
"""

from __future__ import annotations

from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from django.db import transaction

from crm import conf
from crm.models import OutboxEvent
from wallet import rows as sql_rows
from wallet.models import Bet, LedgerTransaction, Player, Settlement

# How a claimed row ends a round: delivered; dead (refused as invalid); failed (counted: the
# endpoint took others meanwhile); outage (back to pending as it was, the error noted);
# released (not sent: back to pending untouched).
DELIVERED, DEAD, FAILED, OUTAGE, RELEASED = "delivered", "dead", "failed", "outage", "released"


def _claim_sql(skip_locked: bool) -> str:
    # NO KEY UPDATE, not UPDATE: we change no key column, and the weaker lock does not block
    # the FK check (FOR KEY SHARE) of a money transaction inserting a Rollback that points here.
    lock = " FOR NO KEY UPDATE SKIP LOCKED" if skip_locked else ""
    return (
        "UPDATE crm_outboxevent SET status = 'sending', claim_token = %s, leased_until = %s"
        " WHERE id IN (SELECT o.id FROM crm_outboxevent o"
        "   WHERE o.status = 'pending' AND o.next_attempt_at <= %s"
        "   AND NOT EXISTS (SELECT 1 FROM crm_outboxevent p WHERE p.player_id = o.player_id AND p.id < o.id"
        "     AND p.status IN ('pending', 'sending', 'dead'))"
        f"   ORDER BY o.id LIMIT %s{lock})"
        " RETURNING player_id"
    )


_FOLLOWERS_SQL = (
    "UPDATE crm_outboxevent SET status = 'sending', claim_token = %s, leased_until = %s"
    " WHERE id IN (SELECT id FROM (SELECT o.id, ROW_NUMBER() OVER (PARTITION BY o.player_id ORDER BY o.id) AS n"
    "   FROM crm_outboxevent o WHERE o.player_id IN ({players}) AND o.status = 'pending'"
    "   AND o.next_attempt_at <= %s"
    "   AND NOT EXISTS (SELECT 1 FROM crm_outboxevent d WHERE d.player_id = o.player_id AND d.id < o.id"
    "     AND d.status = 'dead')) ranked WHERE n <= %s)"
)

# What delivery reads of a claimed outbox row (and of the row a Rollback cancels): the payload
# (crm.services.PayloadBuilder, crm/mapping.py), the log lines and the record of a failure. The
# other columns (status, lease, claim token, next attempt, delivery time…) stay deferred: each
# timestamp read is a Python call in Django's psycopg loader, and the lease alone was one an event
# (issue #18). player_id third: `_a_run_was_cut` counts rows by it.
_OUTBOX = (
    "id",
    "activity_id",
    "player_id",
    "currency",
    "event_type",
    "event_status",
    "bet_id",
    "settlement_id",
    "transaction_id",
    "reverses_id",
    "unlinked",
    "balance_before",
    "balance_after",
    "exchange_rate",
    "occurred_at",
    "attempts",
    "body",
)
# What a payload reads besides the outbox row (crm.services.PayloadBuilder, crm/mapping.py);
# the other fields of these rows stay deferred.
_PLAYER = ("id", "external_id")
_BET = (
    "id",
    "provider",
    "currency",
    "stake",
    "stake_real",
    "stake_bonus",
    "odds",
    "bet_type",
    "selections",
    "placed_at",
)
_SETTLEMENT = ("id", "amount", "result")
_BET_ROW = ("id", "activity_id", "exchange_rate")  # the bet's own Bet/Approved row, which a settlement references


def _columns(model: type, alias: str, names: tuple[str, ...]) -> list[str]:
    by_attname = {f.attname: f.column for f in model._meta.concrete_fields}
    return [f"{alias}.{by_attname[name]}" for name in names]


@cache
def _claimed_sql() -> tuple[str, tuple[str, ...]]:
    outbox = _OUTBOX
    columns = [
        *_columns(OutboxEvent, "o", outbox),
        *_columns(Player, "p", _PLAYER),
        *_columns(Bet, "b", _BET),
        *_columns(Settlement, "s", _SETTLEMENT),
        *_columns(OutboxEvent, "r", outbox),
        *_columns(OutboxEvent, "br", _BET_ROW),
        "t.provider",
    ]
    table = OutboxEvent._meta.db_table
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} o"
        f" JOIN {Player._meta.db_table} p ON p.id = o.player_id"
        f" LEFT JOIN {Bet._meta.db_table} b ON b.id = o.bet_id"
        f" LEFT JOIN {Settlement._meta.db_table} s ON s.id = o.settlement_id"
        f" LEFT JOIN {table} r ON r.id = o.reverses_id"
        f" LEFT JOIN {table} br ON br.bet_id = COALESCE(o.bet_id, r.bet_id)"
        "   AND br.event_type = 'Bet' AND br.event_status = 'Approved'"
        f" LEFT JOIN {LedgerTransaction._meta.db_table} t ON o.unlinked AND t.id = o.transaction_id"
        " WHERE o.claim_token = %s AND o.status = 'sending' ORDER BY o.id"
    )
    return sql, outbox


@dataclass
class Claimed:
    rows: list[OutboxEvent] = field(default_factory=list)  # in id order, with player, bet, settlement, reverses
    bet_rows: dict[int, OutboxEvent] = field(default_factory=dict)  # bet id -> its Bet/Approved row
    providers: dict[int, str] = field(default_factory=dict)  # unlinked rows' transaction id -> provider
    full: bool = False  # the claim took all it was allowed to: more rows may be due


def claim(*, token: str, now: datetime, limit: int | None = None, run: int | None = None) -> Claimed:
    """Take the next deliverable rows (crm/services.py's docstring); they are ours until the
    lease ends. Returns them with the rows their payloads read."""
    limit = limit or conf.BATCH_SIZE
    run = run if run is not None else conf.PLAYER_RUN
    lease = now + timedelta(seconds=conf.LEASE_SECONDS)
    postgres = sql_rows.db().vendor == "postgresql"
    with transaction.atomic(), sql_rows.cursor() as cursor:
        # SQLite has no row locks; its transactions take the database's write lock
        # (transaction_mode IMMEDIATE), which serialises claims just as well.
        cursor.execute(_claim_sql(postgres), [token, lease, now, limit])
        players = sorted({row[0] for row in cursor.fetchall()})
        if not players:
            return Claimed()
        if run > 0:
            # Safe without locks: each of these players' heads is now ours ('sending'),
            # so no other worker can claim their later rows.
            sql = _FOLLOWERS_SQL.format(players=", ".join(["%s"] * len(players)))
            cursor.execute(sql, [token, lease, *players, now, run])
        sql, outbox = _claimed_sql()
        cursor.execute(sql, [token])
        found = cursor.fetchall()
    return _build(found, outbox, full=len(players) >= limit or _a_run_was_cut(found, run))


def _a_run_was_cut(found: list[tuple], run: int) -> bool:
    """Some player got its head and `run` followers: it may have more rows due."""
    player_index = _OUTBOX.index("player_id")
    return run > 0 and max(Counter(row[player_index] for row in found).values()) > run


def _build(found: list[tuple], outbox: tuple[str, ...], *, full: bool) -> Claimed:
    claimed = Claimed(full=full)
    spans = []
    start = 0
    for model, names in (
        (OutboxEvent, outbox),
        (Player, _PLAYER),
        (Bet, _BET),
        (Settlement, _SETTLEMENT),
        (OutboxEvent, outbox),
        (OutboxEvent, _BET_ROW),
    ):
        spans.append((model, names, start, start + len(names)))
        start += len(names)
    (_, _, o0, o1), (_, _, p0, p1), (_, _, b0, b1), (_, _, s0, s1), (_, _, r0, r1), (_, _, w0, w1) = spans
    for values in found:
        row = sql_rows.partial(OutboxEvent, outbox, values[o0:o1])
        cache = row._state.fields_cache
        cache["player"] = sql_rows.partial(Player, _PLAYER, values[p0:p1])
        cache["bet"] = None if values[b0] is None else sql_rows.partial(Bet, _BET, values[b0:b1])
        cache["settlement"] = None if values[s0] is None else sql_rows.partial(Settlement, _SETTLEMENT, values[s0:s1])
        cache["reverses"] = None if values[r0] is None else sql_rows.partial(OutboxEvent, outbox, values[r0:r1])
        if values[w0] is not None:
            bet_id = row.bet_id if row.bet_id is not None else cache["reverses"].bet_id
            claimed.bet_rows[bet_id] = sql_rows.partial(OutboxEvent, _BET_ROW, values[w0:w1])
        if row.unlinked and row.transaction_id is not None:
            claimed.providers[row.transaction_id] = values[w1] or ""
        claimed.rows.append(row)
    # A Rollback claimed with the event it cancels takes that row itself, whose body is built
    # (and sent) first: its payload is derived from that body, not rebuilt from the wallet rows.
    by_id = {row.id: row for row in claimed.rows}
    for row in claimed.rows:
        if row.reverses_id in by_id:
            row._state.fields_cache["reverses"] = by_id[row.reverses_id]
    return claimed


# --- Record ----------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """Exponential: base, 2·base, 4·base… capped at RETRY_MAX_SECONDS."""
    seconds = conf.RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, conf.RETRY_MAX_SECONDS))


def _chunks(items: list, size: int = 500):
    for index in range(0, len(items), size):
        yield items[index : index + size]


_MINE = " AND claim_token = %s AND status = 'sending'"


def record(
    token: str,
    rows: list[OutboxEvent],
    outcomes: dict[int, tuple[str, str]],
    now: datetime,
    fresh_bodies: set[int] | None = None,
    renew_until: datetime | None = None,
) -> int:
    """Write the outcome of `rows` in one transaction; returns how many we no longer owned.

    Only rows still carrying our claim token are touched: a worker that outlived its lease
    changes nothing. Delivered rows and the bodies first built in this batch (a retry sends the
    same bytes) in one statement, released rows in one, failed rows (at most one per player)
    one by one. With `renew_until`, the rows we still hold (not in `rows`) get their lease
    extended.
    """
    fresh_bodies = fresh_bodies or set()
    delivered: list[tuple[int, str | None]] = []
    released: list[int] = []
    failed: list[tuple[OutboxEvent, str, str]] = []
    other_bodies: list[tuple[int, str]] = []
    for row in rows:
        body = row.body if row.id in fresh_bodies and row.body else None
        outcome, error = outcomes.get(row.id, (RELEASED, ""))
        if outcome == DELIVERED:
            delivered.append((row.id, body))
            continue
        if body is not None:
            other_bodies.append((row.id, body))
        if outcome == RELEASED:
            released.append(row.id)
        else:
            failed.append((row, outcome, error))
    # (sql, params, whether its rowcount counts rows we still owned)
    statements: list[tuple[str, list, bool]] = []
    for chunk in _chunks(delivered):
        statements.append((*delivered_statement(chunk, now, token), True))
    for chunk in _chunks(released):
        statements.append(
            (
                "UPDATE crm_outboxevent SET status = 'pending', claim_token = '', leased_until = NULL"
                f" WHERE id IN ({', '.join(['%s'] * len(chunk))}){_MINE}",
                [*chunk, token],
                True,
            )
        )
    for row, outcome, error in failed:
        if outcome == OUTAGE:  # not the event's fault: nothing counted, due again at once
            sql = (
                "UPDATE crm_outboxevent SET status = 'pending', last_error = %s, claim_token = '',"
                f" leased_until = NULL WHERE id = %s{_MINE}"
            )
            statements.append((sql, [error[:2000], row.id, token], True))
            continue
        attempts = row.attempts + 1
        if outcome == DEAD or attempts >= conf.MAX_ATTEMPTS:  # dead: its next attempt stays as it was
            status, due = OutboxEvent.Status.DEAD.value, ""
            params = [status, attempts, error[:2000], row.id, token]
        else:
            status, due = OutboxEvent.Status.PENDING.value, " next_attempt_at = %s,"
            params = [status, attempts, error[:2000], now + backoff(attempts), row.id, token]
        sql = (
            f"UPDATE crm_outboxevent SET status = %s, attempts = %s, last_error = %s,{due}"
            f" claim_token = '', leased_until = NULL WHERE id = %s{_MINE}"
        )
        statements.append((sql, params, True))
    statements += [(sql, params, False) for sql, params in _body_statements(other_bodies)]
    if renew_until is not None:
        statements.append(
            (
                "UPDATE crm_outboxevent SET leased_until = %s WHERE claim_token = %s AND status = 'sending'",
                [renew_until, token],
                False,
            )
        )
    owned = 0
    # One statement (a wave that all went through, the commonest record) is atomic by itself:
    # without transaction.atomic() it costs no BEGIN and no COMMIT, each a round trip (issue #18).
    with transaction.atomic() if len(statements) > 1 else nullcontext(), sql_rows.cursor() as cursor:
        for sql, params, counts in statements:
            cursor.execute(sql, params)
            if counts:
                owned += cursor.rowcount
    return len(rows) - owned


def delivered_statement(chunk: list[tuple[int, str | None]], now: datetime, token: str) -> tuple[str, list]:
    """Mark (id, fresh body or None) rows delivered, if they still carry our claim token; the
    body is written only where one was first built in this batch."""
    values = ", ".join(["(%s, %s)"] * len(chunk))
    sql = (
        "UPDATE crm_outboxevent SET status = 'delivered', delivered_at = %s, attempts = attempts + 1,"
        " last_error = '', claim_token = '', leased_until = NULL,"
        " body = CASE WHEN v.column2 IS NULL THEN crm_outboxevent.body ELSE v.column2 END"
        f" FROM (VALUES {values}) AS v WHERE crm_outboxevent.id = v.column1"
        # The ids again, as a list: PostgreSQL then expects as many rows as there are and hashes
        # the VALUES. Without it, it estimates the rows carrying our claim token from its
        # statistics, where a fresh token is a rare value: it expected one row and matched each
        # row against every VALUES row, a nested loop quadratic in the wave
        # (bench/crm_record_plan.py, 100 rows: 9.7-11.2 ms against 3.7-4.9 ms).
        f"{ID_LIST_START}{', '.join(['%s'] * len(chunk))})"
        " AND crm_outboxevent.claim_token = %s AND crm_outboxevent.status = 'sending'"
    )
    return sql, [now, *(item for pair in chunk for item in pair), *(row_id for row_id, _ in chunk), token]


ID_LIST_START = " AND crm_outboxevent.id IN ("  # bench/crm_record_plan.py takes the list out to compare


def _body_statements(bodies: list[tuple[int, str]]) -> list[tuple[str, list]]:
    """Freeze bodies: one UPDATE … FROM (VALUES …) per chunk.

    (Django's bulk_update writes a CASE per row and column, which PostgreSQL evaluates row by
    row: quadratic, 25 s for 3,000 rows in the benchmark.)
    """
    statements = []
    for chunk in _chunks(bodies):
        values = ", ".join(["(%s, %s)"] * len(chunk))
        statements.append(
            (
                "UPDATE crm_outboxevent SET body = v.column2"
                f" FROM (VALUES {values}) AS v WHERE crm_outboxevent.id = v.column1",
                [item for pair in chunk for item in pair],
            )
        )
    return statements

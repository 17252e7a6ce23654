"""The write side of the outbox: wallet events become outbox rows in the money transaction.

`on_wallet_event` is subscribed to wallet.events in CrmConfig.ready(). It runs on the
wallet's hot path, inside the transaction that moved the money, so it is kept to two round
trips: one SELECT that reads everything it needs (player, balance, what moved, what Fast
Track already knows about the bet) and one INSERT. The payload itself is built at delivery
time from rows that never change (wallet/models.py is append-only where it matters); what
would change later (the balance, the exchange rate, the time) is frozen on the row here.

Which events a wallet fact produces (docs/fasttrack.md §5):

| wallet event | outbox rows |
|---|---|
| bet_placed | Bet/Approved |
| bet_settled, bet_resettled, bet_reversed | Settlement/Rollback of the settlement in force (if any), then Settlement/Approved of the new one; nothing if amount and result are unchanged; a staff reversal to 0 only rolls back |
| bet_unsettled | Settlement/Rollback of the settlement in force (if any) |
| bet_rolled_back | Settlement/Rollback of the settlement in force (if any), then Bet/Rollback |
| result_credited | Settlement/Approved, unlinked (no bet: empty reference) |
| transaction_reversed | Settlement/Rollback of the unlinked result it reverses (if we exported one) |

Bets whose Bet event was never written (test players, bets placed while the outbox was
off) produce no later events either: Fast Track would get a settlement for a bet it never saw.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import models
from django.utils import timezone

from crm import conf, mapping
from crm.models import OutboxEvent
from wallet import events
from wallet import rows as sql_rows  # `rows` names outbox rows here

logger = logging.getLogger("touchline.crm")

Row = OutboxEvent
BET, SETTLEMENT = Row.EventType.BET.value, Row.EventType.SETTLEMENT.value
APPROVED, ROLLBACK = Row.EventStatus.APPROVED.value, Row.EventStatus.ROLLBACK.value

HANDLED = frozenset(
    {
        events.BET_PLACED,
        events.BET_SETTLED,
        events.BET_RESETTLED,
        events.BET_UNSETTLED,
        events.BET_ROLLED_BACK,
        events.BET_REVERSED,
        events.RESULT_CREDITED,
        events.TRANSACTION_REVERSED,
    }
)
_SETTLING = {events.BET_SETTLED, events.BET_RESETTLED, events.BET_REVERSED}
_BET_LEVEL = _SETTLING | {events.BET_UNSETTLED, events.BET_ROLLED_BACK}


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    # SQLite hands back floats for NUMERIC; str() is exact for the demo's magnitudes.
    return Decimal(str(value)).quantize(Decimal("0.00000001"))


@dataclass(frozen=True)
class _Context:
    is_test: bool
    balance: Decimal  # real + bonus, now, inside the money transaction
    moved_all: Decimal  # what the event's ledger transactions moved on real + bonus
    moved_first: Decimal  # … of which the reversal of the payout in force (0 when none)
    payout_reversal_id: int | None = None  # the event's transaction that reverses a payout
    credit_id: int | None = None  # the event's new payout
    refund_id: int | None = None  # the event's stake refund (a rollback)
    bet_row_id: int | None = None  # the bet's Bet/Approved row
    bet_row_activity: str | None = None
    force_id: int | None = None  # the bet's latest Settlement row …
    force_status: str | None = None
    force_activity: str | None = None
    force_amount: Decimal | None = None  # … and the settlement it reported
    force_result: str | None = None
    new_amount: Decimal | None = None  # the settlement this event reports
    new_result: str | None = None
    unlinked_id: int | None = None  # an unlinked result row reversed by this event
    unlinked_activity: str | None = None


_CONTEXT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(_Context) if f.default is not dataclasses.MISSING}
_CONTEXT_FIELDS = frozenset(f.name for f in dataclasses.fields(_Context))


def _new_context(**values: Any) -> _Context:
    """`_Context(**values)` without the frozen dataclass's __init__ (an object.__setattr__ per
    field, 18 of them, on every exported wallet event: issue #18); still frozen."""
    if not values.keys() <= _CONTEXT_FIELDS:
        raise TypeError(f"_Context has no field {', '.join(sorted(values.keys() - _CONTEXT_FIELDS))}")
    ctx = object.__new__(_Context)
    state = ctx.__dict__
    state.update(_CONTEXT_DEFAULTS)
    state.update(values)
    if len(state) != len(_CONTEXT_FIELDS):
        raise TypeError("_Context needs is_test, balance, moved_all and moved_first")
    return ctx


def _context(event: events.WalletEvent) -> _Context | None:
    """Everything the planner needs, in one round trip; only the parts this kind of event uses
    (a placement, the commonest event, reads the player, the balance and what moved).

    Order: two transactions of one player must write their rows in commit order, which is
    what lets the delivery side treat id order as the player's order. A transaction that
    moved money holds the player's account row lock already (the wallet's balance UPDATE);
    one that moved nothing (a lost bet's settlement) takes it here, on PostgreSQL, with the
    same strength (FOR NO KEY UPDATE).
    """
    txns = list(event.transaction_ids)
    in_list = ", ".join(["%s"] * len(txns)) if txns else "NULL"
    columns = [
        "p.is_test",
        "a.balance + a.bonus_balance",
        "(SELECT COALESCE(SUM(e.amount), 0) FROM wallet_ledgerentry e WHERE e.account_id = a.id"
        f" AND e.bucket IN ('real', 'bonus') AND e.transaction_id IN ({in_list}))",
    ]
    column_params: list = [*txns]
    joins: list[str] = []
    join_params: list = []
    names = ["is_test", "balance", "moved_all"]
    with_clause, with_params = "", []
    if event.kind in _BET_LEVEL and event.bet_id is not None:
        # The wallet pays in before it takes out (postings._apply_step), so the roles of the
        # event's transactions are found by what they are, not by their position. `ev` reads
        # the event's few transactions by primary key once (a CTE used four times is computed
        # once); subqueries joining the ledger with a kind filter got a generic plan that
        # scanned every payout of the ledger, 5-10 ms per event and growing (docs/benchmarks/igpx.md).
        with_clause = (
            "WITH ev AS (SELECT t.id, t.kind, r.kind AS reverses_kind FROM wallet_ledgertransaction t"
            f" LEFT JOIN wallet_ledgertransaction r ON r.id = t.reverses_id WHERE t.id IN ({in_list})) "
        )
        with_params = [*txns]

        def role(condition: str) -> str:
            return f"(SELECT id FROM ev WHERE {condition} ORDER BY id LIMIT 1)"

        reversal = role("reverses_kind = 'payout'")
        columns += [
            "(SELECT COALESCE(SUM(e.amount), 0) FROM wallet_ledgerentry e WHERE e.account_id = a.id"
            f" AND e.bucket IN ('real', 'bonus') AND e.transaction_id = {reversal})",
            reversal,
            role("kind = 'payout'"),
            role("reverses_kind = 'bet'"),
            "b.id, b.activity_id, f.id, f.event_status, f.activity_id, fs.amount, fs.result, s.amount, s.result",
        ]
        names += ["moved_first", "payout_reversal_id", "credit_id", "refund_id", "bet_row_id", "bet_row_activity"]
        names += ["force_id", "force_status", "force_activity", "force_amount", "force_result", "new_amount"]
        names += ["new_result"]
        joins += [
            "LEFT JOIN crm_outboxevent b ON b.bet_id = %s AND b.event_type = 'Bet' AND b.event_status = 'Approved'",
            "LEFT JOIN crm_outboxevent f ON f.id = (SELECT MAX(o.id) FROM crm_outboxevent o"
            " WHERE o.bet_id = %s AND o.event_type = 'Settlement')",
            "LEFT JOIN wallet_settlement fs ON fs.id = f.settlement_id",
            "LEFT JOIN wallet_settlement s ON s.id = %s",
        ]
        join_params += [event.bet_id, event.bet_id, event.settlement_id]
    elif event.kind == events.TRANSACTION_REVERSED:
        columns.append("u.id, u.activity_id")
        names += ["unlinked_id", "unlinked_activity"]
        joins.append(
            "LEFT JOIN crm_outboxevent u ON u.id = (SELECT MIN(o.id) FROM crm_outboxevent o"
            " JOIN wallet_ledgertransaction t ON t.reverses_id = o.transaction_id"
            f" WHERE o.unlinked AND o.event_status = 'Approved' AND t.id IN ({in_list}))"
        )
        join_params += txns
    lock = " FOR NO KEY UPDATE OF a" if sql_rows.db().vendor == "postgresql" and not txns else ""
    sql = (
        with_clause + f"SELECT {', '.join(columns)} FROM wallet_player p"
        " JOIN wallet_account a ON a.player_id = p.id AND a.kind = 'player' AND a.currency = %s "
        + " ".join(joins)
        + " WHERE p.id = %s"
        + lock
    )
    with sql_rows.cursor() as cursor:
        cursor.execute(sql, [*with_params, *column_params, event.currency, *join_params, event.player_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = dict(zip(names, row, strict=True))
    money_fields = ("balance", "moved_all", "moved_first", "force_amount", "new_amount")
    for name in money_fields:
        if values.get(name) is not None:
            values[name] = _decimal(values[name])
    values["is_test"] = bool(values["is_test"])
    values.setdefault("moved_first", Decimal(0))
    return _new_context(**values)


def _known_context(event: events.WalletEvent) -> _Context | None:
    """The context from the event, when the posting passed on what it read under the account's
    row lock (WalletEvent.balance_after, moved, is_test, and for a settlement step the roles of
    its transactions): a placement or an unlinked result then costs no query here, a bet's
    settlement step only the read of this export's own rows for the bet (`_bet_rows`). The row
    lock that orders the player's rows is the posting's (or, when nothing moved, the caller's)."""
    if event.balance_after is None or event.moved is None or event.is_test is None:
        return None
    if event.kind in (events.BET_PLACED, events.RESULT_CREDITED):
        if not event.transaction_ids:
            return None
        return _new_context(
            is_test=event.is_test, balance=event.balance_after, moved_all=event.moved, moved_first=Decimal(0)
        )
    if event.kind not in _BET_LEVEL or not event.roles_known or event.settlement is None or event.bet_id is None:
        return None
    known: dict[str, Any] = {
        "is_test": event.is_test,
        "balance": event.balance_after,
        "moved_all": event.moved,
        "moved_first": event.moved_by_reversal,
        "payout_reversal_id": event.payout_reversal_id,
        "credit_id": event.credit_id,
        "refund_id": event.refund_id,
        "new_amount": event.settlement.amount,
        "new_result": event.settlement.result,
    }
    if event.is_test and not conf.EXPORT_TEST_PLAYERS:
        return _new_context(**known)  # not exported: the export's own rows do not matter
    return _new_context(**known, **_bet_rows(event))  # one construction (dataclasses.replace costs a second)


# What this export already sent about a bet: its Bet/Approved row and its latest Settlement row
# (with the settlement that row reported). Rows written only under the bet's row lock (every
# bet-level event holds it), so a provider may send this read with its bet's (wallet.events.BetRead).
_BET_ROWS = (
    "SELECT b.id, b.activity_id, f.id, f.event_status, f.activity_id, fs.amount, fs.result FROM (SELECT 1) AS one"
    " LEFT JOIN crm_outboxevent b ON b.bet_id = {bet} AND b.event_type = 'Bet' AND b.event_status = 'Approved'"
    " LEFT JOIN crm_outboxevent f ON f.id = (SELECT MAX(o.id) FROM crm_outboxevent o"
    " WHERE o.bet_id = {bet} AND o.event_type = 'Settlement')"
    " LEFT JOIN wallet_settlement fs ON fs.id = f.settlement_id"
)
_BET_ROW_NAMES = ("bet_row_id", "bet_row_activity", "force_id", "force_status", "force_activity")
_BET_ROW_NAMES += ("force_amount", "force_result")
BET_READ = events.BetRead("crm", _BET_ROWS, len(_BET_ROW_NAMES))


def _bet_rows(event: events.WalletEvent) -> dict[str, Any]:
    row = (event.prefetched or {}).get(BET_READ.name)
    if row is None:
        with sql_rows.cursor() as cursor:
            cursor.execute(_BET_ROWS.format(bet="%s"), [event.bet_id, event.bet_id])
            row = cursor.fetchone()
    values = dict(zip(_BET_ROW_NAMES, row, strict=True))
    if values["force_amount"] is not None:
        values["force_amount"] = _decimal(values["force_amount"])
    return values


def _state(amount: Decimal, result: str) -> tuple[Decimal, str | None, bool]:
    """What Fast Track sees of a settlement; two settlements that look the same are one."""
    return (amount, mapping.settlement_type(result, amount), mapping.is_cashout(result))


# A new outbox row, as the INSERT's columns: what _plan decides, in this order, then the
# constant start of every row (pending, no attempt, claim or body yet), written as SQL literals.
# Not Model instances through wallet.rows.insert_many: building one per row and preparing its 23
# fields one by one was most of the subscriber's cost on a callback (issue #18).
# tests/crm/test_outbox_rows.py checks both against what Model.save() would write.
COLUMNS = (
    "activity_id",
    "player_id",
    "currency",
    "event_type",
    "event_status",
    "source",
    "bet_id",
    "settlement_id",
    "transaction_id",
    "reverses_id",
    "unlinked",
    "balance_before",
    "balance_after",
    "exchange_rate",
    "occurred_at",
    "next_attempt_at",
)
CONSTANTS = {
    "status": Row.Status.PENDING.value,
    "attempts": 0,
    "claim_token": "",
    "leased_until": None,
    "last_error": "",
    "body": "",
    "delivered_at": None,
}


def _literal(value: str | int | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


@cache
def _insert_sql(count: int) -> str:
    """The INSERT of `count` new rows; a repeated wallet event's rows (same activity_id) are skipped."""
    columns = ", ".join([*COLUMNS, *CONSTANTS])
    one = "(" + ", ".join(["%s"] * len(COLUMNS) + [_literal(v) for v in CONSTANTS.values()]) + ")"
    return f"INSERT INTO {Row._meta.db_table} ({columns}) VALUES {', '.join([one] * count)} ON CONFLICT DO NOTHING"


@cache
def _fields() -> tuple[models.Field, ...]:
    by_attname = {f.attname: f for f in Row._meta.concrete_fields}
    return tuple(by_attname[name] for name in COLUMNS)


def insert_params(conn: Any, rows: list[tuple]) -> list[Any]:
    """The INSERT's parameters for `rows` (tuples in COLUMNS order). On PostgreSQL the values as
    they are: str, int, bool, finite Decimal, aware datetime or None, which the fields' own
    preparation returns unchanged (wallet.rows._UNCHANGED); elsewhere through that preparation."""
    if conn.vendor == "postgresql":
        return [value for row in rows for value in row]
    return [f.get_db_prep_save(value, conn) for row in rows for f, value in zip(_fields(), row, strict=True)]


def _plan(event: events.WalletEvent, ctx: _Context) -> list[tuple]:
    """The rows for one wallet event, in the order Fast Track must receive them (tuples in
    COLUMNS order)."""
    prefix = conf.ACTIVITY_PREFIX
    txns = event.transaction_ids
    first_txn = txns[0] if txns else None
    bet_id, settlement_id = event.bet_id, event.settlement_id
    # (activity_id, event_type, event_status, bet_id, settlement_id, transaction_id, reverses_id, unlinked)
    heads: list[tuple] = []
    rolls_back_payout = False  # the first ledger transaction belongs to the first row

    if event.kind == events.BET_PLACED:
        heads.append((mapping.bet_activity_id(prefix, bet_id), BET, APPROVED, bet_id, None, first_txn, None, False))
    elif event.kind == events.RESULT_CREDITED:
        if not txns:
            # An unlinked zero result (IGPX: a lost bet, no bet reference, nothing paid): it
            # names no bet Fast Track could attach it to and moves no money. Not exported.
            return []
        activity = mapping.result_activity_id(prefix, first_txn)
        heads.append((activity, SETTLEMENT, APPROVED, None, None, first_txn, None, True))
    elif event.kind == events.TRANSACTION_REVERSED:
        if ctx.unlinked_id is None:
            return []
        activity = mapping.rollback_activity_id(ctx.unlinked_activity)
        heads.append((activity, SETTLEMENT, ROLLBACK, None, None, first_txn, ctx.unlinked_id, True))
    else:
        if ctx.bet_row_id is None:
            return []  # Fast Track never saw this bet (test player, or placed before the export)
        in_force = ctx.force_status == APPROVED
        current = _state(ctx.force_amount or Decimal(0), ctx.force_result or "") if in_force else None
        desired = None
        if event.kind in _SETTLING and ctx.new_amount is not None:
            if not (event.kind == events.BET_REVERSED and ctx.new_amount == 0):
                desired = _state(ctx.new_amount, ctx.new_result or "")
        if event.kind in _SETTLING and current == desired:
            return []  # a repeat of the settlement in force: Fast Track already has it
        if in_force:
            rolls_back_payout = ctx.payout_reversal_id is not None
            activity = mapping.rollback_activity_id(ctx.force_activity)
            heads.append(
                (activity, SETTLEMENT, ROLLBACK, bet_id, settlement_id, ctx.payout_reversal_id, ctx.force_id, False)
            )
        if desired is not None:
            activity = mapping.settlement_activity_id(prefix, settlement_id)
            heads.append((activity, SETTLEMENT, APPROVED, bet_id, settlement_id, ctx.credit_id, None, False))
        if event.kind == events.BET_ROLLED_BACK:
            activity = mapping.rollback_activity_id(ctx.bet_row_activity)
            heads.append((activity, BET, ROLLBACK, bet_id, settlement_id, ctx.refund_id, ctx.bet_row_id, False))
    if not heads:
        return []

    # Balances: walk back from the balance now. The first row (the rollback of the payout in
    # force) takes what the payout's reversal moved; the last row takes the rest; rows in
    # between moved nothing. Fast Track sees take-back then pay-out, whatever order the
    # ledger wrote them in.
    moved = [Decimal(0)] * len(heads)
    if rolls_back_payout and len(heads) > 1:
        moved[0] = ctx.moved_first
        moved[-1] = ctx.moved_all - ctx.moved_first
    else:
        moved[-1] = ctx.moved_all
    now = timezone.now()
    rate = conf.exchange_rate(event.currency)
    player_id, currency, source = event.player_id, event.currency, event.kind
    rows: list[tuple] = []
    after = ctx.balance
    for (activity, kind, status, bet, settlement, txn, reverses, unlinked), delta in zip(
        reversed(heads), reversed(moved), strict=True
    ):
        before = after - delta
        rows.append(
            (activity, player_id, currency, kind, status, source, bet, settlement, txn, reverses, unlinked)
            + (before, after, rate, now, now)
        )
        after = before
    rows.reverse()
    return rows


def on_wallet_event(event: events.WalletEvent) -> None:
    """Subscriber: write this event's outbox rows on the money transaction, kick delivery on commit."""
    if not conf.OUTBOX_ENABLED or event.kind not in HANDLED:
        return
    if event.kind == events.RESULT_CREDITED and not event.transaction_ids:
        return  # a zero unlinked result: not exported (see _plan), so nothing to read or lock
    ctx = _known_context(event) or _context(event)
    if ctx is None:
        logger.warning("no %s wallet for player %s: %s not exported", event.currency, event.player_id, event.kind)
        return
    if ctx.is_test and not conf.EXPORT_TEST_PLAYERS:
        return
    rows = _plan(event, ctx)
    if not rows:
        return
    # activity_id is deterministic, so a repeated wallet event is a no-op, not a duplicate.
    # Inside a provider callback the INSERT is held back and travels with the callback's last
    # statement (wallet.rows.write_behind).
    conn = sql_rows.db()
    sql, params = _insert_sql(len(rows)), insert_params(conn, rows)
    if not sql_rows.hold(sql, params):
        with sql_rows.cursor() as cursor:
            cursor.execute(sql, params)
    conn.on_commit(_kick(), robust=True)  # transaction.on_commit's own call, without its second connection lookup


@cache
def _kick() -> Callable[[], None]:
    from crm.tasks import kick  # Celery and the delivery side: imported on first use, not with the subscriber

    return kick

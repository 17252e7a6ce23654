"""The posting engine: every money movement goes through `post()`.

`post()` writes one ledger transaction whose entries sum to zero and moves the running
balances of the player accounts it touches, on the caller's database transaction (callers
are services wrapped in `transaction.atomic(durable=True)`). It is the only code that
changes a balance column.

Why raw SQL: this is the hot path of every wallet callback. On PostgreSQL a balance moves
with one guarded statement, ``UPDATE … SET balance = balance + %s WHERE id = %s AND
balance + %s >= 0 RETURNING balance``, which takes the row lock, checks the funds and
returns the new balance in one round trip (no read-then-write race, no SELECT FOR UPDATE).
On SQLite (the demo), transactions begin IMMEDIATE and so hold the database's only write
lock; the balance is read, computed in Python with Decimal and written back exactly,
because SQLite would do the arithmetic in binary floating point.

Lock order: player account rows are updated in ascending id order, so two transactions that
touch the same accounts cannot deadlock. House accounts are never updated (see
models.Account), so they are never locked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from wallet import limits, rows
from wallet.currencies import LEDGER_SCALE
from wallet.errors import InsufficientFunds
from wallet.models import Account, LedgerEntry

REAL = LedgerEntry.Bucket.REAL.value
BONUS = LedgerEntry.Bucket.BONUS.value
DEBT = LedgerEntry.Bucket.DEBT.value

_COLUMN = {REAL: "balance", BONUS: "bonus_balance", DEBT: "debt_balance"}
_SCALE = Decimal(1).scaleb(-LEDGER_SCALE)


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a posting. `tracked` legs are player accounts with a running balance."""

    account_id: int
    amount: Decimal
    bucket: str = REAL
    tracked: bool = False


@dataclass(frozen=True)
class Posted:
    transaction_id: int
    # (account_id, bucket) -> balance after the posting, for tracked legs
    balances: dict[tuple[int, str], Decimal] = field(default_factory=dict)
    # Real + bonus of the (single) tracked player account after the posting, read under its
    # row lock: what the CRM export reports as the balance. None when not read (several tracked
    # accounts, or SQLite); readers then query it.
    spendable: Decimal | None = None
    bet_id: int | None = None  # the bet inserted with the posting (`post(bet=…)`)
    # Tracked accounts with spending limits (Account.limited): their limit counters move too.
    limited: tuple[int, ...] = ()
    # The limit a stake passed (limits.judge), when the posting's statement moved the counters.
    limit_verdict: int | None = None
    step_id: int | None = None  # the settlement step written with the posting (`post(step=…)`), if it was


def _is_postgres() -> bool:
    return rows.db().vendor == "postgresql"


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    # SQLite hands back int or float for NUMERIC columns; str() of a float is its shortest
    # round-tripping form, exact for the ≤15 significant digits the demo ever holds.
    return Decimal(str(value)).quantize(_SCALE)


def _move_balance(cursor, leg: Leg) -> Decimal:
    """Apply one tracked leg and return the bucket's new balance, or raise InsufficientFunds."""
    column = _COLUMN[leg.bucket]
    if _is_postgres():
        if leg.bucket == DEBT:
            guard = f"{column} + %s <= 0"  # debt is zero or negative; collecting cannot overshoot
        else:
            guard = f"{column} + %s >= 0"
        cursor.execute(
            f"UPDATE wallet_account SET {column} = {column} + %s WHERE id = %s AND {guard} RETURNING {column}",
            [leg.amount, leg.account_id, leg.amount],
        )
        row = cursor.fetchone()
        if row is None:
            raise InsufficientFunds(f"account {leg.account_id} {leg.bucket} cannot move by {leg.amount}")
        return row[0]

    cursor.execute(f"SELECT {column} FROM wallet_account WHERE id = %s", [leg.account_id])
    row = cursor.fetchone()
    if row is None:
        raise InsufficientFunds(f"account {leg.account_id} does not exist")
    new = _to_decimal(row[0]) + leg.amount
    if (leg.bucket == DEBT and new > 0) or (leg.bucket != DEBT and new < 0):
        raise InsufficientFunds(f"account {leg.account_id} {leg.bucket} cannot move by {leg.amount}")
    cursor.execute(f"UPDATE wallet_account SET {column} = %s WHERE id = %s", [str(new), leg.account_id])
    return new


def post(
    *,
    kind: str,
    currency: str,
    legs: Iterable[Leg],
    player_id: int | None = None,
    provider: str = "",
    external_id: str = "",
    bet_id: int | None = None,
    reverses_id: int | None = None,
    created_by_id: int | None = None,
    reason: str = "",
    bet: rows.NewRow | None = None,
    limited: bool = False,
    step: rows.NewRow | None = None,
    step_update: tuple[str, list[object]] | None = None,
) -> Posted:
    """Write one balanced ledger transaction and move the tracked balances it touches.

    Must run inside the caller's atomic block. Raises InsufficientFunds before writing any
    row if a tracked balance would leave its range; callers that want to answer a decline
    must not have written anything on the same transaction that they intend to keep.

    `bet` (`rows.new_row(Bet(…))`): a bet to insert with the posting, which then belongs to
    it (`bet_id`); on PostgreSQL it travels in the posting's statement, and like the posting it
    is written only if the funds are there. Its id is `Posted.bet_id`.

    A betting posting (stake, payout, their reversals) on a wallet with limits also moves the
    wallet's limit counters, and a stake that would pass a limit raises LimitExceeded (the
    caller's transaction must then roll back). `limited`: the caller read `Account.limited` as
    true; on PostgreSQL the counters then move in the posting's own statement. Without the hint
    the posting finds out from the account row and moves them with one more statement.

    `step` (`rows.new_row(Settlement(…), {"transaction_id": ledger.TRANSACTION_ID})`) and
    `step_update` (`rows.update_sql(bet, …)`): a settlement step and the bet's new state, written
    with the posting (PostgreSQL, one tracked account: in its statement, `Posted.step_id`). When
    `Posted.step_id` is None they were not written: the caller writes them itself.
    """
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        raise ValueError("a posting needs at least one non-zero leg")
    total = sum((leg.amount for leg in legs), Decimal(0))
    if total != 0:
        raise ValueError(f"unbalanced posting: legs sum to {total}")

    if bet is not None and bet_id is not None:
        raise ValueError("a posting belongs to one bet: pass bet or bet_id, not both")
    header = [kind, currency, player_id, provider, external_id, bet_id, reverses_id, created_by_id, reason]
    tracked_accounts = {leg.account_id for leg in legs if leg.tracked}
    counted = kind in _COUNTED_KINDS and provider not in _NOT_BETTING
    placed = kind == "bet"
    folded = False
    if _is_postgres() and len(tracked_accounts) <= 1:
        folded = limited and counted and len(tracked_accounts) == 1
        counters = _counter_deltas(legs, next(iter(tracked_accounts)), placed) if folded else None
        posted = _post_one_statement(legs, header, bet, counters, step, step_update)
    else:
        posted = _post_statements(legs, header, bet, tracked_accounts)
    if counted and posted.limited:
        if not folded:
            _move_limit_counters(posted, legs, placed=placed)
        elif placed:
            limits.judge(posted.limit_verdict, who=f"account {posted.limited[0]}")
    return posted


# Postings that are betting, for the limit counters: a stake, a payout, and the reversal of
# either (a rollback's refund, a result taken back). Deposits, withdrawals and staff
# adjustments (and their reversals, which keep their provider) are not.
_COUNTED_KINDS = frozenset({"bet", "payout", "reversal"})
_NOT_BETTING = frozenset({"", "operator", "staff"})


def _moved(legs: list[Leg], account_id: int) -> Decimal:
    """What the posting moves on a player account, all buckets together."""
    return sum((leg.amount for leg in legs if leg.tracked and leg.account_id == account_id), Decimal(0))


def _counter_deltas(legs: list[Leg], account_id: int, placed: bool) -> tuple[str, list[object]]:
    moved = _moved(legs, account_id)
    if placed:
        return limits.counters_cte(account_id, wagered=-moved, lost=-moved, bets=1)
    return limits.counters_cte(account_id, wagered=Decimal(0), lost=-moved, bets=0)


def _move_limit_counters(posted: Posted, legs: list[Leg], *, placed: bool) -> None:
    """Add the posting to each limited account's usage; a stake is checked against the limits
    (raising LimitExceeded, which rolls the posting back with the caller's transaction)."""
    for account_id in posted.limited:
        moved = _moved(legs, account_id)
        if placed:
            limits.counters_move(
                account_id, wagered=-moved, lost=-moved, bets=1, check=True, who=f"account {account_id}"
            )
        else:
            limits.counters_move(account_id, wagered=Decimal(0), lost=-moved, bets=0, check=False)


def _post_statements(
    legs: list[Leg], header: list[object], bet: rows.NewRow | None, tracked_accounts: set[int]
) -> Posted:
    """SQLite, or several tracked accounts: one statement per step."""
    bet_id = header[5]
    balances: dict[tuple[int, str], Decimal] = {}
    with rows.cursor() as cursor:
        # Ascending account id, then bucket: the fixed lock order that rules out deadlocks.
        for leg in sorted((leg for leg in legs if leg.tracked), key=lambda g: (g.account_id, g.bucket)):
            balances[(leg.account_id, leg.bucket)] = _move_balance(cursor, leg)
        if bet is not None:
            cursor.execute(bet.sql, bet.params)
            header[5] = bet_id = cursor.fetchone()[0]

        now = rows.db().ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(
            "INSERT INTO wallet_ledgertransaction (kind, currency, player_id, provider, external_id, bet_id,"
            " reverses_id, created_by_id, reason, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            [*header, now],
        )
        transaction_id = cursor.fetchone()[0]

        values = []
        params: list[object] = []
        for leg in legs:
            values.append("(%s, %s, %s, %s, %s)")
            after = balances.get((leg.account_id, leg.bucket)) if leg.tracked else None
            params += [
                transaction_id,
                leg.account_id,
                leg.bucket,
                str(leg.amount),
                None if after is None else str(after),
            ]
        cursor.execute(
            "INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount, balance_after) VALUES "
            + ", ".join(values),
            params,
        )
        limited: tuple[int, ...] = ()
        if tracked_accounts:
            ids = sorted(tracked_accounts)
            cursor.execute(
                f"SELECT id FROM wallet_account WHERE limited AND id IN ({', '.join(['%s'] * len(ids))}) ORDER BY id",
                ids,
            )
            limited = tuple(row[0] for row in cursor.fetchall())
    return Posted(
        transaction_id=transaction_id,
        balances={k: _to_decimal(v) for k, v in balances.items()},
        bet_id=bet_id if bet is not None else None,
        limited=limited,
    )


TRANSACTION_ID = "(SELECT id FROM txn)"  # the posting's transaction id, inside its own statement


def _post_one_statement(
    legs: list[Leg],
    header: list[object],
    bet: rows.NewRow | None,
    counters: tuple[str, list[object]] | None = None,
    step: rows.NewRow | None = None,
    step_update: tuple[str, list[object]] | None = None,
) -> Posted:
    """PostgreSQL: the guarded balance move, the bet, the transaction and its entries in one
    statement.

    One round trip instead of four. The UPDATE moves every tracked bucket of the (single)
    player account at once and returns nothing if any guard fails; the bet, the transaction
    and the entries are inserted only when it returned its row, so a refusal writes nothing.
    `counters` (limits.counters_cte): the wallet's limit counters move in it too.
    """
    tracked = [leg for leg in legs if leg.tracked]
    params: list[object] = []
    ctes: list[str] = []
    if tracked:
        sets, guards, returning = [], [], []
        for leg in tracked:
            column = _COLUMN[leg.bucket]
            sets.append(f"{column} = {column} + %s::numeric")
            guards.append(f"{column} + %s::numeric {'<=' if leg.bucket == DEBT else '>='} 0")
            returning.append(column)
        params += [leg.amount for leg in tracked] + [tracked[0].account_id] + [leg.amount for leg in tracked]
        ctes.append(
            f"moved AS (UPDATE wallet_account SET {', '.join(sets)} WHERE id = %s AND {' AND '.join(guards)}"
            f" RETURNING {', '.join(returning)}, balance + bonus_balance AS spendable, limited)"
        )
        gate = "WHERE EXISTS (SELECT 1 FROM moved)"
    else:
        gate = ""
    header_values = ["%s"] * len(header)
    if bet is not None:
        ctes.append(f"bet AS ({bet.head} SELECT {bet.values} {gate} RETURNING id)")
        params += bet.params
        header_values[5] = "(SELECT id FROM bet)"  # bet_id
        header = header[:5] + header[6:]
    ctes.append(
        "txn AS (INSERT INTO wallet_ledgertransaction (kind, currency, player_id, provider, external_id, bet_id,"
        f" reverses_id, created_by_id, reason, created_at) SELECT {', '.join(header_values)}, now() {gate}"
        " RETURNING id)"
    )
    params += header
    if counters is not None:
        ctes.append(counters[0])
        params += counters[1]
    if step is not None:
        ctes.append(f"step AS ({step.head} SELECT {step.values} {gate} RETURNING id)")
        params += step.params
    if step_update is not None:
        # Unconditional like the entries: a refused posting raises and its transaction rolls back.
        ctes.append(f"step_update AS ({step_update[0]})")
        params += step_update[1]
    selects = []
    for leg in legs:
        if leg.tracked:
            after = f"(SELECT {_COLUMN[leg.bucket]} FROM moved)"
        else:
            after = "NULL::numeric"
        selects.append(f"SELECT %s::bigint, %s::varchar, %s::numeric, {after}")
        params += [leg.account_id, leg.bucket, leg.amount]
    ctes.append(
        "entries AS (INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount, balance_after)"
        f" SELECT txn.id, v.* FROM txn, ({' UNION ALL '.join(selects)}) AS v)"
    )
    select = "SELECT (SELECT id FROM txn)" + "".join(f", (SELECT {_COLUMN[leg.bucket]} FROM moved)" for leg in tracked)
    if tracked:
        select += ", (SELECT spendable FROM moved), (SELECT limited FROM moved)"
    if bet is not None:
        select += ", (SELECT id FROM bet)"
    if step is not None:
        select += ", (SELECT id FROM step)"
    if counters is not None:
        select += ", (SELECT verdict FROM lim)"
    with rows.cursor() as cursor:
        cursor.execute("WITH " + ", ".join(ctes) + " " + select, params)
        row = cursor.fetchone()
    if row[0] is None:
        account = tracked[0].account_id
        raise InsufficientFunds(
            f"account {account} cannot move by " + ", ".join(f"{g.bucket} {g.amount}" for g in tracked)
        )
    verdict = step_id = None
    if counters is not None:
        row, verdict = row[:-1], row[-1]
    if step is not None:
        row, step_id = row[:-1], row[-1]
    balances = {(leg.account_id, leg.bucket): row[i + 1] for i, leg in enumerate(tracked)}
    return Posted(
        transaction_id=row[0],
        balances=balances,
        spendable=row[len(tracked) + 1] if tracked else None,
        bet_id=row[-1] if bet is not None else None,
        limited=(tracked[0].account_id,) if tracked and row[len(tracked) + 2] else (),
        limit_verdict=verdict,
        step_id=step_id,
    )


# --- House accounts ------------------------------------------------------------------------

_house_cache: dict[tuple[str, str, str], int] = {}


def house_account_id(kind: str, currency: str, provider: str = "") -> int:
    """The id of a house account, created on first use. Cached per process: house accounts
    are never deleted (PROTECT), so an id once seen stays valid."""
    key = (kind, provider, currency)
    cached = _house_cache.get(key)
    if cached is not None:
        return cached
    account, _ = Account.objects.get_or_create(kind=kind, provider=provider, currency=currency, player=None)
    # Cache only once the row is surely committed: a row created (or first seen) inside a
    # transaction that later rolls back would leave the cache pointing at nothing.
    transaction.on_commit(lambda: _house_cache.__setitem__(key, account.pk))
    return account.pk


def clear_house_cache() -> None:
    """For tests, whose rolled-back transactions can take a cached house account with them."""
    _house_cache.clear()


def clearing_account_id(provider: str, currency: str) -> int:
    return house_account_id(Account.Kind.CLEARING, currency, provider)


def cash_account_id(currency: str) -> int:
    return house_account_id(Account.Kind.CASH, currency)


def bonus_account_id(currency: str) -> int:
    return house_account_id(Account.Kind.BONUS, currency)


def adjustment_account_id(currency: str) -> int:
    return house_account_id(Account.Kind.ADJUSTMENT, currency)

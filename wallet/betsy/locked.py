"""The first statement of a Betsy settle or unsettle (idempotency.execute_once with `key_sql`, a
preload and a check): the key, computed from the bet's history in the statement itself; the
claim and any stored answer; the bet and its wallet, both read and locked (bet, then account:
the order of every bet posting), with the bet's unsettle count and the subscribers' reads about
the bet (wallet.events.BetRead). What follows writes the step with its posting and stores the
answer with the outbox rows: three round trips, nothing read back (issue #18).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from wallet import events, rows
from wallet.betsy.answers import PROVIDER, error_renderer
from wallet.betsy.parsing import BetCall
from wallet.betsy.protocol import BetsyError, Code
from wallet.models import Bet
from wallet.selectors import WalletRef, wallet_from_row
from wallet.services import idempotency
from wallet.services.idempotency import Outcome, RequestKey, execute_once

_WALLET_COLUMNS = (
    "p.id, p.status, a.id, a.balance, a.bonus_balance, a.debt_balance, p.external_id, p.is_test,"
    " p.self_excluded_until, p.timed_out_until, p.jurisdiction, p.verification, p.date_of_birth, a.limited"
)
_WALLET_WIDTH = len(_WALLET_COLUMNS.split(","))
_ATTEMPTS = 3  # a step whose bet changed under it reads again; the last attempt goes on regardless

# The bet's fields the first statement reads: all but its selections, which neither the steps
# (settle, unsettle, rollback) nor their subscribers read (the CRM delivery reads the bet again),
# and which cost a JSON decode of the legs on every settle (with the text's transfer, ~45k
# instructions, issue #18). Deferred, as with QuerySet.defer(): reading bet.selections loads them.
BET_FIELDS = tuple(f for f in Bet._meta.concrete_fields if f.name != "selections")
_BET_NAMES = tuple(f.attname for f in BET_FIELDS)


# A settlement step's id taken from its sequence: a step that moves no money has no posting to
# travel with, and knowing its id beforehand lets it ride on the answer's statement instead of
# sending its own (postings._record_step).
_STEP_ID = "nextval(pg_get_serial_sequence('wallet_settlement', 'id'))"


@functools.cache
def preload_sql(reads: tuple[events.BetRead, ...], step_id: bool = False) -> str:
    """The bet (`BET_FIELDS`), its unsettle count, its wallet, whether the bet changed while this
    statement waited for its lock (its locked version against the statement's snapshot), and
    the subscribers' reads about the bet; with `step_id` (PostgreSQL), a new settlement step's id.
    The bet's alias is one no subscriber's SQL would use for its own tables: `{bet}` must not be
    captured by an inner alias."""
    connection = rows.db()
    bet_columns = ", ".join(f"betsy_bet.{connection.ops.quote_name(f.column)}" for f in BET_FIELDS)
    postgres = connection.vendor == "postgresql"
    changed = (
        "betsy_bet.xmin::text <> (SELECT x.xmin::text FROM wallet_bet x WHERE x.id = betsy_bet.id)"
        if postgres
        else "false"
    )
    laterals = "".join(
        f" LEFT JOIN LATERAL ({read.sql.format(bet='betsy_bet.id')}) r{i} ON true" for i, read in enumerate(reads)
    )
    return (
        f"SELECT {bet_columns}, (SELECT COUNT(*) FROM wallet_settlement s WHERE s.bet_id = betsy_bet.id"
        f" AND s.kind = 'unsettle'), {_WALLET_COLUMNS}, {changed}"
        + "".join(f", r{i}.*" for i in range(len(reads)))
        + (f", {_STEP_ID}" if step_id and postgres else "")
        + " FROM wallet_bet betsy_bet JOIN wallet_player p ON p.id = betsy_bet.player_id"
        " JOIN wallet_account a ON a.player_id = betsy_bet.player_id AND a.currency = betsy_bet.currency"
        " AND a.kind = 'player'"
        + laterals
        + " WHERE betsy_bet.provider = %s AND betsy_bet.external_id = %s"
        + (" FOR NO KEY UPDATE OF betsy_bet, a" if postgres else "")
    )


_statements: dict[bool, tuple[tuple[events.BetRead, ...], str]] = {}


def preload_statement(reads: tuple[events.BetRead, ...], step_id: bool = False) -> str:
    """`preload_sql(reads, step_id)`, kept by the identity of `reads` (events.bet_reads() returns
    the same tuple until a read is added): preload_sql's cache hashes the reads, dataclasses,
    ~2.5k instructions per settle (issue #18)."""
    kept = _statements.get(step_id)
    if kept is None or kept[0] is not reads:
        kept = _statements[step_id] = (reads, preload_sql(reads, step_id))
    return kept[1]


def bet_reads() -> tuple[events.BetRead, ...]:
    """The subscribers' reads the first statement carries: none on SQLite, which has no LATERAL
    join (the subscribers then read for themselves)."""
    return events.bet_reads() if _postgresql() else ()


@functools.cache
def _postgresql() -> bool:
    # The default database's engine is the process's for good: asked once, not per settle
    # (reading the connection is an asgiref lookup, ~11k instructions; issue #18).
    return rows.db().vendor == "postgresql"


@dataclass(frozen=True, slots=True)
class Locked:
    """What the first statement read, under the bet's and the account's row locks."""

    bet: Bet
    epoch: int  # the bet's unsettles so far
    wallet: WalletRef
    prefetched: dict[str, tuple] | None  # None: the bet changed meanwhile, subscribers read for themselves
    step_id: int | None = None  # a new settlement step's id, when the statement took one


class _Changed(Exception):
    """The bet changed while the first statement waited for its lock: what that statement read
    besides the bet (the key, the subscribers' reads) may be stale."""


def read_locked(row: tuple, call: BetCall, reads: tuple[events.BetRead, ...]) -> tuple[Locked, bool]:
    """What a row of `preload_sql` holds, and whether the bet changed while the statement waited
    for its lock (the locked rows are then their latest versions, the subscribers' reads may not be:
    they are left out)."""
    width = len(_BET_NAMES)
    bet = rows.partial(Bet, _BET_NAMES, row[:width])
    at = width + 1
    wallet = wallet_from_row(row[at : at + _WALLET_WIDTH], who=call.user_id, currency=bet.currency)
    at += _WALLET_WIDTH
    changed = bool(row[at])
    at += 1
    prefetched: dict[str, tuple] | None = {} if not changed else None
    for read in reads:
        if prefetched is not None:
            prefetched[read.name] = tuple(row[at : at + read.width])
        at += read.width
    made = _new(Locked)  # its slots set directly: the frozen dataclass's __init__ costs twice as much (issue #18)
    _set_bet(made, bet)
    _set_epoch(made, row[width])
    _set_wallet(made, wallet)
    _set_prefetched(made, prefetched)
    _set_step_id(made, row[at] if len(row) > at else None)
    return made, changed


_new = object.__new__
_set_bet, _set_epoch, _set_wallet, _set_prefetched, _set_step_id = (
    getattr(Locked, name).__set__ for name in ("bet", "epoch", "wallet", "prefetched", "step_id")
)


def check_owner(locked: Locked, call: BetCall) -> None:
    """The request names the bet's player and currency (code 5 otherwise, nothing stored)."""
    if locked.wallet.external_id != call.user_id or locked.bet.currency != call.currency:
        raise BetsyError(Code.VALIDATION, "userId/currency do not match the bet")


def _locked(row: tuple | None, call: BetCall, reads: tuple[events.BetRead, ...], last: bool) -> Locked:
    """The preloaded bet and wallet, checked against the request (nothing stored on refusal)."""
    if row is None:
        # Betsy retries a failed settle; if its bet is still being placed, a later retry succeeds.
        raise BetsyError(Code.VALIDATION, f"unknown transactionId {call.transaction_id}")
    locked, changed = read_locked(row, call, reads)
    if changed and not last:
        raise _Changed
    check_owner(locked, call)
    if locked.bet.status == Bet.Status.ROLLED_BACK:
        raise BetsyError(Code.VALIDATION, f"bet {call.transaction_id} was rolled back")
    return locked


@functools.cache
def _key(operation: str) -> RequestKey:
    """The key `execute_locked` passes: its external id is `key_sql`'s, so the key is the same for
    every step of one operation (frozen: shared, not made per callback; issue #18)."""
    return RequestKey(PROVIDER, "", operation)


def execute_locked(
    call: BetCall,
    operation: str,
    key_sql: idempotency.Preload,
    content: dict[str, object],
    apply: Callable[[Locked], Outcome],
    step_id: bool = False,
) -> tuple[idempotency.Reply, Locked | None]:
    """`execute_once` for a step on the bet `call` names, keyed (provider "betsy", `operation`) by
    `key_sql`; `apply` gets what the first statement read. Also returns that (None when the
    statement found no bet), for what the caller does after the transaction. `step_id`: the
    first statement also takes a new settlement step's id (`Locked.step_id`, PostgreSQL)."""
    reads = bet_reads()
    seen: list[Locked] = []
    attempt = 0

    def check(row: tuple | None, key: RequestKey) -> None:
        seen[:] = [_locked(row, call, reads, last=attempt == _ATTEMPTS - 1)]

    while True:
        try:
            reply = execute_once(
                key=_key(operation),
                key_sql=key_sql,
                content=content,
                apply=lambda row: apply(seen[0]),
                render_error=error_renderer(operation),
                preload=idempotency.Preload(preload_statement(reads, step_id), (PROVIDER, call.transaction_id)),
                check=check,
            )
            return reply, (seen[0] if seen else None)
        except _Changed:  # rolled back, nothing stored: read again, after the change
            attempt += 1

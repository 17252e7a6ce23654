"""Bet lifecycle events, published inside the money transaction that caused them.

Subscribers (the CRM outbox, the live monitor) write their own rows on the same database
transaction, so an event exists if and only if its money movement committed. A subscriber
must not do network I/O: queue it with `transaction.on_commit` or an outbox row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal
from typing import Any

BET_PLACED = "bet_placed"
BET_SETTLED = "bet_settled"  # first settlement
BET_RESETTLED = "bet_resettled"  # a different payout replaced the one in force
BET_UNSETTLED = "bet_unsettled"
BET_ROLLED_BACK = "bet_rolled_back"
BET_REVERSED = "bet_reversed"  # staff reversal of a settlement
RESULT_CREDITED = "result_credited"  # a payout the provider did not tie to a bet (IGPX results)
TRANSACTION_REVERSED = "transaction_reversed"  # provider rollback of an unlinked transaction


@dataclass(frozen=True)
class WalletEvent:
    kind: str
    player_id: int
    currency: str
    provider: str
    bet_id: int | None = None
    settlement_id: int | None = None
    transaction_ids: tuple[int, ...] = ()  # a tuple: immutable, so one default for every event
    # A settlement step's payout in force after and before it, when the event is one: lets a
    # subscriber decide from the event alone whether the step concerns it.
    amount: Decimal | None = None
    previous_amount: Decimal | None = None
    # What the posting already knows, so that a subscriber need not read it back (the CRM
    # export would otherwise spend a round trip on it): the player account's real + bonus
    # balance after the event, what the event's transactions moved on it, and whether the
    # player is a test player. None when unknown.
    balance_after: Decimal | None = None
    moved: Decimal | None = None
    is_test: bool | None = None
    # The rows the event is about, as the posting just wrote them (wallet.models.Bet and
    # Settlement instances; the settlement's `bet` is the same Bet): a subscriber reads them
    # here and never reads back a row its own transaction just wrote.
    bet: Any = None
    settlement: Any = None
    player_external_id: str | None = None
    # A settlement step's ledger transactions by role (the ids are also in transaction_ids),
    # and what the reversal of the payout in force moved on real + bonus: set together by
    # the settlement step (`roles_known`), so the CRM export need not classify them.
    roles_known: bool = False
    credit_id: int | None = None  # the new payout
    refund_id: int | None = None  # the stake refund (a rollback)
    payout_reversal_id: int | None = None  # the reversal of the payout in force
    moved_by_reversal: Decimal = Decimal(0)
    # Whether the bet had been unsettled before this step (None: not known; the review
    # queue then looks for an unsettle's open item itself).
    unsettled_before: bool | None = None
    # What the subscribers' BetReads returned (by name), when the provider sent them with the
    # statement that locked the bet; None: not sent, a subscriber reads for itself.
    prefetched: Mapping[str, tuple] | None = None


# Every field in order, the required ones (no default) as None until set: __dict__ then has
# the order __init__ gives it.
_EVENT_TEMPLATE = {f.name: None if f.default is MISSING else f.default for f in fields(WalletEvent)}
_EVENT_REQUIRED = frozenset(f.name for f in fields(WalletEvent) if f.default is MISSING)


def event(**values: Any) -> WalletEvent:
    """`WalletEvent(**values)` without the frozen dataclass's __init__ (an object.__setattr__ per
    field, 24 of them: a settlement step's event cost ~26k instructions that way, ~13k this way;
    issue #18). The same object, still frozen; a missing or unknown field is a TypeError, as there."""
    state = _EVENT_TEMPLATE.copy()  # a copy of a dict keeps its order and costs about nothing
    state.update(values)
    if len(state) != len(_EVENT_TEMPLATE) or not _EVENT_REQUIRED <= values.keys():
        missing = _EVENT_REQUIRED - values.keys()
        unknown = values.keys() - _EVENT_TEMPLATE.keys()
        raise TypeError(f"WalletEvent: missing {sorted(missing)}, unknown {sorted(unknown)}")
    made = _new(WalletEvent)
    _set(made, "__dict__", state)  # frozen: its own setattr refuses
    return made


_new, _set = object.__new__, object.__setattr__


@dataclass(frozen=True)
class BetRead:
    """A subscriber's one-row read of its own rows about a bet, which a provider callback sends
    with the statement that reads and locks the bet (Betsy's settle), so that the subscriber
    spends no round trip in the money transaction. `sql` is a SELECT returning one row of
    `width` columns and taking no parameters; `{bet}` in it stands for the bet's id. Only rows
    that change under the bet's row lock may be read this way (the provider checks that the
    bet did not change while it waited for the lock, or reads again)."""

    name: str
    sql: str
    width: int


_bet_reads: dict[str, BetRead] = {}
_bet_reads_now: tuple[BetRead, ...] = ()


def read_with_bet(read: BetRead) -> None:
    global _bet_reads_now
    _bet_reads[read.name] = read
    _bet_reads_now = tuple(_bet_reads.values())


def bet_reads() -> tuple[BetRead, ...]:
    """The same tuple until a read is added: Betsy's settle keeps its statement by the tuple's
    identity (wallet/betsy/locked.py `preload_statement`)."""
    return _bet_reads_now


Subscriber = Callable[[WalletEvent], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def unsubscribe(subscriber: Subscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def publish(event: WalletEvent) -> None:
    """Call every subscriber now, inside the caller's transaction; an error aborts the posting."""
    for subscriber in list(_subscribers):
        subscriber(event)

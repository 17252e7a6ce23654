"""Domain: the daily figures, computed from ledger entries (and the bets' settlement history).

A transaction belongs to the business day (REPORT_TIMEZONE) in which it was posted
(`LedgerTransaction.created_at`). The ledger is append-only, so the figures of a past day
cannot change: a late settlement or a reversal is a new transaction, on the day it is posted.

Classification of a sportsbook transaction (docs/REPORTS.md has the table):
- `bet` → stakes (and a bet counted, its player counted);
- `payout` → payouts, or a resettle / staff-reversal adjustment when its settlement step says so;
- `reversal` of a `bet` (a stake refund) → refunds;
- `reversal` of a `payout` → by its step: rollback, resettle, unsettle or staff reversal;
- `adjustment` and its reversals → staff adjustments (not part of GGR: no provider is involved).

The step of a bet's transaction is the bet's settlement with the highest `transaction_id` at or
below the transaction's id: a step posts its transactions together, under the bet's row lock,
and records the first of them as its `transaction`.

Test players (`Player.is_test`) are left out, as from the CRM export.

Brand: the bet's (`Bet.brand`, Betsy's subPartnerId); a transaction with no bet (an IGPX result,
a staff adjustment) has none. The players who bet are kept per day as `PlayerActivity` so that
weeks, months and ranges count each player once (reports.tables).

Amounts are "to the player" (a payout is positive, a payout taken back negative) except stakes
and GGR. GGR = stakes − payouts − refunds − rollbacks − resettle − unsettle − staff reversals,
which is also the net of the provider's clearing account for the day (check_reports proves it).
"""

from __future__ import annotations

import sys
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, CharField, OuterRef, Q, Subquery, Sum, Value, When
from django.utils import timezone as dj_timezone

from reports import conf
from reports.models import FIGURES
from wallet.ledger import _to_decimal
from wallet.models import Bet, LedgerEntry, LedgerTransaction, Settlement

Kind = LedgerTransaction.Kind
Step = Settlement.Kind
SPORTSBOOK_KINDS = (Kind.BET, Kind.PAYOUT, Kind.REVERSAL, Kind.ADJUSTMENT)
ZERO = Decimal(0)
STAFF = "staff"  # the provider of staff adjustments (wallet.services.backoffice)
# IGPX results do not name their bet (seed 001): its bets never close in our records, so their
# open liability is unknown: stored as NULL ("not available"), never as a made-up 0.
UNLINKED_RESULT_PROVIDERS = frozenset({"igpx"})
ANY_MONEY = ""  # PlayerActivity's money for "real or bonus"


@dataclass(frozen=True, order=True)
class Key:
    provider: str
    brand: str
    origin: str
    currency: str
    money: str


@dataclass(frozen=True, order=True)
class ActivityKey:
    """PlayerActivity's key: stakes are always origin "provider", so there is none."""

    provider: str
    brand: str
    currency: str
    money: str


def pack_players(ids: Iterable[int]) -> bytes:
    """Player ids as PlayerActivity stores them: sorted, little-endian signed 64-bit."""
    packed = array("q", sorted(ids))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack_players(data: bytes | memoryview) -> array:
    ids = array("q")
    ids.frombytes(data)
    if sys.byteorder == "big":
        ids.byteswap()
    return ids


@dataclass
class Figures:
    bets_count: int = 0
    stakes: Decimal = ZERO
    payouts: Decimal = ZERO
    refunds: Decimal = ZERO
    rollbacks: Decimal = ZERO
    resettle_adjustments: Decimal = ZERO
    unsettle_adjustments: Decimal = ZERO
    staff_reversals: Decimal = ZERO
    staff_adjustments: Decimal = ZERO
    open_liability: Decimal | None = ZERO  # None: not available (UNLINKED_RESULT_PROVIDERS)
    new_debt: Decimal = ZERO
    players: set[int] = field(default_factory=set)

    @property
    def ggr(self) -> Decimal:
        to_player = (
            self.payouts
            + self.refunds
            + self.rollbacks
            + self.resettle_adjustments
            + self.unsettle_adjustments
            + self.staff_reversals
        )
        return self.stakes - to_player

    @property
    def unique_players(self) -> int:
        return len(self.players)

    def as_row(self) -> dict[str, object]:
        row: dict[str, object] = {name: getattr(self, name) for name in FIGURES}
        row["bets_count"] = self.bets_count
        row["unique_players"] = self.unique_players
        return row

    def is_empty(self) -> bool:
        return not self.bets_count and not self.players and all(not getattr(self, f) for f in FIGURES)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The business day's [start, end) as aware datetimes (23 or 25 hours on a DST change)."""
    zone = conf.timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def business_day(moment: datetime) -> date:
    return moment.astimezone(conf.timezone()).date()


def _bucket_of(
    txn_kind: str, reverses_kind: str | None, step_kind: str | None, bet_id: int | None, provider: str
) -> str | None:
    """Which figure a transaction's player entries go to (None: not a sportsbook movement)."""
    if txn_kind == Kind.BET:
        return "stakes"
    if txn_kind == Kind.ADJUSTMENT or (txn_kind == Kind.REVERSAL and reverses_kind == Kind.ADJUSTMENT):
        # Staff adjustments are posted as provider "staff"; other adjustments (bonus grants
        # from the bonus account) are not sportsbook money.
        return "staff_adjustments" if provider == STAFF else None
    if txn_kind == Kind.PAYOUT:
        if step_kind == Step.RESETTLE:
            return "resettle_adjustments"
        if step_kind == Step.REVERSAL:
            return "staff_reversals"
        return "payouts"
    if txn_kind != Kind.REVERSAL:
        return None
    if reverses_kind == Kind.BET:
        return "staff_reversals" if step_kind == Step.REVERSAL else "refunds"
    if reverses_kind != Kind.PAYOUT:
        return None  # a deposit or withdrawal reversed: cash, not sportsbook
    if bet_id is None:
        return "rollbacks"  # an unlinked result (IGPX) rolled back
    return {
        Step.RESETTLE: "resettle_adjustments",
        Step.UNSETTLE: "unsettle_adjustments",
        Step.REVERSAL: "staff_reversals",
        Step.SETTLE: "resettle_adjustments",
    }.get(step_kind, "rollbacks")


def _entries(start: datetime, end: datetime):
    """Player entries of the sportsbook transactions posted in [start, end), with their step."""
    step = (
        Settlement.objects.filter(
            bet_id=OuterRef("transaction__bet_id"), transaction_id__lte=OuterRef("transaction_id")
        )
        .order_by("-transaction_id")
        .values("kind")[:1]
    )
    needs_step = Q(transaction__bet_id__isnull=False) & ~Q(transaction__kind=Kind.BET)
    # A lookup per reversal, not a join: a join hashed every transaction ever posted.
    reverses_kind = LedgerTransaction.objects.filter(pk=OuterRef("transaction__reverses_id")).values("kind")[:1]
    return (
        LedgerEntry.objects.filter(
            transaction__created_at__gte=start,
            transaction__created_at__lt=end,
            transaction__kind__in=SPORTSBOOK_KINDS,
            account__kind="player",
        )
        .exclude(transaction__player__is_test=True)  # test players are left out of reports
        .annotate(
            step_kind=Case(When(needs_step, then=Subquery(step)), default=Value(None), output_field=CharField()),
            reverses_kind=Case(
                When(transaction__reverses_id__isnull=False, then=Subquery(reverses_kind)),
                default=Value(None),
                output_field=CharField(),
            ),
        )
        .values_list(
            "transaction_id",
            "transaction__kind",
            "transaction__provider",
            "transaction__currency",
            "transaction__player_id",
            "transaction__bet_id",
            "transaction__bet__brand",
            "reverses_kind",
            "step_kind",
            "bucket",
            "amount",
        )
        .order_by()
    )


def _open_liability(end: datetime) -> Iterable[tuple[str, str, str, Decimal, Decimal]]:
    """(provider, brand, currency, real, bonus) stakes of bets still open at `end`.

    Candidates are bets open now plus bets with a step after `end` (the rest were settled or
    rolled back before `end` and stay so); each candidate's state at `end` is its last step
    before `end` that changed its status."""
    later = Settlement.objects.filter(created_at__gte=end, bet_id__isnull=False).values("bet_id")
    state_at_end = (
        Settlement.objects.filter(bet_id=OuterRef("pk"), created_at__lt=end)
        .exclude(status_after="")
        .order_by("-id")
        .values("status_after")[:1]
    )
    bets = (
        Bet.objects.filter(placed_at__lt=end)
        .exclude(provider__in=UNLINKED_RESULT_PROVIDERS)
        .exclude(player__is_test=True)
        .filter(Q(status=Bet.Status.OPEN) | Q(pk__in=later))
        .annotate(state=Subquery(state_at_end))
        .filter(Q(state__isnull=True) | Q(state=Bet.Status.OPEN))
        .order_by()
    )
    if connection.vendor == "postgresql":
        # Summed by the database (exact NUMERIC): the candidates of an old day are many.
        return bets.values_list("provider", "brand", "currency").annotate(Sum("stake_real"), Sum("stake_bonus"))
    # SQLite sums NUMERIC as binary floating point: sum in Python.
    sums: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for provider, brand, currency, real, bonus in bets.values_list(
        "provider", "brand", "currency", "stake_real", "stake_bonus"
    ):
        sums[(provider, brand, currency)][0] += _to_decimal(real)
        sums[(provider, brand, currency)][1] += _to_decimal(bonus)
    return [(p, br, c, r, b) for (p, br, c), (r, b) in sums.items()]


@dataclass
class DayResult:
    day: date
    figures: dict[Key, Figures]
    last_transaction_id: int
    transactions: int

    @property
    def activity(self) -> dict[ActivityKey, set[int]]:
        """The players who placed a bet, per PlayerActivity key (stakes rows only have them),
        and per (provider, brand, currency) with money ANY_MONEY: those of either money."""
        out: dict[ActivityKey, set[int]] = {}
        for k, row in self.figures.items():
            if row.players:
                out[ActivityKey(k.provider, k.brand, k.currency, k.money)] = row.players
                either = out.setdefault(ActivityKey(k.provider, k.brand, k.currency, ANY_MONEY), set())
                either |= row.players
        return out


@contextmanager
def _planned_for_reports() -> Iterator[None]:
    """PostgreSQL's JIT compiles these queries for longer than they run (measured: 1.5 s of
    1.8 s for the open-liability query at 200,000 bets): off, for this transaction only."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


def compute_day(day: date, *, now: datetime | None = None) -> DayResult:
    """The figures of one business day, from the ledger (up to `now` for the current day)."""
    with _planned_for_reports():
        return _compute_day(day, now=now)


def _compute_day(day: date, *, now: datetime | None) -> DayResult:
    start, end = day_bounds(day)
    now = now or dj_timezone.now()
    end_seen = min(end, now)
    figures: dict[Key, Figures] = defaultdict(Figures)
    bets_seen: set[tuple[Key, int]] = set()
    txns: set[int] = set()
    for txn_id, kind, provider, currency, player_id, bet_id, brand, rev_kind, step_kind, bucket, amount in _entries(
        start, end_seen
    ):
        name = _bucket_of(kind, rev_kind, step_kind, bet_id, provider)
        if name is None:
            continue
        txns.add(txn_id)
        amount = _to_decimal(amount)
        money = "bonus" if bucket == LedgerEntry.Bucket.BONUS else "real"
        staff = name in ("staff_reversals", "staff_adjustments")
        key = Key(provider, brand or "", "staff" if staff else "provider", currency, money)
        row = figures[key]
        if bucket == LedgerEntry.Bucket.DEBT and amount < 0:
            row.new_debt -= amount
        if name == "stakes":
            row.stakes -= amount
            if (key, txn_id) not in bets_seen:
                bets_seen.add((key, txn_id))
                row.bets_count += 1
            row.players.add(player_id)
        else:
            setattr(row, name, getattr(row, name) + amount)
    for provider, brand, currency, real, bonus in _open_liability(end_seen):
        for money, stake in (("real", real), ("bonus", bonus)):
            stake = _to_decimal(stake)
            if stake:
                row = figures[Key(provider, brand, "provider", currency, money)]
                row.open_liability = (row.open_liability or ZERO) + stake
    kept = {key: row for key, row in figures.items() if not row.is_empty()}
    for key, row in kept.items():
        if key.provider in UNLINKED_RESULT_PROVIDERS:
            row.open_liability = None
    return DayResult(day, kept, max(txns, default=0), len(txns))


# --- Independent identities (check_reports) -------------------------------------------------


def ledger_identities(day: date, *, now: datetime | None = None) -> dict[tuple[str, str, str], Decimal]:
    """Sums read straight from entries, with no classification: what the figures must add up to.

    ("ggr", provider, currency): the net of the provider's clearing account;
    ("staff_adjustments", "staff", currency): minus the net of the adjustment account;
    ("stakes", provider, currency): minus the player entries of `bet` transactions;
    ("new_debt", provider, currency): minus the negative debt entries."""
    with _planned_for_reports():
        return _identities(day, now=now)


def _identities(day: date, *, now: datetime | None) -> dict[tuple[str, str, str], Decimal]:
    start, end = day_bounds(day)
    end = min(end, now or dj_timezone.now())
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    rows = (
        LedgerEntry.objects.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
        .exclude(transaction__player__is_test=True)
        .values_list(
            "account__kind",
            "account__provider",
            "transaction__provider",
            "transaction__kind",
            "transaction__reverses__kind",
            "transaction__currency",
            "bucket",
            "amount",
        )
        .order_by()
    )
    cash = (Kind.DEPOSIT, Kind.WITHDRAWAL)
    for account_kind, account_provider, provider, kind, rev_kind, currency, bucket, amount in rows.iterator(
        chunk_size=10000
    ):
        amount = _to_decimal(amount)
        if account_kind == "clearing":
            sums[("ggr", account_provider, currency)] += amount
        elif account_kind == "adjustment":
            sums[("staff_adjustments", "staff", currency)] -= amount
        elif account_kind == "player":
            if kind == Kind.BET:
                sums[("stakes", provider, currency)] -= amount
            sportsbook = kind in SPORTSBOOK_KINDS and rev_kind not in cash
            if bucket == LedgerEntry.Bucket.DEBT and amount < 0 and sportsbook:
                sums[("new_debt", provider, currency)] -= amount
    return {k: v for k, v in sums.items() if v != 0}

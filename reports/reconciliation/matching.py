"""Domain: our records of a provider's transactions, and the comparison with theirs.

Our record of a provider transaction, keyed by (provider transaction id, type class):
- a bet: its stake (`Bet.external_id`);
- a settlement step, by the step's external id: settle and resettle (the payout in force after
  it; several resettles of one id collapse to the last), unsettle (the payout withdrawn), rollback
  (the stake refunded; for an unlinked IGPX result, the payout taken back).
Staff reversals are ours alone and never in a provider's file.

Type class: settle and resettle are one class (a provider may call both "settle"); a file line
and our record of the same id in different classes are a type difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Value
from django.db.models.functions import Coalesce

from reports.models import ReconciliationDifference as Diff
from reports.reconciliation.csvfile import TheirLine
from wallet.models import Bet, Settlement

CLASS = {"bet": "bet", "settle": "settle", "resettle": "settle", "unsettle": "unsettle", "rollback": "rollback"}
_STEP_TYPE = {
    Settlement.Kind.SETTLE: "settle",
    Settlement.Kind.RESULT: "settle",
    Settlement.Kind.RESETTLE: "resettle",
    Settlement.Kind.UNSETTLE: "unsettle",
    Settlement.Kind.ROLLBACK: "rollback",
}
CHUNK = 5000


@dataclass
class OurRecord:
    transaction_id: str
    type: str
    player: str
    currency: str
    amount: Decimal
    in_period: bool


def _bets(provider: str, **where) -> Iterator[tuple]:
    return (
        Bet.objects.filter(provider=provider, **where)
        .values_list("external_id", "player__external_id", "currency", "stake")
        .order_by()
        .iterator(chunk_size=CHUNK)
    )


def _steps(provider: str, **where) -> Iterator[tuple]:
    # Only IGPX posts results without a bet; a lost one moves no money, so has no transaction.
    return (
        Settlement.objects.annotate(
            prov=Coalesce(F("bet__provider"), F("transaction__provider"), Value("igpx")),
            cur=Coalesce(F("bet__currency"), F("transaction__currency"), Value("")),
        )
        .filter(prov=provider, kind__in=list(_STEP_TYPE), **where)
        .exclude(external_id="")
        .values_list("external_id", "kind", "player__external_id", "cur", "amount", "previous_amount", "bet__stake")
        .order_by("id")
        .iterator(chunk_size=CHUNK)
    )


def our_records(provider: str, start: datetime, end: datetime, ids: Iterable[str] | None = None) -> dict:
    """Our records in [start, end), or (ids given) those ids whenever they were posted."""
    records: dict[tuple[str, str], OurRecord] = {}
    if ids is None:
        bet_where: list[dict] = [{"placed_at__gte": start, "placed_at__lt": end}]
        step_where: list[dict] = [{"created_at__gte": start, "created_at__lt": end}]
    else:
        chunks = _chunks(list(ids))
        bet_where = [{"external_id__in": c} for c in chunks]
        step_where = [{"external_id__in": c} for c in chunks]
    in_period = ids is None
    for where in bet_where:
        for ext, player, currency, stake in _bets(provider, **where):
            records[(ext, "bet")] = OurRecord(ext, "bet", player, currency, stake, in_period)
    for where in step_where:
        for ext, kind, player, currency, amount, previous, stake in _steps(provider, **where):
            our_type = _STEP_TYPE[kind]
            if our_type == "unsettle":
                value = previous
            elif our_type == "rollback":
                value = stake if stake is not None else previous
            else:
                value = amount
            # Later steps of one id and class replace earlier ones: the amount in force.
            records[(ext, CLASS[our_type])] = OurRecord(ext, our_type, player, currency, value, in_period)
    return records


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


@dataclass
class Outcome:
    matched: int
    differences: list[Diff]


def _diff(kind: str, line: TheirLine | None, ours: OurRecord | None) -> Diff:
    return Diff(
        kind=kind,
        transaction_id=(line.transaction_id if line else ours.transaction_id),  # type: ignore[union-attr]
        line=line.line if line else None,
        player=(line.player if line else ours.player),  # type: ignore[union-attr]
        their_type=line.raw_type if line else "",
        our_type=ours.type if ours else "",
        their_currency=line.currency if line else "",
        our_currency=ours.currency if ours else "",
        their_amount=line.amount if line else None,
        our_amount=ours.amount if ours else None,
    )


class Matcher:
    """Feed the file's lines one by one (`add`), then `finish` with a lookup for stray ids."""

    def __init__(self, ours: dict[tuple[str, str], OurRecord]) -> None:
        self.ours = ours
        self.matched = 0
        self.diffs: list[Diff] = []
        self.unmatched: list[TheirLine] = []

    def add(self, line: TheirLine) -> None:
        record = self.ours.pop((line.transaction_id, CLASS[line.type]), None)
        if record is None:
            self.unmatched.append(line)
        else:
            self._compare(line, record)

    def _compare(self, line: TheirLine, record: OurRecord) -> None:
        # An IGPX loss moves nothing and names no bet: we hold no currency for it ("").
        if record.currency and line.currency != record.currency:
            self.diffs.append(_diff(Diff.Kind.CURRENCY, line, record))
        elif line.amount != record.amount:
            self.diffs.append(_diff(Diff.Kind.AMOUNT, line, record))
        else:
            self.matched += 1

    def finish(self, lookup) -> Outcome:
        """`lookup(ids)` returns our records of those ids from outside the period."""
        if self.unmatched:
            for key, record in lookup({line.transaction_id for line in self.unmatched}).items():
                self.ours.setdefault(key, record)
        by_id: dict[str, list[tuple[str, str]]] = {}
        for key in self.ours:
            by_id.setdefault(key[0], []).append(key)
        for line in self.unmatched:
            record = self.ours.pop((line.transaction_id, CLASS[line.type]), None)
            if record is not None:
                self._compare(line, record)
                continue
            others = [k for k in by_id.get(line.transaction_id, []) if k in self.ours]
            if others:
                self.diffs.append(_diff(Diff.Kind.TYPE, line, self.ours.pop(others[0])))
            else:
                self.diffs.append(_diff(Diff.Kind.MISSING_OURS, line, None))
        for record in self.ours.values():
            if record.in_period:
                self.diffs.append(_diff(Diff.Kind.MISSING_THEIRS, None, record))
        return Outcome(self.matched, self.diffs)

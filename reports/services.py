"""Services: keep the stored rollups, prove them against the ledger.

Convention (docs/REPORTS.md): figures belong to the day a ledger transaction was posted. A
closed day (ended more than conf.CLOSE_AFTER_MINUTES ago and computed since) is final: a
recomputation that would change it is refused unless forced, and a forced rewrite is audited.
Since the ledger is append-only, a closed day only changes if someone rewrote the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from reports import conf
from reports.models import COUNTS, FIGURES, DailyRollup, PlayerActivity, RollupDay
from reports.rollups import (
    ANY_MONEY,
    ActivityKey,
    Figures,
    Key,
    business_day,
    compute_day,
    day_bounds,
    ledger_identities,
    pack_players,
    unpack_players,
)
from wallet.services.audit import audit_record


class ClosedDayChanged(Exception):
    """A closed day's figures would change: the ledger was altered after the day closed."""


def _stored(day: date) -> dict[Key, dict[str, object]]:
    names = (*FIGURES, *COUNTS)
    out: dict[Key, dict[str, object]] = {}
    for row in DailyRollup.objects.filter(day=day).values("provider", "brand", "origin", "currency", "money", *names):
        key = Key(row.pop("provider"), row.pop("brand"), row.pop("origin"), row.pop("currency"), row.pop("money"))
        out[key] = {name: row[name] for name in names}
    return out


def _stored_activity(day: date) -> dict[ActivityKey, bytes]:
    rows = PlayerActivity.objects.filter(day=day).values_list("provider", "brand", "currency", "money", "players")
    return {ActivityKey(p, b, c, m): bytes(players) for p, b, c, m, players in rows}


def _label(key: Key | ActivityKey) -> str:
    origin = f"/{key.origin}" if isinstance(key, Key) else ""
    return f"{key.provider}/{key.brand or '-'}{origin}/{key.currency}/{key.money or 'any'}"


def _same(have: object, want: object) -> bool:
    if have is None or want is None:  # open liability "not available" is NULL, never 0
        return have is None and want is None
    return Decimal(have) == Decimal(want)  # type: ignore[arg-type]


def differences(stored: dict[Key, dict[str, object]], computed: dict[Key, Figures]) -> list[str]:
    """Every figure that differs, exactly (NUMERIC(30, 8): finer than any currency's cent)."""
    problems: list[str] = []
    for key in sorted(set(stored) | set(computed)):
        want = computed[key].as_row() if key in computed else None
        have = stored.get(key)
        label = _label(key)
        if want is None:
            problems.append(f"{label}: stored but the ledger has nothing for it")
            continue
        if have is None:
            problems.append(f"{label}: missing (the ledger has ggr {want['ggr']}, stakes {want['stakes']})")
            continue
        for name, value in want.items():
            if not _same(have[name], value):
                problems.append(f"{label} {name}: stored {have[name]}, ledger {value}")
    return problems


def activity_differences(stored: dict[ActivityKey, bytes], computed: dict[ActivityKey, set[int]]) -> list[str]:
    """Every PlayerActivity key whose players differ from the ledger's, naming a few of them."""
    problems: list[str] = []
    for key in sorted(set(stored) | set(computed)):
        have = set(unpack_players(stored[key])) if key in stored else set()
        want = computed.get(key, set())
        if key in stored and pack_players(have) != stored[key]:
            problems.append(f"activity {_label(key)}: players not stored sorted and unique")
        elif have != want:
            extra, missing = sorted(have - want)[:5], sorted(want - have)[:5]
            problems.append(
                f"activity {_label(key)}: {len(have)} players stored, {len(want)} in the ledger"
                f" (stored only: {extra}, ledger only: {missing})"
            )
    return problems


def _replace(model: type[DailyRollup] | type[PlayerActivity], day: date, rows: list) -> None:
    model.objects.filter(day=day).delete()
    model.objects.bulk_create(rows)


@dataclass(frozen=True)
class Stored:
    day: date
    rows: int
    closed: bool
    changed: bool


@transaction.atomic
def rollup_store(day: date, *, now: datetime | None = None, force: bool = False, actor_id: int | None = None) -> Stored:
    """Recompute one business day and store it. A closed day is never silently rewritten."""
    now = now or timezone.now()
    result = compute_day(day, now=now)
    marker = RollupDay.objects.select_for_update().filter(day=day).first()
    stored_activity = _stored_activity(day)
    activity = result.activity
    activity_changes = activity_differences(stored_activity, activity)
    changes = differences(_stored(day), result.figures)
    # A day computed before PlayerActivity existed has none: filling it in changes no figure.
    if stored_activity or not activity:
        changes += activity_changes
    if marker is not None and marker.closed and changes:
        if not force:
            raise ClosedDayChanged(
                f"{day} is closed and its figures would change ({len(changes)} differences, first: {changes[0]});"
                " the ledger was altered after the day closed. Investigate, then rebuild with --force."
            )
        audit_record(
            actor_id=actor_id,
            action="reports.rewrite_closed_day",
            obj=marker,
            reason="forced rebuild of a closed day",
            data={"day": day.isoformat(), "differences": changes[:50]},
        )
    if changes:
        _replace(DailyRollup, day, [DailyRollup(day=day, **asdict(k), **f.as_row()) for k, f in result.figures.items()])
    if activity_changes:
        _replace(
            PlayerActivity,
            day,
            [PlayerActivity(day=day, **asdict(k), players=pack_players(ids)) for k, ids in activity.items()],
        )
    _, end = day_bounds(day)
    closed = now >= end + timedelta(minutes=conf.CLOSE_AFTER_MINUTES)
    RollupDay.objects.update_or_create(
        day=day,
        defaults={
            "closed": closed,
            "computed_at": now,
            "last_transaction_id": result.last_transaction_id,
            "transactions": result.transactions,
        },
    )
    return Stored(day, len(result.figures), closed, bool(changes))


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def rollups_rebuild(
    first: date, last: date, *, force: bool = False, progress: Callable[[Stored], None] | None = None
) -> list[Stored]:
    done = []
    for day in days_between(first, last):
        stored = rollup_store(day, force=force)
        done.append(stored)
        if progress:
            progress(stored)
    return done


def rollups_refresh(*, now: datetime | None = None) -> list[Stored]:
    """The beat job: today so far, and every earlier day not yet closed (normally yesterday)."""
    now = now or timezone.now()
    today = business_day(now)
    days = {today}
    days |= set(RollupDay.objects.filter(closed=False, day__lt=today).values_list("day", flat=True))
    yesterday = today - timedelta(days=1)
    if not RollupDay.objects.filter(day=yesterday, closed=True).exists():
        days.add(yesterday)
    return [rollup_store(day, now=now) for day in sorted(days)]


@dataclass(frozen=True)
class CheckResult:
    day: date
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def rollups_check(day: date, *, now: datetime | None = None) -> CheckResult:
    """Recompute the day from the ledger and compare with what is stored; then check the stored
    figures against sums read straight from entries (no classification involved)."""
    now = now or timezone.now()
    stored = _stored(day)
    result = compute_day(day, now=now)
    problems = differences(stored, result.figures)
    problems += activity_differences(_stored_activity(day), result.activity)
    # The activity is the rollup's unique players, player by player: the two must agree.
    counts: dict[ActivityKey, int] = defaultdict(int)
    for key, row in stored.items():
        counts[ActivityKey(key.provider, key.brand, key.currency, key.money)] += int(row["unique_players"])  # type: ignore[call-overload]
    # (Money ANY_MONEY has no rollup row: the ledger comparison above covers it.)
    sizes = {key: len(packed) // 8 for key, packed in _stored_activity(day).items() if key.money != ANY_MONEY}
    for key in sorted(set(sizes) | {k for k, n in counts.items() if n}):
        if counts.get(key, 0) != sizes.get(key, 0):
            problems.append(
                f"activity {_label(key)}: {sizes.get(key, 0)} players stored, the rollup says {counts.get(key, 0)}"
            )
    totals: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for key, row in stored.items():
        totals[("ggr", key.provider, key.currency)] += Decimal(row["ggr"])  # type: ignore[arg-type]
        totals[("stakes", key.provider, key.currency)] += Decimal(row["stakes"])  # type: ignore[arg-type]
        totals[("new_debt", key.provider, key.currency)] += Decimal(row["new_debt"])  # type: ignore[arg-type]
        totals[("staff_adjustments", "staff", key.currency)] += Decimal(row["staff_adjustments"])  # type: ignore[arg-type]
    expected = ledger_identities(day, now=now)
    for ident in sorted(set(expected) | {k for k, v in totals.items() if v != 0}):
        if totals.get(ident, Decimal(0)) != expected.get(ident, Decimal(0)):
            name, provider, currency = ident
            problems.append(
                f"{provider}/{currency} {name}: stored rows sum to {totals.get(ident, 0)}, ledger entries to "
                f"{expected.get(ident, 0)}"
            )
    return CheckResult(day, problems)

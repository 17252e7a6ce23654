"""The book's exposure: our liability on open orders, counted per outcome, per event and in total.

An order's risk (what we pay if the bettor wins) is reserved at confirmation against:
- the total limit, once;
- each distinct event (UOF urn) among its legs;
- each distinct outcome among its legs.
Reservations are released (refund, not booked) or realised (settled). Confirmations take the
currency's `BookLock` row first, so the check and the reservation are one serialised step.

The limits are Risk's `ExposureLimit` rows (parlays.services.limits), else the environment's
PROPHETX_MAX_EXPOSURE_* defaults. A confirmation reads the rows of its keys under the book lock,
so a changed limit decides the next confirmation; the quote path reads them with each snapshot
refresh (the listener's upkeep, every few seconds), never per RFQ.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from parlays.conf import ParlaySettings
from parlays.models import BookLock, ExposureLimit, ExposureReservation, Order

TOTAL_KEY = "all"
Scope = ExposureReservation.Scope
State = ExposureReservation.State


@dataclass(frozen=True, slots=True)
class LegKeys:
    event_urn: str
    outcome_key: str


def exposure_keys(legs: Iterable[LegKeys]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = [(Scope.TOTAL.value, TOTAL_KEY)]
    for leg in legs:
        for key in ((Scope.EVENT.value, leg.event_urn), (Scope.OUTCOME.value, leg.outcome_key)):
            if key not in keys:
                keys.append(key)
    return keys


def environment_limits(settings: ParlaySettings) -> dict[str, Decimal]:
    """Each scope's default when no blank-key `ExposureLimit` row replaces it."""
    return {
        Scope.TOTAL.value: settings.max_exposure_total,
        Scope.EVENT.value: settings.max_exposure_event,
        Scope.OUTCOME.value: settings.max_exposure_outcome,
    }


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force for the book's currency: a row for the key, else the scope's default
    (a blank-key row, else the environment)."""

    defaults: Mapping[str, Decimal]
    overrides: Mapping[tuple[str, str], Decimal]

    def limit(self, scope: str, key: str = "") -> Decimal:
        return self.overrides.get((scope, key), self.defaults[scope])


# Bumped (after commit) by every limit change made in this process, so a snapshot in the same
# process reloads at once; other processes see the change at their next refresh.
_generation = 0


def limits_changed() -> None:
    global _generation
    _generation += 1


def limits_generation() -> int:
    return _generation


def load_limits(settings: ParlaySettings, keys: Sequence[tuple[str, str]] | None = None) -> Limits:
    """The limits in force (one query); with `keys`, only the rows that can apply to them."""
    rows = ExposureLimit.objects.filter(currency=settings.currency)
    if keys is not None:
        rows = rows.filter(key__in={"", *(key for _, key in keys)})
    defaults = environment_limits(settings)
    overrides: dict[tuple[str, str], Decimal] = {}
    for scope, key, amount in rows.values_list("scope", "key", "amount"):
        if key:
            overrides[(scope, key)] = amount
        else:
            defaults[scope] = amount
    return Limits(defaults, overrides)


def limit_for(scope: str, settings: ParlaySettings, key: str = "", *, limits: Limits | None = None) -> Decimal:
    """The limit on `key` of `scope` (the scope's default for a blank key); reads the database
    unless `limits` is given."""
    if limits is None:
        limits = load_limits(settings, [(scope, key)])
    return limits.limit(scope, key)


def headroom(keys: Sequence[tuple[str, str]], current: dict[tuple[str, str], Decimal], limits: Limits) -> Decimal:
    """The largest extra risk every limit still allows (pure)."""
    room = min(limits.limit(scope, key) - current.get((scope, key), Decimal(0)) for scope, key in keys)
    return max(room, Decimal(0))


def open_exposure(keys: Sequence[tuple[str, str]] | None = None) -> dict[tuple[str, str], Decimal]:
    rows = ExposureReservation.objects.filter(state=State.RESERVED)
    if keys is not None:
        rows = rows.filter(key__in=[key for _, key in keys])
    totals = rows.values("scope", "key").annotate(total=Sum("amount"))
    result = {(row["scope"], row["key"]): row["total"] for row in totals}
    if keys is not None:
        wanted = set(keys)
        result = {k: v for k, v in result.items() if k in wanted}
    return result


def lock_book(currency: str) -> None:
    """Serialise confirmations for a currency (call inside the confirmation's transaction)."""
    BookLock.objects.get_or_create(currency=currency)
    BookLock.objects.select_for_update().get(currency=currency)


def reserve(order: Order, keys: Sequence[tuple[str, str]], amount: Decimal) -> None:
    ExposureReservation.objects.bulk_create(
        [ExposureReservation(order=order, scope=scope, key=key, amount=amount) for scope, key in keys]
    )


def close(order: Order, state: str) -> int:
    """Release or realise every open reservation of `order`; returns how many were open."""
    return ExposureReservation.objects.filter(order=order, state=State.RESERVED).update(
        state=state, closed_at=timezone.now()
    )


def resize(order: Order, amount: Decimal) -> None:
    """Re-reserve an order at a new risk (ProphetX finalized a different size): old rows released,
    new rows reserved on the same keys, so the history shows both."""
    keys = list(
        ExposureReservation.objects.filter(order=order, state=State.RESERVED).values_list("scope", "key").distinct()
    )
    if not keys:
        return
    close(order, State.RELEASED)
    reserve(order, keys, amount)


def book_totals() -> dict[str, Decimal]:
    reserved = ExposureReservation.objects.filter(state=State.RESERVED, scope=Scope.TOTAL).aggregate(s=Sum("amount"))[
        "s"
    ]
    return {"open_risk": reserved or Decimal(0)}


class ExposureView:
    """A snapshot of open exposure and of the limits for the quote hot path, refreshed at most
    every `ttl` seconds (two queries: one GROUP BY, one read of the limits), so quoting costs no
    database round trip per RFQ. A limit changed in this process forces the next refresh at once.
    Confirmations always check against the database under the book lock; the snapshot only
    shapes max_risk."""

    def __init__(self, settings: ParlaySettings, ttl: float = 2.0) -> None:
        self.settings = settings
        self.ttl = ttl
        self._state: tuple[dict[tuple[str, str], Decimal], Limits] = ({}, Limits(environment_limits(settings), {}))
        self._loaded_at = 0.0  # loads on first use
        self._generation = limits_generation()
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    def refresh(self) -> None:
        """Reload the snapshot (the listener calls this in the background and after each accept)."""
        generation = limits_generation()  # read first: a change committed meanwhile forces another
        state = (open_exposure(), load_limits(self.settings))
        with self._lock:
            self._state, self._loaded_at, self._generation = state, time.monotonic(), generation

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self.ttl or self._generation != limits_generation()

    def _current(self) -> tuple[dict[tuple[str, str], Decimal], Limits]:
        # Only when nothing refreshed it for `ttl` seconds (or a limit changed here) does the hot
        # path pay for the queries, and then one quote thread does while the others wait for it.
        if self._stale():
            with self._refreshing:
                if self._stale():
                    self.refresh()
        return self._state

    def risk_cap(self, legs: Iterable[LegKeys]) -> Decimal:
        current, limits = self._current()
        return headroom(exposure_keys(legs), current, limits)

"""Exposure limits, managed by Risk: set or remove a limit on the book's liability.

A row with a blank key replaces a scope's environment default (PROPHETX_MAX_EXPOSURE_*); a row
with a key sets the limit of one event (its UOF urn) or one outcome (`urn/market/specifiers/
outcome`, the key its reservations carry). Amounts are in the book's currency
(PROPHETX_CURRENCY), at that currency's precision. Only Risk and Admin may change them (the
permissions are `parlays.change_exposurelimit` and `parlays.delete_exposurelimit`); a refusal is
audited, and every change writes its audit row in the change's own transaction.

How the book reads them is in parlays.services.exposure (`load_limits`, `ExposureView`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from parlays import conf
from parlays.models import ExposureLimit, ExposureReservation
from parlays.prices import canonical_specifiers
from parlays.services import exposure
from wallet import money
from wallet.errors import InvalidRequest
from wallet.permissions import audited_refusals, reason_required, require
from wallet.services.audit import audit_record

CHANGE = "parlays.change_exposurelimit"
REMOVE = "parlays.delete_exposurelimit"
Scope = ExposureReservation.Scope
# A UOF event urn, as the feed writes it (feeds.protocol.messages.EVENT_URN).
EVENT_URN = re.compile(r"^[A-Za-z0-9_]+:[A-Za-z0-9_]+:\d+$")
OUTCOME_KEY = re.compile(r"^(?P<urn>[^/]+)/(?P<market>\d+)/(?P<specifiers>[^/]*)/(?P<outcome>[^/\s]+)$")
ENVIRONMENT = {
    Scope.TOTAL.value: "PROPHETX_MAX_EXPOSURE_TOTAL",
    Scope.EVENT.value: "PROPHETX_MAX_EXPOSURE_EVENT",
    Scope.OUTCOME.value: "PROPHETX_MAX_EXPOSURE_OUTCOME",
}
KEY_HELP = {
    Scope.TOTAL.value: "blank (the book has one total)",
    Scope.EVENT.value: "blank for every event, or a UOF event urn such as sr:match:43000001",
    Scope.OUTCOME.value: "blank for every outcome, or urn/market/specifiers/outcome such as sr:match:43000001/18/total=2.5/12",
}


def parse_key(scope: str, key: Any) -> str:
    """The key in the form reservations carry (specifiers sorted), or InvalidRequest."""
    if scope not in Scope.values:
        raise InvalidRequest(f"scope must be one of {', '.join(Scope.values)}")
    if not isinstance(key, str):
        raise InvalidRequest("key must be text")
    key = key.strip()
    if not key:
        return ""
    if len(key) > 400:
        raise InvalidRequest("key is longer than 400 characters")
    if scope == Scope.TOTAL:
        raise InvalidRequest("the total limit has no key: leave it blank")
    if scope == Scope.EVENT:
        if not EVENT_URN.match(key):
            raise InvalidRequest(f"an event key is a UOF urn such as sr:match:43000001, not {key!r}")
        return key
    match = OUTCOME_KEY.match(key)
    if match is None or not EVENT_URN.match(match["urn"]):
        raise InvalidRequest(f"an outcome key is urn/market/specifiers/outcome ({KEY_HELP[scope]}), not {key!r}")
    try:
        specifiers = canonical_specifiers(match["specifiers"])
    except ValueError as error:
        raise InvalidRequest(f"outcome key: {error}") from None
    return f"{match['urn']}/{int(match['market'])}/{specifiers}/{match['outcome']}"


@audited_refusals("exposure_limit.set", data_keys=("scope", "key", "amount"))
@transaction.atomic
def set_exposure_limit(*, actor, scope: str, key: str, amount: Decimal | str | int, reason: str) -> ExposureLimit:
    """Create or change the limit on (scope, key) in the book's currency."""
    require(actor, CHANGE)
    currency = conf.get().currency
    key = parse_key(scope, key)
    value = money.parse_amount(amount, currency, allow_zero=True, field="amount")
    reason = reason_required(reason)
    row = ExposureLimit.objects.select_for_update().filter(currency=currency, scope=scope, key=key).first()
    previous = None if row is None else row.amount
    if row is None:
        row = ExposureLimit(currency=currency, scope=scope, key=key)
    row.amount, row.reason, row.updated_by, row.updated_at = value, reason, actor, timezone.now()
    row.save()
    audit_record(
        actor_id=actor.pk,
        action="exposure_limit.set",
        obj=row,
        reason=reason,
        data={
            "scope": scope,
            "key": key,
            "currency": currency,
            "amount": money.format_amount(value, currency),
            "previous": None if previous is None else money.format_amount(previous, currency),
        },
    )
    transaction.on_commit(exposure.limits_changed)
    return row


@audited_refusals("exposure_limit.remove", data_keys=("scope", "key"))
@transaction.atomic
def remove_exposure_limit(*, actor, scope: str, key: str, reason: str, currency: str | None = None) -> None:
    """Remove the limit row on (scope, key): the key falls back to the scope's default, a
    default row to the environment's. `currency` defaults to the book's (a row left from an
    earlier PROPHETX_CURRENCY can be removed by naming it)."""
    require(actor, REMOVE)
    currency = currency or conf.get().currency
    key = parse_key(scope, key)
    reason = reason_required(reason)
    row = ExposureLimit.objects.select_for_update().filter(currency=currency, scope=scope, key=key).first()
    if row is None:
        raise InvalidRequest(f"no {scope} limit {key or '(default)'} in {currency} to remove")
    audit_record(
        actor_id=actor.pk,
        action="exposure_limit.remove",
        obj=row,
        reason=reason,
        data={"scope": scope, "key": key, "currency": currency, "previous": money.format_amount(row.amount, currency)},
    )
    row.delete()
    transaction.on_commit(exposure.limits_changed)


# --- what the back office shows ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """A limit beside the exposure it governs. For a scope's default that is its most exposed
    key among those without a row of their own (`key`)."""

    exposure: Decimal
    headroom: Decimal
    key: str = ""


@dataclass(frozen=True, slots=True)
class Default:
    scope: str
    label: str
    amount: Decimal
    currency: str
    environment: str  # the variable, when it is the one in force
    row: ExposureLimit | None
    usage: Usage
    environment_amount: Decimal


def usage(
    scope: str, key: str, limits: exposure.Limits, current: dict[tuple[str, str], Decimal], amount: Decimal
) -> Usage:
    if key or scope == Scope.TOTAL:
        used = current.get((scope, key or exposure.TOTAL_KEY), Decimal(0))
        return Usage(used, amount - used)
    governed = [(used, k) for (s, k), used in current.items() if s == scope and (s, k) not in limits.overrides]
    used, worst = max(governed, default=(Decimal(0), ""))
    return Usage(used, amount - used, worst)


def limits_usage(rows: Iterable[ExposureLimit]) -> dict[int, Usage]:
    """Each row's current exposure and headroom (rows of another currency than the book's get
    none: they are not in force). Two queries, whatever the number of rows."""
    settings = conf.get()
    limits = exposure.load_limits(settings)
    current = exposure.open_exposure()
    return {
        row.pk: usage(row.scope, row.key, limits, current, row.amount)
        for row in rows
        if row.currency == settings.currency
    }


def defaults_in_force() -> list[Default]:
    """Each scope's default as it stands: its blank-key row, else the environment's value."""
    settings = conf.get()
    rows = {row.scope: row for row in ExposureLimit.objects.filter(currency=settings.currency, key="")}
    limits = exposure.load_limits(settings)
    current = exposure.open_exposure()
    environment = exposure.environment_limits(settings)
    out = []
    for scope in Scope:
        amount = limits.limit(scope.value)
        row = rows.get(scope.value)
        out.append(
            Default(
                scope=scope.value,
                label=scope.label,
                amount=amount,
                currency=settings.currency,
                environment="" if row else ENVIRONMENT[scope.value],
                row=row,
                usage=usage(scope.value, "", limits, current, amount),
                environment_amount=environment[scope.value],
            )
        )
    return out

"""Player protection, managed: limits, time-outs, self-exclusion, verification, date of birth.

The cooling rule (docs/PROTECTION.md): a change that protects the player more (a lower limit,
a new limit, a longer time-out or self-exclusion) applies at once; one that protects less (a
higher or removed limit, an earlier end) waits `LIMIT_INCREASE_DELAY_HOURS` as a pending
change, visible to staff and the operator, and is applied by `apply_due` (Celery beat, every
minute, and before any read or change of that player's protection). A self-exclusion is never
shortened here: lifting it early is `exclusion_lift_request` + `exclusion_lift_decide` (four
eyes), only where the jurisdiction allows it, and then the cooling period still applies.
Facts (verification, date of birth, jurisdiction) apply at once.

Every change is a `ProtectionChange` row and an audit row, written in the change's transaction.
The bet path reads none of this: it reads the player columns and `WalletLimits` (wallet.limits).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from wallet import conf, limits, money
from wallet.errors import CurrencyMismatch, InvalidRequest, PermissionDenied, WalletError
from wallet.models import Account, LedgerEntry, Player, ProtectionChange, WalletLimits
from wallet.permissions import reason_required
from wallet.permissions import require as require_permission
from wallet.protection_models import LIMIT_FIELDS
from wallet.services.audit import audit_record
from wallet.services.idempotency import Outcome, Reply, RequestKey, execute_once

Field = ProtectionChange.Field
Status = ProtectionChange.Status
MANAGE = "wallet.manage_protection"
APPROVE_LIFT = "wallet.approve_exclusion_lift"
OPEN = (Status.PENDING, Status.AWAITING_APPROVAL)
PLAYER_FIELDS = {
    Field.TIME_OUT: "timed_out_until",
    Field.SELF_EXCLUSION: "self_excluded_until",
    Field.VERIFICATION: "verification",
    Field.DATE_OF_BIRTH: "date_of_birth",
    Field.JURISDICTION: "jurisdiction",
}
FACTS = (Field.VERIFICATION, Field.DATE_OF_BIRTH, Field.JURISDICTION)
INDEFINITE_TEXT = "indefinite"


def _delay() -> timedelta:
    return timedelta(hours=conf.LIMIT_INCREASE_DELAY_HOURS)


# --- Input -------------------------------------------------------------------------------------


def _parse_datetime(field: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if field == Field.SELF_EXCLUSION and value == INDEFINITE_TEXT:
        return limits.INDEFINITE
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRequest(f"{field} must be an ISO-8601 date-time such as 2026-01-31T18:00:00Z") from None
    else:
        raise InvalidRequest(f"{field} must be an ISO-8601 date-time string")
    if parsed.tzinfo is None:  # a local time means the operator's
        parsed = parsed.replace(tzinfo=ZoneInfo(conf.REPORT_TIMEZONE))
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(f"{field} is out of range") from None
    if parsed.year < 2000:
        raise InvalidRequest(f"{field} must be after the year 2000")
    return min(parsed, limits.INDEFINITE)


def parse_changes(data: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """Validate requested changes (JSON-like values; keys absent are left alone).

    Money limits: a decimal string at the currency's precision, or null to remove. `bets_day`:
    a whole number or null. `time_out`: a date-time or null. `self_exclusion`: a date-time,
    "indefinite", or null. `verification`: unverified/verified/failed. `date_of_birth`:
    YYYY-MM-DD or null. `jurisdiction`: a configured code (PROTECTION_JURISDICTIONS) or "".
    """
    unknown = set(data) - set(Field.values)
    if unknown:
        raise InvalidRequest(
            f"unknown fields: {', '.join(sorted(unknown))}; expected some of {', '.join(Field.values)}"
        )
    out: dict[str, Any] = {}
    for field, value in data.items():
        if field == Field.BETS_DAY:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidRequest("bets_day must be a whole number (or null to remove it)")
            out[field] = value
        elif field in LIMIT_FIELDS:
            if not currency:
                raise InvalidRequest("currency is required with money limits")
            out[field] = None if value is None else money.parse_amount(value, currency, allow_zero=True, field=field)
        elif field in (Field.TIME_OUT, Field.SELF_EXCLUSION):
            out[field] = _parse_datetime(field, value)
        elif field == Field.VERIFICATION:
            if not isinstance(value, str) or value not in Player.Verification.values:
                raise InvalidRequest(f"verification must be one of {', '.join(Player.Verification.values)}")
            out[field] = value
        elif field == Field.DATE_OF_BIRTH:
            try:
                out[field] = None if value is None else date.fromisoformat(value)
            except (TypeError, ValueError):
                raise InvalidRequest("date_of_birth must be YYYY-MM-DD (or null)") from None
            if out[field] is not None and out[field] > limits.operator_today():
                raise InvalidRequest("date_of_birth is in the future")
        elif field == Field.JURISDICTION:
            if not isinstance(value, str) or (value != "" and value not in conf.JURISDICTIONS):
                raise InvalidRequest(f"jurisdiction must be one of {', '.join(conf.JURISDICTIONS)} (or blank)")
            out[field] = value
    return out


def _text(value: Any, currency: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal) and currency:
        return money.format_amount(value, currency)
    if isinstance(value, datetime):
        return INDEFINITE_TEXT if value >= limits.INDEFINITE else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _value(field: str, text: str) -> Any:
    """The inverse of `_text` for a stored change."""
    if text == "":
        return "" if field == Field.JURISDICTION else None
    if field == Field.BETS_DAY:
        return int(text)
    if field in LIMIT_FIELDS:
        return Decimal(text)
    if field in (Field.TIME_OUT, Field.SELF_EXCLUSION):
        return limits.INDEFINITE if text == INDEFINITE_TEXT else datetime.fromisoformat(text)
    if field == Field.DATE_OF_BIRTH:
        return date.fromisoformat(text)
    return text


# --- Current values ------------------------------------------------------------------------------


def _account(player: Player, currency: str, *, lock: bool) -> Account:
    accounts = Account.objects.filter(player=player, kind=Account.Kind.PLAYER, currency=currency)
    account = (accounts.select_for_update(no_key=True) if lock else accounts).first()
    if account is None:
        raise CurrencyMismatch(f"player {player.external_id} has no {currency} wallet")
    return account


def _current(player: Player, row: WalletLimits | None, field: str) -> Any:
    if field in LIMIT_FIELDS:
        return None if row is None or not row.account.limited else getattr(row, field)
    return getattr(player, PLAYER_FIELDS[field])


def _effect(field: str, old: Any, new: Any, now: datetime) -> bool | None:
    """True: it protects the player more (at once); False: less (cooling period); None: same."""
    if field in FACTS:
        return None if old == new else True
    if field in (Field.TIME_OUT, Field.SELF_EXCLUSION):
        old = old if old is not None and old > now else None
        new = new if new is not None and new > now else None
        if old == new:
            return None
        return new is not None and (old is None or new > old)
    if old == new:
        return None
    return new is not None and (old is None or new < old)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(conf.REPORT_TIMEZONE))


def usage_from_ledger(account: Account, now: datetime | None = None) -> dict[str, Any]:
    """This period's usage recomputed from the ledger: how a wallet's counters start when it
    gets its first limit (so a limit set mid-day counts the day's earlier bets)."""
    day, week, month = (_local_midnight(d) for d in limits.period_starts(now))
    entries = LedgerEntry.objects.filter(
        account=account,
        transaction__created_at__gte=min(week, month),
        transaction__kind__in=["bet", "payout", "reversal"],
    ).exclude(transaction__provider__in=["", "operator", "staff"])
    sums: dict[str, Any] = {}
    for period, start in (("day", day), ("week", week), ("month", month)):
        since = Q(transaction__created_at__gte=start)
        sums[f"used_wager_{period}"] = Sum("amount", filter=since & Q(transaction__kind="bet"))
        sums[f"used_loss_{period}"] = Sum("amount", filter=since)
    sums["used_bets_day"] = Count(
        "transaction", filter=Q(transaction__created_at__gte=day, transaction__kind="bet"), distinct=True
    )
    totals = entries.aggregate(**sums)
    used = {k: -(v or Decimal(0)) for k, v in totals.items() if k != "used_bets_day"}
    used["used_bets_day"] = totals["used_bets_day"] or 0
    return used


def _limits_row(account: Account, *, create: bool) -> WalletLimits | None:
    row = WalletLimits.objects.select_for_update(no_key=True).filter(account=account).first()
    if row is None and create:
        row = WalletLimits.objects.create(account=account, player_id=account.player_id, currency=account.currency)
    if row is not None:
        row.account = account  # one instance: `limited` changes as limits are set
    return row


def _set_limit(account: Account, row: WalletLimits, field: str, value: Any, now: datetime) -> None:
    if not account.limited:
        # The counters did not move while the wallet had no limits: start them from the ledger.
        day, week, month = limits.period_starts(now)
        for name, used in usage_from_ledger(account, now).items():
            setattr(row, name, used)
        row.day_start, row.week_start, row.month_start = day, week, month
    setattr(row, field, value)
    row.save()
    limited = any(getattr(row, name) is not None for name in LIMIT_FIELDS)
    if limited != account.limited:
        # Without any limit left the wallet's bets skip the counters again (no cost on the bet path).
        account.limited = limited
        account.save(update_fields=["limited"])


def _set_player_field(player: Player, field: str, value: Any, now: datetime, who: str) -> None:
    setattr(player, PLAYER_FIELDS[field], value)
    names = [PLAYER_FIELDS[field], "updated_at"]
    if field == Field.VERIFICATION:
        player.verified_at, player.verified_by = now, who[:150]
        names += ["verified_at", "verified_by"]
    player.save(update_fields=names)


def _who(actor: Any, api_key: dict[str, str] | None = None) -> str:
    if api_key:
        return f"API key {api_key.get('name', '')} ({api_key.get('prefix', '')})"
    return getattr(actor, "get_username", lambda: "")() if actor is not None else "system"


def _audit(
    change: ProtectionChange, action: str, actor_id: int | None, reason: str, api_key: dict[str, str] | None = None
) -> None:
    audit_record(
        api_key=api_key,
        actor_id=actor_id,
        action=f"protection.{action}",
        object_type="wallet.Player",
        object_id=str(change.player_id),
        reason=reason,
        data={
            "change": change.pk,
            "field": change.field,
            "currency": change.currency,
            "from": change.old_value,
            "to": change.new_value,
            "status": change.status,
            "effective_at": change.effective_at,
            "reference": change.reference,
        },
    )


def _cancel_open(player: Player, field: str, currency: str, actor_id: int | None, reason: str) -> None:
    for change in ProtectionChange.objects.filter(player=player, field=field, currency=currency, status__in=OPEN):
        change.status = Status.CANCELLED
        change.save(update_fields=["status"])
        _audit(change, "cancel", actor_id, reason)


def _apply(player: Player, change: ProtectionChange, now: datetime, who: str) -> None:
    value = _value(change.field, change.new_value)
    if change.field in LIMIT_FIELDS:
        account = _account(player, change.currency, lock=True)
        _set_limit(account, _limits_row(account, create=True), change.field, value, now)
    else:
        _set_player_field(player, change.field, value, now, who)
    change.status, change.applied_at = Status.APPLIED, now
    change.save(update_fields=["status", "applied_at"])


# --- Changes -------------------------------------------------------------------------------------


def protection_change(
    *,
    player: Player,
    changes: Mapping[str, Any],
    currency: str = "",
    reason: str,
    actor: Any = None,
    source: str = "api",
    reference: str = "",
    api_key: dict[str, str] | None = None,
) -> list[ProtectionChange]:
    """Apply `changes` (from `parse_changes`) under the cooling rule; return the change rows.

    `source` "admin" needs the Risk permission (`wallet.manage_protection`); the operator API's
    caller is authorised by its key's scope (`api_key`: its audit label, named in the audit rows).
    Refuses shortening a self-exclusion."""
    if source == "admin":
        require_permission(actor, MANAGE)
    reason = reason_required(reason)
    actor_id = getattr(actor, "pk", None)
    now = timezone.now()
    made: list[ProtectionChange] = []
    with transaction.atomic():
        player = Player.objects.select_for_update(no_key=True).get(pk=player.pk)
        _apply_due_locked(player, now)
        account = row = None
        if any(field in LIMIT_FIELDS for field in changes):
            account = _account(player, currency, lock=True)
            row = _limits_row(account, create=False)
        for field, new in changes.items():
            old = _current(player, row, field)
            effect = _effect(field, old, new, now)
            on_wallet = currency if field in LIMIT_FIELDS else ""
            if effect is False and field == Field.SELF_EXCLUSION:
                raise PermissionDenied(
                    "a self-exclusion cannot be shortened or lifted here; Risk can request an early lift"
                    " (four eyes) where the player's jurisdiction allows it"
                )
            _cancel_open(player, field, on_wallet, actor_id, f"superseded: {reason}")
            if effect is None:
                continue
            change = ProtectionChange.objects.create(
                player=player,
                currency=on_wallet,
                field=field,
                old_value=_text(old, on_wallet),
                new_value=_text(new, on_wallet),
                status=Status.APPLIED if effect else Status.PENDING,
                effective_at=now if effect else now + _delay(),
                requested_by_id=actor_id,
                source=source,
                reference=reference,
                reason=reason,
            )
            if effect:
                if field in LIMIT_FIELDS:
                    assert account is not None
                    row = row or _limits_row(account, create=True)
                    _set_limit(account, row, field, new, now)
                else:
                    _set_player_field(player, field, new, now, _who(actor, api_key))
                change.applied_at = now
                change.save(update_fields=["applied_at"])
            _audit(change, "set" if effect else "request", actor_id, reason, api_key)
            made.append(change)
    return made


def _apply_due_locked(player: Player, now: datetime) -> int:
    due = list(
        ProtectionChange.objects.filter(player=player, status=Status.PENDING, effective_at__lte=now).order_by("id")
    )
    for change in due:
        _apply(player, change, now, "cooling period")
        _audit(change, "apply", None, "cooling period over")
    return len(due)


def apply_due(now: datetime | None = None) -> int:
    """Apply every pending change whose cooling period is over; the number applied."""
    now = now or timezone.now()
    applied = 0
    players = (
        ProtectionChange.objects.filter(status=Status.PENDING, effective_at__lte=now)
        .values_list("player_id", flat=True)
        .distinct()
    )
    for player_id in list(players):
        with transaction.atomic():
            player = Player.objects.select_for_update(no_key=True).get(pk=player_id)
            applied += _apply_due_locked(player, now)
    return applied


# --- Lifting a self-exclusion early (four eyes) ------------------------------------------------


def exclusion_lift_request(*, player: Player, reason: str, actor: Any) -> ProtectionChange:
    """Ask to end a self-exclusion before its end date; a second person decides."""
    require_permission(actor, MANAGE)
    reason = reason_required(reason)
    now = timezone.now()
    with transaction.atomic():
        player = Player.objects.select_for_update(no_key=True).get(pk=player.pk)
        rules = conf.jurisdiction(player.jurisdiction)
        if rules.early_lift != "four_eyes":
            raise PermissionDenied(f"{rules.name} does not allow lifting a self-exclusion before its end")
        until = player.self_excluded_until
        if until is None or until <= now:
            raise InvalidRequest(f"player {player.external_id} is not self-excluded")
        if ProtectionChange.objects.filter(player=player, field=Field.SELF_EXCLUSION, status__in=OPEN).exists():
            raise InvalidRequest("a change of this self-exclusion is already waiting")
        change = ProtectionChange.objects.create(
            player=player,
            field=Field.SELF_EXCLUSION,
            old_value=_text(until),
            new_value="",
            status=Status.AWAITING_APPROVAL,
            effective_at=now + _delay(),
            requested_by=actor,
            source="admin",
            reason=reason,
        )
        _audit(change, "lift_request", actor.pk, reason)
    return change


def exclusion_lift_decide(*, change_id: int, approve: bool, note: str, actor: Any) -> ProtectionChange:
    """The second pair of eyes. Approval starts the cooling period; the lift applies after it."""
    require_permission(actor, APPROVE_LIFT)
    note = reason_required(note) if approve else (note or "rejected")
    now = timezone.now()
    with transaction.atomic():
        change = ProtectionChange.objects.select_for_update().get(pk=change_id)
        if change.status != Status.AWAITING_APPROVAL:
            raise InvalidRequest(f"change {change_id} is {change.get_status_display().lower()}, not awaiting approval")
        if change.requested_by_id == actor.pk:
            raise PermissionDenied("the person who asked for the lift cannot approve it (four eyes)")
        change.approved_by = actor
        change.status = Status.PENDING if approve else Status.REJECTED
        change.effective_at = now + _delay() if approve else change.effective_at
        change.save(update_fields=["approved_by", "status", "effective_at"])
        _audit(change, "lift_approve" if approve else "lift_reject", actor.pk, note)
    return change


# --- Reads ---------------------------------------------------------------------------------------


def _used_now(row: WalletLimits, now: datetime) -> dict[str, Any]:
    """The row's usage, as zero for a period that has ended since it last moved."""
    starts = dict(zip(limits.PERIODS, limits.period_starts(now), strict=True))
    stored = {"day": row.day_start, "week": row.week_start, "month": row.month_start}
    return {
        name: getattr(row, name) if stored[limits._period_of(name)] == starts[limits._period_of(name)] else 0
        for name in limits.USED
    }


def protection_state(player: Player, *, history: int = 50) -> dict[str, Any]:
    """What staff and the operator see: rules, player-wide protection, each wallet's limits with
    this period's usage, open changes and recent history. Applies due changes first."""
    now = timezone.now()
    if ProtectionChange.objects.filter(player=player, status=Status.PENDING, effective_at__lte=now).exists():
        with transaction.atomic():
            _apply_due_locked(Player.objects.select_for_update(no_key=True).get(pk=player.pk), now)
    player.refresh_from_db()
    rules = conf.jurisdiction(player.jurisdiction)
    wallets = []
    for account in Account.objects.filter(player=player, kind=Account.Kind.PLAYER).order_by("currency"):
        row = WalletLimits.objects.filter(account=account).first()
        used = _used_now(row, now) if row is not None else {}
        entry: dict[str, Any] = {"currency": account.currency, "limited": account.limited, "limits": {}}
        for field in LIMIT_FIELDS:
            usage_name = "used_bets_day" if field == "bets_day" else f"used_{field}"
            money_field = field != "bets_day"
            entry["limits"][field] = {
                "limit": _text(getattr(row, field) if row and account.limited else None, account.currency) or None,
                "used": None
                if field == "stake_per_bet" or row is None
                else _text(Decimal(used[usage_name]) if money_field else used[usage_name], account.currency),
            }
        wallets.append(entry)
    changes = list(ProtectionChange.objects.filter(player=player).order_by("-id")[:history])
    return {
        "player": player.external_id,
        "jurisdiction": {
            "code": rules.code,
            "name": rules.name,
            "minimum_age": rules.minimum_age,
            "verification_required": rules.verification_required,
            "early_lift": rules.early_lift,
        },
        "date_of_birth": _text(player.date_of_birth) or None,
        "verification": {
            "status": player.verification,
            "at": player.verified_at,
            "by": player.verified_by,
        },
        "time_out_until": _text(_active(player.timed_out_until, now)) or None,
        "self_excluded_until": _text(_active(player.self_excluded_until, now)) or None,
        "period_timezone": conf.REPORT_TIMEZONE,
        "wallets": wallets,
        "pending": [_change_out(c) for c in changes if c.status in OPEN],
        "history": [_change_out(c) for c in changes],
    }


def _active(until: datetime | None, now: datetime) -> datetime | None:
    return until if until is not None and until > now else None


def _change_out(change: ProtectionChange) -> dict[str, Any]:
    return {
        "id": change.pk,
        "field": change.field,
        "currency": change.currency,
        "from": change.old_value or None,
        "to": change.new_value or None,
        "status": change.status,
        "requested_at": change.requested_at,
        "effective_at": change.effective_at,
        "applied_at": change.applied_at,
        "source": change.source,
        "reference": change.reference,
        "reason": change.reason,
    }


def state_json(state: Mapping[str, Any]) -> str:
    return json.dumps(state, cls=DjangoJSONEncoder)


# --- Operator API: idempotent by reference -----------------------------------------------------


def protection_execute(
    *,
    player: Player,
    data: Mapping[str, Any],
    currency: str,
    reason: str,
    reference: str,
    api_key: dict[str, str] | None,
    render_error: Callable[[WalletError], tuple[int, str]],
) -> Reply:
    """Apply an operator API change once per reference; a retry gets the first answer."""

    def apply() -> Outcome:
        changes = parse_changes(data, currency)
        if not changes:
            raise InvalidRequest("nothing to change")
        made = protection_change(
            player=player, changes=changes, currency=currency, reason=reason, reference=reference, api_key=api_key
        )
        body = {"reference": reference, "changes": [_change_out(c) for c in made], **protection_state(player)}
        return Outcome(status=200, body=state_json(body))

    return execute_once(
        key=RequestKey("operator", reference, "protection"),
        content={"player": player.external_id, "currency": currency, "changes": dict(data), "reason": reason},
        apply=apply,
        render_error=render_error,
    )

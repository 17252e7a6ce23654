"""Risk's edits of what the book quotes: line mappings, same-game correlation rules and event
mappings (a ProphetX event ↔ its UOF event).

Every function takes the staff member (`actor`) and a typed reason, checks the actor's
permission (add, change or delete of the model; a refusal is audited as `<action>.refused`),
validates as the model and the book require, and writes one audit row per object changed, with
the changed fields before and after, in the change's own transaction: nothing is stored
without its row, and a refused or invalid change stores nothing.

What the book does with them (parlays.services.lines): the quote path reads enabled mappings,
event mappings and rules from its in-memory index, refreshed every few seconds; the supported
lines sync registers enabled mappings with ProphetX and unregisters disabled ones, by the
`registered` flag. A registered mapping therefore cannot be deleted (ProphetX would keep the
line): disable it, and delete it once the sync has removed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction

from parlays.models import CorrelationRule, LineMapping, PxEvent
from parlays.prices import canonical_specifiers
from parlays.services.limits import EVENT_URN
from wallet.errors import InvalidRequest
from wallet.permissions import audited_refusals, reason_required, require
from wallet.services.audit import audit_record

# What staff may set; the rest (source, registered, updated_at) is the book's.
LINE_FIELDS = (
    "line_id",
    "event_urn",
    "market_id",
    "specifiers",
    "outcome_id",
    "correlation_class",
    "enabled",
    "note",
    "px_sport_event_id",
    "px_market_id",
    "px_outcome_id",
    "px_line",
)
RULE_FIELDS = ("class_a", "class_b", "factor", "blocked", "note")
LINE, RULE, EVENT = "parlays.LineMapping", "parlays.CorrelationRule", "parlays.PxEvent"


def _plain(value: Any) -> Any:
    """A field's value as the audit row keeps it (JSON; a Decimal as its digits)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def snapshot(row: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in fields}


def _changed(before: Mapping[str, Any], row: models.Model, fields: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{"before": {...}, "after": {...}} of the fields whose value differs (1.2 == 1.2000)."""
    after = {name: getattr(row, name) for name in fields}
    names = [name for name, value in after.items() if before[name] != value]
    return {
        "before": {name: _plain(before[name]) for name in names},
        "after": {name: _plain(after[name]) for name in names},
    }


def _assign(row: models.Model, values: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidRequest(f"cannot set {', '.join(unknown)}")
    for name, value in values.items():
        setattr(row, name, value.strip() if isinstance(value, str) else value)


def _validate(row: models.Model) -> None:
    """The model's own checks (types, lengths, uniqueness, constraints) as one InvalidRequest."""
    try:
        row.full_clean()
    except ValidationError as error:
        parts = [
            " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
            for field, messages in error.message_dict.items()
        ]
        raise InvalidRequest("; ".join(parts)) from None


def _record(actor, action: str, row: models.Model, reason: str, data: dict[str, Any]) -> None:
    audit_record(actor_id=actor.pk, action=action, obj=row, reason=reason, data=data)


def _locked(model: type[models.Model], pk: Any, what: str) -> Any:
    row = model.objects.select_for_update().filter(pk=pk).first()
    if row is None:
        raise InvalidRequest(f"no {what} #{pk}")
    return row


# --- line mappings ------------------------------------------------------------------------------


def _check_line(row: LineMapping) -> None:
    try:
        row.specifiers = canonical_specifiers(row.specifiers or "")
    except ValueError as error:
        raise InvalidRequest(f"specifiers: {error}") from None
    if not EVENT_URN.match(row.event_urn or ""):
        raise InvalidRequest(f"event_urn: a UOF event urn such as sr:match:43000001, not {row.event_urn!r}")
    _validate(row)


@audited_refusals("line_mapping.create", data_keys=("values",), object_type=LINE)
@transaction.atomic
def create_line_mapping(*, actor, values: Mapping[str, Any], reason: str) -> LineMapping:
    """A staff mapping of a ProphetX line; enabled, it is registered with ProphetX on the next sync."""
    require(actor, "parlays.add_linemapping")
    reason = reason_required(reason)
    row = LineMapping(source=LineMapping.Source.MANUAL)
    _assign(row, values, LINE_FIELDS)
    _check_line(row)
    row.save()
    _record(actor, "line_mapping.create", row, reason, {"before": None, "after": snapshot(row, LINE_FIELDS)})
    return row


@audited_refusals("line_mapping.change", data_keys=("values",), object_type=LINE)
@transaction.atomic
def update_line_mapping(*, actor, line_mapping_id: int, values: Mapping[str, Any], reason: str) -> LineMapping:
    """Change a mapping; an automatic one becomes staff's (the seed no longer touches it). The
    ProphetX line it maps is what it is: another line is another mapping."""
    require(actor, "parlays.change_linemapping")
    reason = reason_required(reason)
    row = _locked(LineMapping, line_mapping_id, "line mapping")
    if "line_id" in values and str(values["line_id"]).strip() != row.line_id:
        raise InvalidRequest("line_id: a mapping's ProphetX line cannot change; add a mapping for the other line")
    fields = (*LINE_FIELDS, "source")
    before = {name: getattr(row, name) for name in fields}
    _assign(row, values, LINE_FIELDS)
    _check_line(row)
    change = _changed(before, row, LINE_FIELDS)
    if not change["before"]:
        raise InvalidRequest("nothing to change")
    row.source = LineMapping.Source.MANUAL
    row.save()
    _record(actor, "line_mapping.change", row, reason, _changed(before, row, fields))
    return row


@audited_refusals("line_mapping.enable", object_type=LINE)
@transaction.atomic
def enable_line_mappings(*, actor, line_mapping_ids: Iterable[int], reason: str) -> int:
    """Quote these lines again and register them with ProphetX on the next sync. One audit row
    per mapping that was disabled; returns how many were."""
    return _set_enabled(actor, line_mapping_ids, True, reason)


@audited_refusals("line_mapping.disable", object_type=LINE)
@transaction.atomic
def disable_line_mappings(*, actor, line_mapping_ids: Iterable[int], reason: str) -> int:
    """Stop quoting these lines (and the automatic mapping of them); the next sync unregisters
    them. One audit row per mapping that was enabled; returns how many were."""
    return _set_enabled(actor, line_mapping_ids, False, reason)


def _set_enabled(actor, line_mapping_ids: Iterable[int], enabled: bool, reason: str) -> int:
    require(actor, "parlays.change_linemapping")
    reason = reason_required(reason)
    ids = set(line_mapping_ids)
    rows = list(LineMapping.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if len(rows) != len(ids):
        raise InvalidRequest("some of these line mappings no longer exist")
    action = "line_mapping.enable" if enabled else "line_mapping.disable"
    changed = 0
    for row in rows:
        if row.enabled == enabled:
            continue
        row.enabled = enabled
        row.save(update_fields=["enabled", "updated_at"])
        _record(actor, action, row, reason, {"before": {"enabled": not enabled}, "after": {"enabled": enabled}})
        changed += 1
    return changed


@audited_refusals("line_mapping.delete", object_type=LINE)
@transaction.atomic
def delete_line_mapping(*, actor, line_mapping_id: int, reason: str) -> None:
    """Delete a mapping ProphetX no longer has registered. The line falls back to the automatic
    mapping when its market has a template (disable it to stop quoting it for good)."""
    require(actor, "parlays.delete_linemapping")
    reason = reason_required(reason)
    row = _locked(LineMapping, line_mapping_id, "line mapping")
    if row.registered:
        raise InvalidRequest(
            f"line {row.line_id} is registered with ProphetX: disable it first, and delete it once"
            " the next sync has removed it"
        )
    _record(
        actor, "line_mapping.delete", row, reason, {"before": snapshot(row, (*LINE_FIELDS, "source")), "after": None}
    )
    row.delete()


# --- correlation rules --------------------------------------------------------------------------


def _check_rule(row: CorrelationRule) -> None:
    if not row.class_a or not row.class_b:
        raise InvalidRequest("a rule names two leg classes")
    if row.class_a > row.class_b:  # the pair is stored sorted (the book looks it up that way)
        row.class_a, row.class_b = row.class_b, row.class_a
    _validate(row)


@audited_refusals("correlation_rule.create", data_keys=("values",), object_type=RULE)
@transaction.atomic
def create_correlation_rule(*, actor, values: Mapping[str, Any], reason: str) -> CorrelationRule:
    """The same-game factor (or block) of two leg classes; quotes use it within seconds."""
    require(actor, "parlays.add_correlationrule")
    reason = reason_required(reason)
    row = CorrelationRule()
    _assign(row, values, RULE_FIELDS)
    _check_rule(row)
    row.save()
    _record(actor, "correlation_rule.create", row, reason, {"before": None, "after": snapshot(row, RULE_FIELDS)})
    return row


@audited_refusals("correlation_rule.change", data_keys=("values",), object_type=RULE)
@transaction.atomic
def update_correlation_rule(
    *, actor, correlation_rule_id: int, values: Mapping[str, Any], reason: str
) -> CorrelationRule:
    require(actor, "parlays.change_correlationrule")
    reason = reason_required(reason)
    row = _locked(CorrelationRule, correlation_rule_id, "correlation rule")
    before = {name: getattr(row, name) for name in RULE_FIELDS}
    _assign(row, values, RULE_FIELDS)
    _check_rule(row)
    change = _changed(before, row, RULE_FIELDS)
    if not change["before"]:
        raise InvalidRequest("nothing to change")
    row.save()
    _record(actor, "correlation_rule.change", row, reason, change)
    return row


@audited_refusals("correlation_rule.delete", object_type=RULE)
@transaction.atomic
def delete_correlation_rule(*, actor, correlation_rule_id: int, reason: str) -> None:
    """Without a rule, a same-game parlay with these two classes is declined (no factor)."""
    require(actor, "parlays.delete_correlationrule")
    reason = reason_required(reason)
    row = _locked(CorrelationRule, correlation_rule_id, "correlation rule")
    _record(actor, "correlation_rule.delete", row, reason, {"before": snapshot(row, RULE_FIELDS), "after": None})
    row.delete()


# --- event mappings -----------------------------------------------------------------------------


@audited_refusals("event_mapping.change", data_keys=("event_urn",), object_type=EVENT)
@transaction.atomic
def map_event(*, actor, px_event_id: int, event_urn: str, reason: str) -> PxEvent:
    """Map a ProphetX event to its UOF event, or unmap it (blank).

    The automatic line mappings made for its lines follow it (one audit row each, same reason):
    a new urn moves them to it; unmapping disables them, so the event's lines stop being quoted
    and the next sync unregisters them (mapped again, they move but stay disabled until staff
    enable them). Staff's own mappings of its lines are left as they are."""
    require(actor, "parlays.change_pxevent")
    reason = reason_required(reason)
    if not isinstance(event_urn, str):
        raise InvalidRequest("event_urn must be text")
    event_urn = event_urn.strip()
    if event_urn and not EVENT_URN.match(event_urn):
        raise InvalidRequest(f"event_urn: a UOF event urn such as sr:match:43000001 (or blank), not {event_urn!r}")
    row = _locked(PxEvent, px_event_id, "ProphetX event")
    before = {"event_urn": row.event_urn}
    row.event_urn = event_urn
    _validate(row)
    change = _changed(before, row, ("event_urn",))
    if not change["before"]:
        raise InvalidRequest("nothing to change")
    row.save(update_fields=["event_urn"])  # seen_at is when ProphetX last sent it
    _record(actor, "event_mapping.change", row, reason, change)
    followers = LineMapping.objects.select_for_update().filter(
        px_sport_event_id=row.sport_event_id, source=LineMapping.Source.AUTO
    )
    for mapping in followers.order_by("pk"):
        fields = ("event_urn", "enabled")
        previous = {name: getattr(mapping, name) for name in fields}
        if event_urn:
            mapping.event_urn = event_urn
        else:
            mapping.enabled = False
        moved = _changed(previous, mapping, fields)
        if moved["before"]:
            mapping.save(update_fields=[*moved["before"], "updated_at"])
            _record(actor, "line_mapping.change", mapping, reason, {**moved, "event_mapping": row.sport_event_id})
    return row

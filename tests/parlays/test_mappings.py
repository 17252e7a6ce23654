"""Risk's edits of line mappings, correlation rules and event mappings: each through the service,
refused to Support and Finance (the refusal audited), validated with nothing stored on an error,
and audited per object with what changed, before and after, and the reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from parlays.conf import ParlaySettings
from parlays.models import CorrelationRule, LineMapping, PxEvent, QuoteRequest
from parlays.protocol.rest import ProphetXClient
from parlays.services import mappings
from parlays.services.lines import seed_reference_data, sync_supported_lines
from parlays.simulator import ProphetXSimulator, make_games
from tests.factories import user_with
from tests.parlays.conftest import feed_game
from wallet.errors import InvalidRequest, PermissionDenied
from wallet.models import AuditLog

pytestmark = pytest.mark.django_db

LINE = {
    "line_id": "px-line-1",
    "event_urn": "sr:match:11",
    "market_id": 18,
    "specifiers": "total=2.5",
    "outcome_id": "12",
    "correlation_class": "total_over",
}


@pytest.fixture
def risk():
    return user_with("Risk")


def audit(action: str) -> AuditLog:
    return AuditLog.objects.get(action=action)


def test_a_line_mapping_is_created_changed_toggled_and_deleted_with_its_audit_rows(risk):
    row = mappings.create_line_mapping(
        actor=risk, values={**LINE, "specifiers": " total = 2.5 "}, reason="mapped by hand"
    )
    assert (row.specifiers, row.source, row.enabled) == ("total=2.5", "manual", True)
    created = audit("line_mapping.create")
    assert (created.actor, created.reason, created.object_type, created.object_id) == (
        risk,
        "mapped by hand",
        "parlays.LineMapping",
        str(row.pk),
    )
    assert created.data["before"] is None and created.data["after"]["specifiers"] == "total=2.5"

    row.source = LineMapping.Source.AUTO
    row.save()
    mappings.update_line_mapping(
        actor=risk, line_mapping_id=row.pk, values={"specifiers": "total=3.5", "note": "moved"}, reason="line moved"
    )
    row.refresh_from_db()
    assert (row.specifiers, row.source) == ("total=3.5", "manual")  # staff's now: the seed leaves it
    changed = audit("line_mapping.change")
    assert changed.data == {
        "before": {"specifiers": "total=2.5", "note": "", "source": "auto"},
        "after": {"specifiers": "total=3.5", "note": "moved", "source": "manual"},
    }
    assert changed.reason == "line moved"

    assert mappings.disable_line_mappings(actor=risk, line_mapping_ids=[row.pk], reason="bad prices") == 1
    assert mappings.disable_line_mappings(actor=risk, line_mapping_ids=[row.pk], reason="bad prices") == 0  # no row
    assert audit("line_mapping.disable").data == {"before": {"enabled": True}, "after": {"enabled": False}}
    assert mappings.enable_line_mappings(actor=risk, line_mapping_ids=[row.pk], reason="prices fixed") == 1
    assert audit("line_mapping.enable").reason == "prices fixed"

    mappings.delete_line_mapping(actor=risk, line_mapping_id=row.pk, reason="wrong line")
    assert not LineMapping.objects.exists()
    deleted = audit("line_mapping.delete")
    assert deleted.object_id == str(row.pk) and deleted.data["after"] is None
    assert deleted.data["before"]["line_id"] == "px-line-1" and deleted.data["before"]["specifiers"] == "total=3.5"


def test_bulk_toggle_writes_one_row_per_mapping_with_the_batch_reason(risk):
    rows = [
        mappings.create_line_mapping(actor=risk, values={**LINE, "line_id": f"px-{n}"}, reason="mapped by hand")
        for n in range(3)
    ]
    count = mappings.disable_line_mappings(actor=risk, line_mapping_ids=[r.pk for r in rows], reason="match abandoned")
    assert count == 3 and not LineMapping.objects.filter(enabled=True).exists()
    disabled = AuditLog.objects.filter(action="line_mapping.disable")
    assert sorted(disabled.values_list("object_id", flat=True)) == sorted(str(r.pk) for r in rows)
    assert set(disabled.values_list("reason", flat=True)) == {"match abandoned"}


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"event_urn": "match 11"}, "a UOF event urn"),
        ({"specifiers": "total"}, "is not key=value"),
        ({"market_id": "eighteen"}, "market_id"),
        ({"outcome_id": ""}, "outcome_id"),
        ({"registered": True}, "cannot set registered"),
    ],
)
def test_an_invalid_line_mapping_stores_nothing(risk, values, error):
    with pytest.raises(InvalidRequest, match=error):
        mappings.create_line_mapping(actor=risk, values={**LINE, **values}, reason="mapped by hand")
    assert not LineMapping.objects.exists() and not AuditLog.objects.exists()


def test_a_change_is_validated_and_a_mapping_keeps_its_line(risk):
    row = mappings.create_line_mapping(actor=risk, values=LINE, reason="mapped by hand")
    mappings.create_line_mapping(actor=risk, values={**LINE, "line_id": "px-line-2"}, reason="mapped by hand")
    for values, error in [
        ({"line_id": "px-line-2"}, "cannot change"),
        ({"specifiers": "hcp"}, "is not key=value"),
        ({"specifiers": "total=2.5"}, "nothing to change"),
        ({"reason_missing": 1}, "cannot set"),
    ]:
        with pytest.raises(InvalidRequest, match=error):
            mappings.update_line_mapping(actor=risk, line_mapping_id=row.pk, values=values, reason="a change")
    with pytest.raises(InvalidRequest, match="reason"):
        mappings.update_line_mapping(actor=risk, line_mapping_id=row.pk, values={"note": "x"}, reason=" ok ")
    with pytest.raises(InvalidRequest, match="already exists"):
        mappings.create_line_mapping(actor=risk, values=LINE, reason="mapped twice")
    row.refresh_from_db()
    assert (row.line_id, row.specifiers, row.note) == ("px-line-1", "total=2.5", "")
    assert AuditLog.objects.filter(action="line_mapping.change").count() == 0


@pytest.mark.parametrize("role", ["Support", "Finance"])
def test_support_and_finance_are_refused_and_the_refusal_is_audited(role, risk):
    user = user_with(role)
    row = mappings.create_line_mapping(actor=risk, values=LINE, reason="mapped by hand")
    rule = mappings.create_correlation_rule(
        actor=risk, values={"class_a": "a", "class_b": "b", "factor": "1.1"}, reason="same game"
    )
    event = PxEvent.objects.create(sport_event_id=5, name="Lions vs. Tigers")
    calls = [
        ("line_mapping.create", lambda: mappings.create_line_mapping(actor=user, values=LINE, reason="by hand")),
        (
            "line_mapping.change",
            lambda: mappings.update_line_mapping(
                actor=user, line_mapping_id=row.pk, values={"note": "x"}, reason="why"
            ),
        ),
        (
            "line_mapping.disable",
            lambda: mappings.disable_line_mappings(actor=user, line_mapping_ids=[row.pk], reason="bad prices"),
        ),
        (
            "line_mapping.enable",
            lambda: mappings.enable_line_mappings(actor=user, line_mapping_ids=[row.pk], reason="good prices"),
        ),
        ("line_mapping.delete", lambda: mappings.delete_line_mapping(actor=user, line_mapping_id=row.pk, reason="x")),
        (
            "correlation_rule.create",
            lambda: mappings.create_correlation_rule(actor=user, values={"class_a": "c", "class_b": "d"}, reason="sgp"),
        ),
        (
            "correlation_rule.change",
            lambda: mappings.update_correlation_rule(
                actor=user, correlation_rule_id=rule.pk, values={"blocked": True}, reason="nested legs"
            ),
        ),
        (
            "correlation_rule.delete",
            lambda: mappings.delete_correlation_rule(actor=user, correlation_rule_id=rule.pk, reason="not needed"),
        ),
        (
            "event_mapping.change",
            lambda: mappings.map_event(actor=user, px_event_id=event.pk, event_urn="sr:match:5", reason="same game"),
        ),
    ]
    for action, call in calls:
        with pytest.raises(PermissionDenied):
            call()
        refusal = AuditLog.objects.get(action=f"{action}.refused")
        assert refusal.actor == user and "lacks the permission" in refusal.reason
    targets = dict(AuditLog.objects.filter(action__endswith=".refused").values_list("action", "object_id"))
    assert targets["line_mapping.change.refused"] == targets["line_mapping.disable.refused"] == str(row.pk)
    assert targets["correlation_rule.delete.refused"] == str(rule.pk)
    assert targets["event_mapping.change.refused"] == str(event.pk)
    assert AuditLog.objects.get(action="line_mapping.change.refused").object_type == "parlays.LineMapping"
    row.refresh_from_db()
    rule.refresh_from_db()
    event.refresh_from_db()
    assert (row.note, row.enabled, rule.blocked, event.event_urn) == ("", True, False, "")
    assert LineMapping.objects.count() == CorrelationRule.objects.count() == 1


def test_correlation_rules_are_stored_sorted_and_validated(risk):
    rule = mappings.create_correlation_rule(
        actor=risk, values={"class_a": "winner_home", "class_b": "total_over", "factor": "1.12"}, reason="same game"
    )
    assert (rule.class_a, rule.class_b, rule.factor) == ("total_over", "winner_home", Decimal("1.12"))
    assert audit("correlation_rule.create").data["after"] == {
        "class_a": "total_over",
        "class_b": "winner_home",
        "factor": "1.12",
        "blocked": False,
        "note": "",
    }
    for values, error in [
        ({"class_a": "total_over", "class_b": "winner_home"}, "already exists"),  # either order
        ({"class_a": "winner_home", "class_b": "total_over"}, "already exists"),
        ({"class_a": "a", "class_b": "b", "factor": "0"}, "factor"),
        ({"class_a": "a", "class_b": "b", "factor": "-1"}, "factor"),
        ({"class_a": "a", "class_b": "b", "factor": "lots"}, "factor"),
        ({"class_a": "a", "class_b": ""}, "two leg classes"),
    ]:
        with pytest.raises(InvalidRequest, match=error):
            mappings.create_correlation_rule(actor=risk, values=values, reason="same game")
    assert CorrelationRule.objects.count() == 1

    mappings.update_correlation_rule(
        actor=risk, correlation_rule_id=rule.pk, values={"factor": "1.1200", "blocked": True}, reason="nested legs"
    )
    assert audit("correlation_rule.change").data == {"before": {"blocked": False}, "after": {"blocked": True}}
    with pytest.raises(InvalidRequest, match="nothing to change"):
        mappings.update_correlation_rule(
            actor=risk, correlation_rule_id=rule.pk, values={"factor": "1.12"}, reason="nested legs"
        )
    mappings.delete_correlation_rule(actor=risk, correlation_rule_id=rule.pk, reason="pair never offered")
    assert not CorrelationRule.objects.exists()
    assert audit("correlation_rule.delete").data == {
        "before": {"class_a": "total_over", "class_b": "winner_home", "factor": "1.12", "blocked": True, "note": ""},
        "after": None,
    }


def test_event_mappings_are_set_cleared_and_validated(risk):
    event = PxEvent.objects.create(sport_event_id=77, name="Lions vs. Tigers")
    mappings.map_event(actor=risk, px_event_id=event.pk, event_urn=" sr:match:77 ", reason="same fixture")
    event.refresh_from_db()
    assert event.event_urn == "sr:match:77"
    row = audit("event_mapping.change")
    assert (row.object_type, row.object_id) == ("parlays.PxEvent", str(event.pk))
    assert row.data == {"before": {"event_urn": ""}, "after": {"event_urn": "sr:match:77"}}
    with pytest.raises(InvalidRequest, match="a UOF event urn"):
        mappings.map_event(actor=risk, px_event_id=event.pk, event_urn="Lions", reason="same fixture")
    with pytest.raises(InvalidRequest, match="nothing to change"):
        mappings.map_event(actor=risk, px_event_id=event.pk, event_urn="sr:match:77", reason="same fixture")
    mappings.map_event(actor=risk, px_event_id=event.pk, event_urn="", reason="not the same fixture")
    event.refresh_from_db()
    assert event.event_urn == "" and AuditLog.objects.filter(action="event_mapping.change").count() == 2


def test_the_book_follows_the_service(risk):
    """Disabling through the service unregisters the line on the next sync; a registered line
    cannot be deleted until then."""
    games = make_games(1)
    with ProphetXSimulator(games=games, health_interval_s=60) as sim:
        client = ProphetXClient(sim.rest_url, sim.access_key, sim.secret_key)
        event = PxEvent.objects.create(sport_event_id=games[0].px_event_id)
        seed_reference_data(client, ParlaySettings())
        assert not LineMapping.objects.exists()  # the event is not mapped yet
        mappings.map_event(actor=risk, px_event_id=event.pk, event_urn=games[0].event_urn, reason="same fixture")
        seed_reference_data(client, ParlaySettings())
        feed_game(games[0])
        assert sync_supported_lines(client)["added"] == 6
        row = LineMapping.objects.get(line_id=next(iter(sim.supported_lines)))
        with pytest.raises(InvalidRequest, match="registered with ProphetX"):
            mappings.delete_line_mapping(actor=risk, line_mapping_id=row.pk, reason="wrong line")
        mappings.disable_line_mappings(actor=risk, line_mapping_ids=[row.pk], reason="bad prices")
        assert sync_supported_lines(client)["removed"] == 1 and row.line_id not in sim.supported_lines
        mappings.delete_line_mapping(actor=risk, line_mapping_id=row.pk, reason="wrong line")
        assert not LineMapping.objects.filter(pk=row.pk).exists()


def test_a_rule_made_through_the_service_prices_the_next_same_game_parlay(desk, risk):
    legs = [desk.line(0, 223, 1714), desk.line(0, 225, 12)]
    assert desk.ask(legs)[1] == "declined"
    mappings.create_correlation_rule(
        actor=risk, values={"class_a": "total_over", "class_b": "hcp_home", "factor": "1.05"}, reason="same game"
    )
    desk.quotes.line_index.invalidate()
    parlay_id, outcome = desk.ask(legs)
    assert outcome == "quoted"
    assert QuoteRequest.objects.get(parlay_id=parlay_id).correlation_factor == Decimal("1.05000000")


def test_the_automatic_mappings_of_an_event_follow_its_mapping(risk):
    event = PxEvent.objects.create(sport_event_id=77, name="Lions vs. Tigers", event_urn="sr:match:1")
    auto = [
        LineMapping.objects.create(
            **{**LINE, "line_id": f"auto-{n}", "event_urn": "sr:match:1"},
            px_sport_event_id=77,
            source=LineMapping.Source.AUTO,
        )
        for n in range(2)
    ]
    staff = LineMapping.objects.create(**{**LINE, "event_urn": "sr:match:1"}, px_sport_event_id=77)
    other = LineMapping.objects.create(
        **{**LINE, "line_id": "other", "event_urn": "sr:match:9"}, px_sport_event_id=9, source=LineMapping.Source.AUTO
    )
    mappings.map_event(actor=risk, px_event_id=event.pk, event_urn="sr:match:2", reason="mapped to the wrong match")
    urns = dict(LineMapping.objects.values_list("line_id", "event_urn"))
    assert urns == {"auto-0": "sr:match:2", "auto-1": "sr:match:2", "px-line-1": "sr:match:1", "other": "sr:match:9"}
    moved = AuditLog.objects.filter(action="line_mapping.change").order_by("id")
    assert [row.object_id for row in moved] == [str(row.pk) for row in auto]
    assert moved[0].data == {
        "before": {"event_urn": "sr:match:1"},
        "after": {"event_urn": "sr:match:2"},
        "event_mapping": 77,
    }
    assert set(moved.values_list("reason", flat=True)) == {"mapped to the wrong match"}

    mappings.map_event(actor=risk, px_event_id=event.pk, event_urn="", reason="not on the feed")
    enabled = dict(LineMapping.objects.values_list("line_id", "enabled"))
    assert enabled == {"auto-0": False, "auto-1": False, "px-line-1": True, "other": True}
    disabled = AuditLog.objects.filter(action="line_mapping.change", reason="not on the feed")
    assert disabled.count() == 2 and disabled[0].data["after"] == {"enabled": False}
    staff.refresh_from_db()
    other.refresh_from_db()
    assert (staff.event_urn, other.event_urn) == ("sr:match:1", "sr:match:9")

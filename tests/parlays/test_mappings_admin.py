"""The mapping pages: every add, change, toggle and delete asks for a reason and goes through
parlays.services.mappings; the audit log links each row to its object."""

from __future__ import annotations

import pytest
from django.urls import reverse

from parlays.models import CorrelationRule, LineMapping, PxEvent
from parlays.services import mappings
from tests.factories import user_with
from wallet.admin import audit_object_link
from wallet.models import AuditLog

pytestmark = pytest.mark.django_db

LINES = "admin:parlays_linemapping_changelist"
LINE = {
    "line_id": "px-line-1",
    "event_urn": "sr:match:11",
    "market_id": "18",
    "specifiers": "total=2.5",
    "outcome_id": "12",
    "correlation_class": "total_over",
    "enabled": "on",
}


@pytest.fixture
def rita(client):
    user = user_with("Risk")
    client.force_login(user)
    return user


def make_lines(actor, count: int) -> list[LineMapping]:
    return [
        mappings.create_line_mapping(
            actor=actor, values={**LINE, "line_id": f"px-{n}", "enabled": True}, reason="mapped by hand"
        )
        for n in range(count)
    ]


def test_adding_a_line_mapping_requires_a_reason(client, rita):
    response = client.post(reverse("admin:parlays_linemapping_add"), LINE)
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not LineMapping.objects.exists() and not AuditLog.objects.exists()
    response = client.post(reverse("admin:parlays_linemapping_add"), {**LINE, "reason": "ProphetX lists it"})
    assert response.status_code == 302
    row = LineMapping.objects.get()
    audit = AuditLog.objects.get(action="line_mapping.create")
    assert (audit.actor, audit.reason, audit.object_id) == (rita, "ProphetX lists it", str(row.pk))


def test_the_change_form_shows_what_the_service_refuses_and_stores_nothing(client, rita):
    row = make_lines(rita, 1)[0]
    url = reverse("admin:parlays_linemapping_change", args=[row.pk])
    page = client.get(url).content.decode()
    assert 'name="reason"' in page and "line_mapping.create" in page  # the row's audit trail
    response = client.post(url, {**LINE, "line_id": "px-0", "event_urn": "Lions v Tigers", "reason": "fix the urn"})
    assert response.status_code == 200 and "a UOF event urn" in response.content.decode()
    response = client.post(url, {**LINE, "line_id": "other", "reason": "another line"})
    assert response.status_code == 200
    row.refresh_from_db()
    assert (row.line_id, row.event_urn) == ("px-0", "sr:match:11")  # line_id is fixed on the form
    assert not AuditLog.objects.filter(action="line_mapping.change").exists()


def test_bulk_enable_and_disable_ask_for_one_reason_and_audit_each_mapping(client, rita):
    rows = make_lines(rita, 3)
    action = {"action": "disable", "_selected_action": [r.pk for r in rows]}
    page = client.post(reverse(LINES), action)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert LineMapping.objects.filter(enabled=True).count() == 3
    client.post(reverse(LINES), {**action, "_confirm": "1", "reason": ""})
    assert LineMapping.objects.filter(enabled=True).count() == 3
    response = client.post(reverse(LINES), {**action, "_confirm": "1", "reason": "match abandoned"}, follow=True)
    assert "3 line(s) disabled" in response.content.decode()
    assert not LineMapping.objects.filter(enabled=True).exists()
    audits = AuditLog.objects.filter(action="line_mapping.disable", actor=rita, reason="match abandoned")
    assert sorted(audits.values_list("object_id", flat=True)) == sorted(str(r.pk) for r in rows)

    enable = {"action": "enable", "_selected_action": [rows[0].pk], "_confirm": "1", "reason": "back on"}
    client.post(reverse(LINES), enable)
    assert list(LineMapping.objects.filter(enabled=True)) == [rows[0]]
    assert AuditLog.objects.filter(action="line_mapping.enable").count() == 1


def test_deleting_asks_for_a_reason_and_refuses_a_registered_line_for_the_whole_batch(client, rita):
    rows = make_lines(rita, 2)
    assert client.get(reverse("admin:parlays_linemapping_delete", args=[rows[0].pk])).status_code == 403
    listing = client.get(reverse(LINES)).content.decode()
    assert "delete_with_reason" in listing and "delete_selected" not in listing
    LineMapping.objects.filter(pk=rows[1].pk).update(registered=True)
    delete = {"action": "delete_with_reason", "_selected_action": [r.pk for r in rows], "_confirm": "1"}
    response = client.post(reverse(LINES), {**delete, "reason": "wrong lines"}, follow=True)
    assert "registered with ProphetX" in response.content.decode()
    assert LineMapping.objects.count() == 2 and not AuditLog.objects.filter(action="line_mapping.delete").exists()
    LineMapping.objects.filter(pk=rows[1].pk).update(registered=False)
    client.post(reverse(LINES), {**delete, "reason": "wrong lines"})
    assert not LineMapping.objects.exists()
    assert AuditLog.objects.filter(action="line_mapping.delete", reason="wrong lines").count() == 2


def test_correlation_rules_and_event_mappings_go_through_the_service(client, rita):
    add = reverse("admin:parlays_correlationrule_add")
    response = client.post(add, {"class_a": "winner_home", "class_b": "total_over", "factor": "1.1"})
    assert response.status_code == 200 and not CorrelationRule.objects.exists()
    client.post(add, {"class_a": "winner_home", "class_b": "total_over", "factor": "1.1", "reason": "same game"})
    rule = CorrelationRule.objects.get()
    assert (rule.class_a, rule.class_b) == ("total_over", "winner_home")
    rules = reverse("admin:parlays_correlationrule_changelist")
    delete = {"action": "delete_with_reason", "_selected_action": [rule.pk], "_confirm": "1", "reason": "not needed"}
    client.post(rules, delete)
    assert not CorrelationRule.objects.exists()
    assert AuditLog.objects.get(action="correlation_rule.delete").reason == "not needed"

    event = PxEvent.objects.create(sport_event_id=7, name="Lions vs. Tigers")
    assert client.get(reverse("admin:parlays_pxevent_add")).status_code == 403  # ProphetX seeds events
    url = reverse("admin:parlays_pxevent_change", args=[event.pk])
    assert "Lions vs. Tigers" in client.get(url).content.decode()
    assert client.post(url, {"event_urn": "sr:match:7"}).status_code == 200  # no reason
    client.post(url, {"event_urn": "sr:match:7", "reason": "same fixture"})
    event.refresh_from_db()
    assert event.event_urn == "sr:match:7"


def test_support_reads_the_pages_and_cannot_change_them(client, rita):
    row = make_lines(rita, 1)[0]
    client.force_login(user_with("Support"))
    url = reverse("admin:parlays_linemapping_change", args=[row.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="reason"' not in page.content.decode()
    assert client.post(url, {**LINE, "note": "x", "reason": "let me in"}).status_code == 403
    assert 'name="action"' not in client.get(reverse(LINES)).content.decode()
    row.refresh_from_db()
    assert row.note == ""


def test_the_audit_log_links_each_row_to_its_object(client, rita):
    row = make_lines(rita, 1)[0]
    rule = mappings.create_correlation_rule(actor=rita, values={"class_a": "a", "class_b": "b"}, reason="same game")
    event = PxEvent.objects.create(sport_event_id=7, name="Lions vs. Tigers")
    mappings.map_event(actor=rita, px_event_id=event.pk, event_urn="sr:match:7", reason="same fixture")
    for action, model, obj in [
        ("line_mapping.create", "linemapping", row),
        ("correlation_rule.create", "correlationrule", rule),
        ("event_mapping.change", "pxevent", event),
    ]:
        link = audit_object_link(AuditLog.objects.get(action=action))
        assert reverse(f"admin:parlays_{model}_change", args=[obj.pk]) in link, action
    assert client.get(reverse("admin:wallet_auditlog_changelist")).status_code == 200

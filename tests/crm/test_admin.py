"""Staff see the outbox and its lag; retry and skip are audited; /metrics carries the lag."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from crm.models import OutboxEvent
from crm.selectors import outbox_stats
from crm.services import deliver_pending
from tests.crm.conftest import SELECTION, place, rows, settle
from tests.factories import fund, make_player
from wallet.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("sam", "sam@example.com", "pw")
    client.force_login(user)
    return user


@pytest.fixture
def alice():
    player = make_player("alice")
    fund(player, "100.00")
    placed = place(player, "10.00", "b-1", odds=Decimal("2"), selections=[SELECTION])
    settle(placed.bet.pk, "20.00", "won")
    return player


def test_lag_is_the_age_of_the_oldest_event_not_delivered(alice):
    OutboxEvent.objects.update(occurred_at=timezone.now() - timedelta(seconds=42))
    stats = outbox_stats()
    assert (stats.pending, stats.dead) == (2, 0)
    assert 41 < stats.lag_seconds < 60
    assert stats.oldest_activity_id == rows()[0].activity_id


def test_no_lag_when_everything_is_delivered(alice, rest):
    deliver_pending(transport=rest)
    assert outbox_stats().lag_seconds == 0 and outbox_stats().pending == 0


def test_changelist_shows_status_attempts_error_and_lag(client, staff, alice, simulator, rest):
    simulator.fail_with(400, count=1)
    deliver_pending(transport=rest)
    response = client.get(reverse("admin:crm_outboxevent_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="crm-outbox-lag"' in page and "dead 1 blocking 1 player(s)" in page
    assert "HTTP 400" in page and rows()[0].activity_id in page


def test_list_columns_say_event_status_attempts_and_delivery_delay_in_words(client, staff, alice, simulator, rest):
    from django.contrib.admin.sites import site

    from crm.admin import OutboxEventAdmin

    admin = OutboxEventAdmin(OutboxEvent, site)
    bet, settlement = rows()
    assert admin.event(bet) == "Bet" and admin.event(settlement) == "Settlement"
    settlement.event_status = OutboxEvent.EventStatus.ROLLBACK
    assert admin.event(settlement) == "Settlement rollback"
    assert admin.state(bet) == "Pending" and admin.delivered_after(bet) == "-"

    simulator.fail_with(400, count=1)
    deliver_pending(transport=rest)
    dead = OutboxEvent.objects.get(status=OutboxEvent.Status.DEAD)
    assert admin.state(dead) == "Dead letter (1 attempt)"
    dead.attempts = 3
    assert admin.state(dead) == "Dead letter (3 attempts)"

    OutboxEvent.objects.filter(pk=settlement.pk).update(
        status=OutboxEvent.Status.DELIVERED, attempts=1, delivered_at=settlement.occurred_at + timedelta(seconds=0.42)
    )
    delivered = OutboxEvent.objects.get(pk=settlement.pk)
    assert admin.state(delivered) == "Delivered"
    cell = admin.delivered_after(delivered)
    assert ">after 0.4 s<" in cell and 'title="20' in cell and ' UTC"' in cell
    delivered.delivered_at = delivered.occurred_at + timedelta(minutes=5)
    assert ">after 5 min<" in admin.delivered_after(delivered)
    delivered.delivered_at = delivered.occurred_at + timedelta(hours=3)
    assert ">after 3.0 h<" in admin.delivered_after(delivered)
    page = client.get(reverse("admin:crm_outboxevent_changelist")).content.decode()
    assert "Dead letter (1 attempt)" in page and "after 0.4 s" in page


def test_search_finds_events_by_activity_player_or_bet_id_exactly(client, staff, alice):
    bob = make_player("bob")
    fund(bob, "50.00")
    place(bob, "5.00", "b-2", odds=Decimal("2"), selections=[SELECTION])
    url = reverse("admin:crm_outboxevent_changelist")

    def found(term: str) -> set[str]:
        response = client.get(url, {"q": term})
        assert response.status_code == 200
        return {row.activity_id for row in response.context["cl"].result_list}

    alice_rows = {r.activity_id for r in rows(player=alice)}
    bet_row = rows(player=alice, event_type="Bet")[0].activity_id
    assert len(alice_rows) == 2
    assert found(bet_row) == {bet_row}
    assert found(f"  {bet_row} ") == {bet_row}
    assert found("alice") == alice_rows
    assert found("b-1") == alice_rows  # the bet and its settlement
    assert found("b-2") == {r.activity_id for r in rows(player=bob)}
    assert found(bet_row[:-1]) == set()  # exact, not a substring
    assert found(bet_row.upper()) == set()
    assert "exactly as written" in client.get(url).content.decode()


def test_detail_page_shows_the_payload(client, staff, alice, rest):
    deliver_pending(transport=rest)
    row = rows()[1]
    response = client.get(reverse("admin:crm_outboxevent_change", args=[row.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "as sent" in page and "reference_bet_amount" in page
    assert "Save" not in page  # view only


def test_detail_page_previews_an_unsent_payload(client, staff, alice):
    response = client.get(reverse("admin:crm_outboxevent_change", args=[rows()[0].pk]))
    assert "preview: not sent yet" in response.content.decode()


def test_admin_retry_and_skip_are_audited(client, staff, alice, simulator, rest):
    simulator.fail_with(400, count=1)
    deliver_pending(transport=rest)
    dead = rows()[0]
    url = reverse("admin:crm_outboxevent_changelist")

    asked = client.post(url, {"action": "skip_events", "_selected_action": [dead.pk]})
    assert b"bulk-reason-form" in asked.content  # staff type why before anything changes
    dead.refresh_from_db()
    assert dead.status == OutboxEvent.Status.DEAD
    reason = "Fast Track rejects this payload"
    client.post(url, {"action": "skip_events", "_selected_action": [dead.pk], "_confirm": "1", "reason": reason})
    dead.refresh_from_db()
    assert dead.status == OutboxEvent.Status.SKIPPED
    log = AuditLog.objects.get(action="crm.outbox.skip")
    assert (log.actor_id, log.object_id, log.reason) == (staff.pk, str(dead.pk), reason)

    client.post(url, {"action": "retry_events", "_selected_action": [dead.pk], "_confirm": "1", "reason": "fixed now"})
    assert AuditLog.objects.filter(action="crm.outbox.retry", actor=staff).count() == 1
    deliver_pending(transport=rest)
    assert {r.status for r in rows()} == {OutboxEvent.Status.DELIVERED}


def test_status_endpoint_for_dashboards(client, staff, alice):
    response = client.get("/api/crm/outbox/status")
    assert response.status_code == 200
    assert response.json()["pending"] == 2 and response.json()["lag_seconds"] >= 0
    assert response.json()["unavailable_seconds"] == 0  # Fast Track is not known to be down


def test_status_endpoint_is_staff_only(client, alice):
    assert client.get("/api/crm/outbox/status").status_code in (401, 403)


def test_metrics_expose_the_lag(client, alice):
    page = client.get("/metrics").content.decode()
    assert "touchline_crm_outbox_lag_seconds" in page
    assert 'touchline_crm_outbox_open{status="pending"} 2.0' in page

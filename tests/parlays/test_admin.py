"""The back office: every parlay page renders, mappings are editable, the book is read-only."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from parlays.models import LineMapping, Order, ReconciliationIssue

pytestmark = pytest.mark.django_db

PAGES = [
    "pxevent",
    "pxline",
    "linemapping",
    "correlationrule",
    "inboundmessage",
    "quoterequest",
    "confirmation",
    "order",
    "exposurereservation",
    "bookentry",
    "matchedorder",
    "parlaysettlement",
    "reconciliationissue",
    "listenerstate",
]


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("carol", "carol@example.com", "pw")
    client.force_login(user)
    return user


def test_every_page_renders_with_a_real_book(client, staff, desk):
    parlay_id, _ = desk.ask([desk.line(0, 219, 4), desk.line(1, 225, 12)])
    odds = desk.offers()[0]["odds"]
    order_uuid, _ = desk.confirm(parlay_id, odds, "100")
    desk.finalize(parlay_id, order_uuid, odds, "120")  # flagged: above accepted
    desk.settle(parlay_id, order_uuid, "won", "20")
    for page in PAGES:
        response = client.get(reverse(f"admin:parlays_{page}_changelist"))
        assert response.status_code == 200, page
    order = Order.objects.get()
    assert client.get(reverse("admin:parlays_order_change", args=[order.pk])).status_code == 200
    assert b"realised P&L" in client.get(reverse("admin:parlays_order_changelist")).content


def test_staff_resolve_issues_and_clear_review_flags(client, staff, desk):
    parlay_id, _ = desk.ask([desk.line(0, 219, 4), desk.line(1, 225, 12)])
    odds = desk.offers()[0]["odds"]
    order_uuid, _ = desk.confirm(parlay_id, odds, "100")
    desk.finalize(parlay_id, order_uuid, odds, "120")
    order = Order.objects.get()
    assert order.needs_review
    client.post(reverse("admin:parlays_order_changelist"), {"action": "mark_reviewed", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert not order.needs_review and "reviewed by carol" in order.review_note
    issue = ReconciliationIssue.objects.get()
    client.post(
        reverse("admin:parlays_reconciliationissue_changelist"), {"action": "resolve", "_selected_action": [issue.pk]}
    )
    issue.refresh_from_db()
    assert issue.resolved and issue.resolved_by == staff


def test_book_records_cannot_be_edited(client, staff, desk):
    assert client.get(reverse("admin:parlays_bookentry_add")).status_code == 403
    assert client.get(reverse("admin:parlays_order_add")).status_code == 403


def test_disabling_a_line_mapping_asks_for_a_reason(client, staff, desk):
    mapping = LineMapping.objects.first()
    action = {"action": "disable", "_selected_action": [mapping.pk]}
    page = client.post(reverse("admin:parlays_linemapping_changelist"), action)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    mapping.refresh_from_db()
    assert mapping.enabled
    client.post(reverse("admin:parlays_linemapping_changelist"), {**action, "_confirm": "1", "reason": "bad prices"})
    mapping.refresh_from_db()
    assert not mapping.enabled

"""What each staff role can see and do, in the admin and through the services behind it.

Support reads every app (players, bets, feed state, parlays, the Fast Track outbox) and moves
no money; Risk also requests corrections and manages player status, line mappings, event
mappings, correlation rules and the book's exposure limits; Finance also approves money; Admin
does everything."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from parlays.models import CorrelationRule, ExposureLimit, LineMapping, PxEvent
from parlays.services import limits
from tests.factories import fund, make_player, user_with
from wallet.errors import PermissionDenied
from wallet.models import AuditLog, Player, ReviewItem, Settlement, StaffRequest
from wallet.selectors import wallet_get
from wallet.services import backoffice, postings, reviews

pytestmark = pytest.mark.django_db

READ_EVERYWHERE = [
    "wallet:player",
    "wallet:bet",
    "wallet:settlement",
    "wallet:ledgertransaction",
    "wallet:reviewitem",
    "wallet:auditlog",
    "feeds:producer",
    "feeds:sportevent",
    "feeds:market",
    "parlays:quoterequest",
    "parlays:order",
    "parlays:linemapping",
    "parlays:correlationrule",
    "parlays:exposurelimit",
    "crm:outboxevent",
]


@pytest.fixture
def step():
    alice = make_player("alice")
    fund(alice, "500")
    with transaction.atomic():
        bet = postings.bet_place_apply(
            provider="test", external_id="r1", wallet=wallet_get(external_id="alice", currency="EUR"), amount=Decimal(5)
        ).bet
    with transaction.atomic():
        postings.bet_settle_apply(bet_id=bet.pk, amount=Decimal("10"), result="won")
    with transaction.atomic():
        postings.bet_settle_apply(bet_id=bet.pk, amount=Decimal("200"), result="won")  # a re-settle: queued
    return Settlement.objects.filter(bet=bet).order_by("-id").first()


def changelist(model: str) -> str:
    app, name = model.split(":")
    return reverse(f"admin:{app}_{name}_changelist")


@pytest.mark.parametrize("role", ["Support", "Risk", "Finance", "Admin"])
def test_every_role_reads_every_app(client, role, step):
    client.force_login(user_with(role))
    for model in READ_EVERYWHERE:
        assert client.get(changelist(model)).status_code == 200, model
    index = client.get(reverse("admin:index")).content.decode()
    for app in ("Wallet and ledger", "Betradar odds feed", "ProphetX parlays", "Fast Track CRM export"):
        assert app in index
    # The staff APIs (session or token): the outbox status every dashboard reads, and the dashboard.
    assert client.get("/api/crm/outbox/status").status_code == 200
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_user_without_a_staff_role_reads_nothing(client, step):
    outsider = get_user_model().objects.create_user("outsider", password="pw")
    client.force_login(outsider)
    assert client.get("/api/crm/outbox/status").status_code == 403
    assert client.get(changelist("wallet:player")).status_code == 302  # to the login page


def test_support_sees_no_money_moving_button_and_is_refused_by_the_services(client, step):
    sam = user_with("Support")
    client.force_login(sam)
    bet_page = client.get(reverse("admin:wallet_bet_change", args=[step.bet_id])).content.decode()
    assert "Request reversal" not in bet_page
    player_page = client.get(reverse("admin:wallet_player_change", args=[step.player_id])).content.decode()
    assert "request-adjustment" not in player_page and "change-status" not in player_page
    item = ReviewItem.objects.get()
    item_page = client.get(reverse("admin:wallet_reviewitem_change", args=[item.pk])).content.decode()
    assert "resolve-item" not in item_page and "request-reversal" not in item_page
    queue = client.get(changelist("wallet:reviewitem")).content.decode()
    assert "resolve_items" not in queue  # no bulk action offered
    assert client.get(reverse("admin:wallet_player_add")).status_code == 403
    assert client.get(reverse("admin:wallet_player_status", args=[step.player_id])).status_code == 403
    assert client.get(reverse("admin:parlays_linemapping_add")).status_code == 403
    for model in ("feeds:producer", "feeds:sportevent", "feeds:feedmessage", "parlays:linemapping", "parlays:order"):
        listing = client.get(changelist(model))
        assert listing.status_code == 200 and 'name="action"' not in listing.content.decode(), model

    with pytest.raises(PermissionDenied):
        backoffice.reversal_request(settlement_id=step.pk, reason="support is sure", actor=sam)
    with pytest.raises(PermissionDenied):
        reviews.review_item_resolve(item_id=item.pk, actor=sam, resolution="support closes it")
    assert not StaffRequest.objects.exists()
    refused = set(AuditLog.objects.filter(actor=sam).values_list("action", flat=True))
    assert {"permission.refused", "reversal.request.refused", "review.resolve.refused"} <= refused


def test_risk_requests_manages_status_and_mappings_but_cannot_approve(client, step):
    rita = user_with("Risk")
    client.force_login(rita)
    bet_page = client.get(reverse("admin:wallet_bet_change", args=[step.bet_id])).content.decode()
    assert f"request-reversal-{step.pk}" in bet_page
    assert client.get(reverse("admin:parlays_linemapping_add")).status_code == 200
    assert client.get(reverse("admin:parlays_correlationrule_add")).status_code == 200
    response = client.post(
        reverse("admin:wallet_player_status", args=[step.player_id]),
        {"status": "blocked", "reason": "chargeback under investigation"},
    )
    assert response.status_code == 302
    assert Player.objects.get().status == "blocked"
    assert AuditLog.objects.get(action="player.status").reason == "chargeback under investigation"

    request = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result from provider", actor=rita)
    page = client.get(reverse("admin:wallet_staffrequest_change", args=[request.pk])).content.decode()
    assert "approve-request" not in page
    with pytest.raises(PermissionDenied):
        backoffice.staff_request_approve(request_id=request.pk, actor=rita)


def test_finance_approves_another_persons_request_but_not_its_own_large_one(client, step):
    rita, fiona = user_with("Risk"), user_with("Finance")
    big = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result from provider", actor=fiona)
    client.force_login(fiona)
    page = client.get(reverse("admin:wallet_staffrequest_change", args=[big.pk])).content.decode()
    assert "approve-request" not in page  # 190 EUR moves: above four eyes, and it is hers
    assert "A second person must approve" in page
    backoffice.staff_request_reject(request_id=big.pk, actor=fiona, note="asked Risk to raise it")
    again = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result from provider", actor=rita)
    page = client.get(reverse("admin:wallet_staffrequest_change", args=[again.pk])).content.decode()
    assert "approve-request" in page
    backoffice.staff_request_approve(request_id=again.pk, actor=fiona, note="checked the feed")
    assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("505")  # 500 - 5 + 10


def test_admin_has_every_permission(step):
    from django.contrib.auth.models import Permission

    admin_user = user_with("Admin")
    assert all(admin_user.has_perm(f"{p.content_type.app_label}.{p.codename}") for p in Permission.objects.all())


def test_extra_role_permissions_from_apps_are_granted(step):
    backoffice.EXTRA_ROLE_PERMISSIONS.setdefault("Risk", []).append("feeds.change_sportevent")
    try:
        assert user_with("Risk").has_perm("feeds.change_sportevent")
        assert not user_with("Support").has_perm("feeds.change_sportevent")
    finally:
        backoffice.EXTRA_ROLE_PERMISSIONS["Risk"].remove("feeds.change_sportevent")


# --- ProphetX: exposure limits, line and event mappings, correlation rules --------------------


@pytest.mark.parametrize(
    ("role", "may_change"), [("Support", False), ("Risk", True), ("Finance", False), ("Admin", True)]
)
def test_exposure_limits_are_read_by_every_role_and_changed_by_risk_and_admin(client, role, may_change):
    user = user_with(role)
    client.force_login(user)
    keeper = user if may_change else user_with("Risk")
    row = limits.set_exposure_limit(actor=keeper, scope="event", key="sr:match:9", amount="800", reason="set by risk")
    listing = client.get(changelist("parlays:exposurelimit"))
    assert listing.status_code == 200
    assert "800.00 USD" in listing.content.decode()
    assert ("Add exposure limit" in listing.content.decode()) == may_change
    assert ('name="action"' in listing.content.decode()) == may_change  # removal needs a reason and the role
    change_url = reverse("admin:parlays_exposurelimit_change", args=[row.pk])
    page = client.get(change_url)
    assert page.status_code == 200 and ('name="reason"' in page.content.decode()) == may_change
    assert client.get(reverse("admin:parlays_exposurelimit_add")).status_code == (200 if may_change else 403)
    response = client.post(change_url, {"amount": "100", "reason": "lower it now, please"})
    row.refresh_from_db()
    if may_change:
        assert response.status_code == 302 and row.amount == Decimal("100") and row.updated_by == user
    else:
        assert response.status_code == 403 and row.amount == Decimal("800")
        assert AuditLog.objects.filter(actor=user, action="permission.refused").exists()
        with pytest.raises(PermissionDenied):
            limits.set_exposure_limit(actor=user, scope="event", key="sr:match:9", amount="1", reason="via a shell")
        assert AuditLog.objects.filter(actor=user, action="exposure_limit.set.refused").exists()
    assert ExposureLimit.objects.count() == 1


def test_risk_edits_line_mappings_event_mappings_and_correlation_rules_in_the_admin(client):
    client.force_login(user_with("Risk"))
    response = client.post(
        reverse("admin:parlays_linemapping_add"),
        {
            "line_id": "px-line-1",
            "event_urn": "sr:match:11",
            "market_id": "18",
            "specifiers": "total=2.5",
            "outcome_id": "12",
            "correlation_class": "total_over",
            "source": "manual",
            "enabled": "on",
            "note": "mapped by hand",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    mapping = LineMapping.objects.get(line_id="px-line-1")
    changed = {
        "line_id": "px-line-1",
        "event_urn": "sr:match:11",
        "market_id": "18",
        "specifiers": "total=3.5",
        "outcome_id": "12",
        "source": "manual",
        "note": "line moved",
    }
    response = client.post(reverse("admin:parlays_linemapping_change", args=[mapping.pk]), changed)
    assert response.status_code == 302
    mapping.refresh_from_db()
    assert (mapping.specifiers, mapping.enabled) == ("total=3.5", False)

    response = client.post(
        reverse("admin:parlays_correlationrule_add"),
        {"class_a": "total_over", "class_b": "winner_home", "factor": "1.12", "note": "same game"},
    )
    assert response.status_code == 302
    rule = CorrelationRule.objects.get()
    response = client.post(
        reverse("admin:parlays_correlationrule_change", args=[rule.pk]),
        {"class_a": "total_over", "class_b": "winner_home", "factor": "1.2", "blocked": "on", "note": "nested"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.factor, rule.blocked) == (Decimal("1.2"), True)

    event = PxEvent.objects.create(sport_event_id=77, name="Lions vs. Tigers")
    response = client.post(reverse("admin:parlays_pxevent_change", args=[event.pk]), {"event_urn": "sr:match:77"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.event_urn == "sr:match:77"

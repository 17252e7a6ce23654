"""The back office as staff use it all day: money read right on every page, players added
through the service, the queue triaged in bulk, reversals offered where staff stand, audit
rows that link to their object, and the small things (View site, offline API docs, 403s)."""

from __future__ import annotations

import logging
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from tests.factories import fund, make_player
from wallet import conf
from wallet.models import Account, AuditLog, Player, ReviewItem, Settlement
from wallet.selectors import wallet_get
from wallet.services import postings
from wallet.services.players import player_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def carol():
    """A crypto and fiat player: 0.00012345 BTC and 205.50 USD."""
    player = player_create(external_id="carol", currencies=["USD", "BTC"])
    fund(player, "205.50", currency="USD")
    fund(player, "0.00012345", currency="BTC")
    return player


def bet_with_history(player_id: str, currency: str = "EUR", stake: str = "5", *amounts: str):
    with transaction.atomic():
        bet = postings.bet_place_apply(
            provider="test",
            external_id=f"{player_id}-bet",
            wallet=wallet_get(external_id=player_id, currency=currency),
            amount=Decimal(stake),
        ).bet
    for amount in amounts:
        with transaction.atomic():
            postings.bet_settle_apply(bet_id=bet.pk, amount=Decimal(amount), result="won")
    return bet


# Eight decimals are a raw ledger value unless the currency has eight places (BTC, ETH…).
RAW_MONEY = re.compile(r"\d\.\d{8}(?!\d| (?:BTC|ETH|LTC|DOGE))|0E-8|E-\d")


def assert_no_raw_amounts(html: str) -> None:
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
    assert not RAW_MONEY.search(visible), RAW_MONEY.search(visible)


def test_player_list_and_page_read_btc_and_usd(admin_client, carol):
    listing = admin_client.get(reverse("admin:wallet_player_changelist")).content.decode()
    assert "0.00012345 BTC" in listing and "205.50 USD" in listing
    page = admin_client.get(reverse("admin:wallet_player_change", args=[carol.pk])).content.decode()
    assert "0.00012345 BTC" in page and "205.50 USD" in page
    assert_no_raw_amounts(page)


@pytest.mark.parametrize(
    "model",
    ["player", "account", "ledgertransaction", "ledgerentry", "bet", "settlement", "reviewitem", "staffrequest"]
    + ["debt", "auditlog"],
)
def test_no_page_shows_a_raw_ledger_amount(admin_client, model):
    alice = make_player("alice")
    fund(alice, "20")
    bet_with_history("alice", "EUR", "5", "1500", "10")
    listing = admin_client.get(reverse(f"admin:wallet_{model}_changelist"))
    assert listing.status_code == 200
    assert_no_raw_amounts(listing.content.decode())
    first = listing.context["cl"].result_list[0] if listing.context["cl"].result_list else None
    if first is not None:
        page = admin_client.get(reverse(f"admin:wallet_{model}_change", args=[first.pk]))
        assert page.status_code == 200
        assert_no_raw_amounts(page.content.decode())


def test_house_accounts_show_the_sum_of_their_entries(admin_client):
    alice = make_player("alice")
    fund(alice, "20")
    cash = Account.objects.get(kind=Account.Kind.CASH, currency="EUR")
    page = admin_client.get(reverse("admin:wallet_account_changelist"), {"kind__exact": "cash"}).content.decode()
    assert "-20.00 EUR" in page and cash.balance == 0  # the row keeps none; the page sums entries
    assert 'class="money money-neg"' in page


def test_add_player_goes_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:wallet_player_add"),
        {"external_id": "p-777", "currencies": ["EUR", "BTC"], "nickname": "Seven", "country": "MT"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    player = Player.objects.get(external_id="p-777")
    assert sorted(player.accounts.values_list("currency", flat=True)) == ["BTC", "EUR"]
    audit = AuditLog.objects.get(action="player.create")
    assert (audit.object_id, audit.actor_id) == (str(player.pk), admin_client.user.pk)
    empty = admin_client.post(reverse("admin:wallet_player_add"), {"external_id": "", "currencies": ["EUR"]})
    assert empty.status_code == 200 and Player.objects.count() == 1


def test_block_asks_for_a_typed_reason(admin_client):
    alice = make_player("alice")
    url = reverse("admin:wallet_player_changelist")
    asked = admin_client.post(url, {"action": "block_players", "_selected_action": [alice.pk]})
    assert b"bulk-reason-form" in asked.content
    assert Player.objects.get().status == "active"
    admin_client.post(
        url,
        {"action": "block_players", "_selected_action": [alice.pk], "_confirm": "1", "reason": "fraud ring match"},
    )
    assert Player.objects.get().status == "blocked"
    assert AuditLog.objects.get(action="player.status").reason == "fraud ring match"
    page = admin_client.get(reverse("admin:wallet_player_change", args=[alice.pk])).content.decode()
    assert "fraud ring match" in page  # the player's page shows why


def test_queue_bulk_resolve_and_assign_from_the_list(admin_client, monkeypatch):
    monkeypatch.setattr(conf, "REVIEW_LARGE_WIN_AMOUNT", Decimal("100"))
    for name in ("p1", "p2"):
        fund(make_player(name), "50")
        bet_with_history(name, "EUR", "5", "150")
    items = list(ReviewItem.objects.order_by("id"))
    url = reverse("admin:wallet_reviewitem_changelist")
    listing = admin_client.get(url, {"kind__exact": "large_win", "o": "-5"}).content.decode()
    assert "150.00 EUR" in listing and "p1-bet" in listing and "min" in listing
    admin_client.post(url, {"action": "assign_to_me", "_selected_action": [i.pk for i in items]})
    assert ReviewItem.objects.filter(assignee=admin_client.user).count() == 2
    mine = admin_client.get(url, {"assignee": "me"})
    assert mine.context["cl"].result_count == 2
    admin_client.post(
        url,
        {
            "action": "resolve_items",
            "_selected_action": [i.pk for i in items],
            "_confirm": "1",
            "reason": "limits checked, wins are fine",
        },
    )
    assert set(ReviewItem.objects.values_list("status", flat=True)) == {"resolved"}


def test_bet_page_links_each_step_and_offers_reversal_of_the_latest(admin_client):
    alice = make_player("alice")
    fund(alice, "20")
    bet = bet_with_history("alice", "EUR", "5", "10", "30")
    first, latest = Settlement.objects.filter(bet=bet).order_by("id")
    page = admin_client.get(reverse("admin:wallet_bet_change", args=[bet.pk])).content.decode()
    assert reverse("admin:wallet_settlement_change", args=[first.pk]) in page
    assert f"request-reversal-{latest.pk}" in page and f"request-reversal-{first.pk}" not in page
    assert "Settlement object" not in page

    form = admin_client.get(reverse("admin:wallet_settlement_reverse", args=[latest.pk])).content.decode()
    assert form.count("<h1>Request reversal of re-settle") == 1  # the title once, not twice
    summary = re.sub(r"<[^>]+>", "", form.split('id="reversal-summary"')[1].split("</div>")[0])
    assert "20.00 EUR from the player" in summary  # 30 back to 10
    assert "45.00 EUR → 25.00 EUR" in summary
    assert ("second person" in summary) == (Decimal(20) > conf.FOUR_EYES_AMOUNT)


def test_audit_rows_link_to_their_object(admin_client):
    player = player_create(external_id="linked", currencies=["EUR"], actor_id=admin_client.user.pk)
    page = admin_client.get(reverse("admin:wallet_auditlog_changelist")).content.decode()
    assert reverse("admin:wallet_player_change", args=[player.pk]) in page


def test_users_list_shows_roles_and_a_staff_page_shows_the_audit_trail(admin_client):
    from django.contrib.auth.models import Group

    from wallet.services.backoffice import roles_ensure

    roles_ensure()
    rita = get_user_model().objects.create_user("rita", password="pw", is_staff=True)
    rita.groups.add(Group.objects.get(name="Risk"))
    player = player_create(external_id="by-rita", currencies=["EUR"], actor_id=rita.pk)
    listing = admin_client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "Risk" in listing
    page = admin_client.get(reverse("admin:auth_user_change", args=[rita.pk])).content.decode()
    assert 'id="audit-trail"' in page and reverse("admin:wallet_player_change", args=[player.pk]) in page


def test_view_site_goes_to_the_dashboard_and_cards_link_to_lists(admin_client):
    from config import dashboard

    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'href="/admin/dashboard/"' in page
    cards = {m["key"]: m for s in dashboard.snapshot()["sections"] for m in s["metrics"]}
    assert cards["review_queue"]["url"] == reverse("admin:wallet_reviewitem_changelist") + "?status__exact=open"
    assert admin_client.get(cards["review_queue"]["url"]).status_code == 200
    today = admin_client.get(cards["review_today"]["url"])  # a refused lookup would redirect (?e=1)
    assert today.status_code == 200 and today.context["cl"].result_count == 0


def test_api_docs_are_served_from_our_own_static_files(client):
    import re

    for url in ("/api/docs/", "/api/redoc/"):
        response = client.get(url)
        html = response.content.decode()
        assert "cdn" not in html.lower() and "unpkg" not in html.lower() and "jsdelivr" not in html.lower()
        assert "/static/drf_spectacular_sidecar/" in html
        # Under the site's CSP like every other page, which forbids inline scripts.
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"{url} has an inline script"
    start = client.get("/api/docs/?script=")  # Swagger UI's start-up script, a file of its own
    assert start.status_code == 200 and start["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in start.content.decode()
    assert "worker-src 'self' blob:" in client.get("/api/redoc/")["Content-Security-Policy"]


def test_a_403_logs_one_line_and_an_audit_row(client, caplog):
    from config import logfilters

    logfilters._refusals._state.clear()
    sam = get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    client.force_login(sam)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert client.get(reverse("admin:wallet_player_add")).status_code == 403
        refusals = [r for r in caplog.records if getattr(r, "status_code", None) == 403]
        assert len(refusals) == 3 and all(r.exc_info for r in refusals)  # what Django hands the handlers
        # The handlers' filter drops each traceback and writes one line for the three.
        assert not any(logfilters.OneLineRefusals().filter(r) for r in refusals)
    lines = [r for r in caplog.records if r.name == "touchline.http"]
    assert len(lines) == 1 and not lines[0].exc_info
    assert lines[0].getMessage() == "Forbidden (Permission denied): /admin/wallet/player/add/"
    assert AuditLog.objects.filter(action="permission.refused", actor=sam).count() == 3

"""The review queue raises items only where a human must act, and staff can triage it: bulk
resolve with one note, assign to me; every refusal is audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from tests.factories import fund, make_player
from tests.wallet.test_backoffice import placed_bet, settle, staff
from wallet import conf
from wallet.errors import PermissionDenied
from wallet.models import AuditLog, ReviewItem
from wallet.selectors import wallet_get
from wallet.services import backoffice, postings, reviews

pytestmark = pytest.mark.django_db


@pytest.fixture
def floors(monkeypatch):
    monkeypatch.setattr(conf, "REVIEW_RESETTLE_MIN_AMOUNT", Decimal("50"))
    monkeypatch.setattr(conf, "REVIEW_UNSETTLE_MIN_AMOUNT", Decimal("50"))
    monkeypatch.setattr(conf, "REVIEW_ROLLBACK_MIN_AMOUNT", Decimal("50"))
    monkeypatch.setattr(conf, "REVIEW_LARGE_WIN_AMOUNT", Decimal("1000"))


def unsettle(bet):
    with transaction.atomic():
        return postings.bet_unsettle_apply(bet_id=bet.pk).settlement


def test_small_resettle_stays_in_the_bet_history_only(floors):
    _, bet = placed_bet(stake="10", deposit="100")
    settle(bet, "20")
    settle(bet, "30")  # moves 10: below the 50 floor
    assert not ReviewItem.objects.exists()
    assert bet.settlements.count() == 2


def test_large_resettle_is_queued_with_amount_currency_and_provider(floors):
    _, bet = placed_bet(stake="10", deposit="100")
    settle(bet, "20")
    settle(bet, "90")
    item = ReviewItem.objects.get()
    assert (item.kind, item.amount, item.currency, item.provider) == ("resettle", Decimal("70"), "EUR", "test")
    assert "20.00 EUR → 90.00 EUR" in item.summary


def test_unsettle_then_the_same_settle_closes_its_own_item(floors):
    _, bet = placed_bet(stake="10", deposit="100")
    settle(bet, "80")
    unsettle(bet)
    item = ReviewItem.objects.get()
    assert (item.kind, item.status, item.amount) == ("unsettle", "open", Decimal("-80"))
    settle(bet, "80")
    item.refresh_from_db()
    assert item.status == "resolved" and item.resolution == reviews.AUTO_CLOSED


def test_unsettle_then_a_different_settle_stays_open(floors):
    _, bet = placed_bet(stake="10", deposit="100")
    settle(bet, "80")
    unsettle(bet)
    settle(bet, "60")
    assert ReviewItem.objects.get(kind="unsettle").status == "open"


def test_small_unsettle_and_small_rollback_are_not_queued(floors):
    _, bet = placed_bet(stake="10", deposit="100")
    settle(bet, "20")
    unsettle(bet)
    with transaction.atomic():
        postings.bet_rollback_apply(bet_id=bet.pk)
    assert not ReviewItem.objects.exists()


def test_large_win_is_queued_whatever_the_floors(floors):
    _, bet = placed_bet(stake="10", deposit="100")
    settle(bet, "1000")
    item = ReviewItem.objects.get()
    assert (item.kind, item.amount) == ("large_win", Decimal("1000"))
    assert item.summary.endswith("pays 1,000.00 EUR")


@pytest.fixture
def queue(floors):
    items = []
    for n in range(3):
        player = make_player(f"p{n}")
        fund(player, "100")
        with transaction.atomic():
            wallet = wallet_get(external_id=f"p{n}", currency="EUR")
            bet = postings.bet_place_apply(provider="test", external_id=f"q{n}", wallet=wallet, amount=Decimal(10)).bet
        settle(bet, "20")
        settle(bet, "200")
        items.append(ReviewItem.objects.get(bet=bet))
    return items


def test_bulk_resolve_with_one_note_audits_each_item(queue):
    rita = staff("rita", "Risk")
    reviews.review_items_resolve(item_ids=[i.pk for i in queue], actor=rita, resolution="provider feed correction")
    assert set(ReviewItem.objects.values_list("status", flat=True)) == {"resolved"}
    assert AuditLog.objects.filter(action="review.resolve").count() == 3


def test_assign_to_me(queue):
    rita = staff("rita", "Risk")
    assert reviews.review_items_assign(item_ids=[queue[0].pk, queue[1].pk], actor=rita) == 2
    assert ReviewItem.objects.filter(assignee=rita).count() == 2
    assert reviews.review_items_assign(item_ids=[queue[0].pk], actor=rita) == 0  # already hers


def test_refused_attempts_are_audited(queue):
    sam = staff("sam", "Support")
    with pytest.raises(PermissionDenied):
        reviews.review_items_resolve(item_ids=[queue[0].pk], actor=sam, resolution="support closes it")
    with pytest.raises(PermissionDenied):
        backoffice.reversal_request(settlement_id=queue[0].settlement_id, reason="support wants it", actor=sam)
    refused = AuditLog.objects.filter(action__endswith=".refused").order_by("id")
    assert [r.action for r in refused] == ["review.resolve.refused", "reversal.request.refused"]
    assert refused[1].object_type == "wallet.Settlement" and refused[1].object_id == str(queue[0].settlement_id)
    assert all(r.actor_id == sam.pk for r in refused)
    assert ReviewItem.objects.filter(status="open").count() == 3


def test_refused_self_approval_above_four_eyes_is_audited(queue, monkeypatch):
    monkeypatch.setattr(conf, "FOUR_EYES_AMOUNT", Decimal("100"))
    fiona = staff("fiona", "Finance")
    request = backoffice.reversal_request(settlement_id=queue[0].settlement_id, reason="wrong result", actor=fiona)
    assert not backoffice.may_decide(request, fiona)
    with pytest.raises(PermissionDenied):
        backoffice.staff_request_approve(request_id=request.pk, actor=fiona)
    row = AuditLog.objects.get(action="request.approve.refused")
    assert (row.object_type, row.object_id, row.actor_id) == ("wallet.StaffRequest", str(request.pk), fiona.pk)
    assert "second person" in row.reason

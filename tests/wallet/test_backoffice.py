"""Staff money actions: roles, four eyes, reversals of every kind of step, the review queue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from tests.factories import balance, fund, make_player
from wallet import events
from wallet.errors import InsufficientFunds, InvalidRequest, NotReversible, PermissionDenied
from wallet.models import AuditLog, Bet, ReviewItem, Settlement, StaffRequest
from wallet.selectors import wallet_get
from wallet.services import backoffice, postings, reviews, transfers

pytestmark = pytest.mark.django_db


def staff(name: str, role: str):
    backoffice.roles_ensure()
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def sam():  # support
    return staff("sam", "Support")


@pytest.fixture
def rita():  # risk
    return staff("rita", "Risk")


@pytest.fixture
def fiona():  # finance
    return staff("fiona", "Finance")


@pytest.fixture
def frank():  # finance, the second pair of eyes
    return staff("frank", "Finance")


@pytest.fixture
def captured():
    seen: list[events.WalletEvent] = []
    events.subscribe(seen.append)
    yield seen
    events.unsubscribe(seen.append)


def placed_bet(player="alice", stake="5", deposit="20"):
    alice = make_player(player)
    fund(alice, deposit)
    with transaction.atomic():
        wallet = wallet_get(external_id=player, currency="EUR")
        return alice, postings.bet_place_apply(
            provider="test", external_id="b1", wallet=wallet, amount=Decimal(stake)
        ).bet


def settle(bet, amount, result="won"):
    with transaction.atomic():
        return postings.bet_settle_apply(bet_id=bet.pk, amount=Decimal(amount), result=result).settlement


def reverse_via_four_eyes(step, requester, approver):
    request = backoffice.reversal_request(
        settlement_id=step.pk, reason="provider confirmed wrong result", actor=requester
    )
    return backoffice.staff_request_approve(request_id=request.pk, actor=approver, note="checked the feed")


def test_support_cannot_request_a_reversal(sam):
    alice, bet = placed_bet()
    step = settle(bet, "10")
    with pytest.raises(PermissionDenied):
        backoffice.reversal_request(settlement_id=step.pk, reason="looks wrong to me", actor=sam)


def test_risk_requests_but_cannot_approve(rita):
    alice, bet = placed_bet()
    step = settle(bet, "10")
    request = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result", actor=rita)
    with pytest.raises(PermissionDenied):
        backoffice.staff_request_approve(request_id=request.pk, actor=rita)
    assert StaffRequest.objects.get().status == "pending"


def test_requester_cannot_approve_own_request_above_threshold(fiona, frank, settings):
    alice, bet = placed_bet(stake="100", deposit="200")
    step = settle(bet, "250")  # moves 250 > FOUR_EYES_AMOUNT (100)
    request = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result", actor=fiona)
    with pytest.raises(PermissionDenied, match="second person"):
        backoffice.staff_request_approve(request_id=request.pk, actor=fiona)
    backoffice.staff_request_approve(request_id=request.pk, actor=frank)
    assert balance(alice) == Decimal("100")


def test_small_reversal_may_be_approved_by_its_requester(fiona):
    alice, bet = placed_bet()
    step = settle(bet, "10")  # moves 10 <= 100
    reverse_via_four_eyes(step, fiona, fiona)
    assert balance(alice) == Decimal("15")


def test_reversal_of_a_won_bet(rita, fiona, captured):
    alice, bet = placed_bet()
    step = settle(bet, "10")
    assert balance(alice) == Decimal("25")
    request = reverse_via_four_eyes(step, rita, fiona)
    bet.refresh_from_db()
    assert balance(alice) == Decimal("15")
    assert (bet.status, bet.payout) == ("open", 0)
    assert [s.kind for s in bet.settlements.all()] == ["settle", "reversal"]
    assert request.status == "applied" and request.transaction_id is not None
    assert {a.action for a in AuditLog.objects.all()} >= {"reversal.request", "reversal.approve"}
    assert captured[-1].kind == events.BET_REVERSED and captured[-1].bet_id == bet.pk


def test_reversal_of_a_lost_bet_reopens_it(rita, fiona):
    alice, bet = placed_bet()
    step = settle(bet, "0", "lost")
    reverse_via_four_eyes(step, rita, fiona)
    bet.refresh_from_db()
    assert balance(alice) == Decimal("15") and bet.status == "open"


def test_reversal_of_a_resettlement_restores_the_earlier_payout(rita, fiona):
    alice, bet = placed_bet()
    settle(bet, "10")
    step = settle(bet, "5", "refund")
    assert balance(alice) == Decimal("20")
    reverse_via_four_eyes(step, rita, fiona)
    bet.refresh_from_db()
    assert balance(alice) == Decimal("25")
    assert (bet.status, bet.payout, bet.result) == ("settled", Decimal("10"), "won")


def test_reversal_of_an_unsettle_pays_again(rita, fiona):
    alice, bet = placed_bet()
    settle(bet, "10")
    with transaction.atomic():
        step = postings.bet_unsettle_apply(bet_id=bet.pk).settlement
    assert balance(alice) == Decimal("15")
    reverse_via_four_eyes(step, rita, fiona)
    bet.refresh_from_db()
    assert balance(alice) == Decimal("25") and bet.status == "settled"


def test_reversal_of_a_spent_win_records_debt(rita, fiona):
    alice, bet = placed_bet()
    step = settle(bet, "10")
    with transaction.atomic():
        transfers.withdrawal_apply(
            wallet=wallet_get(external_id="alice", currency="EUR"), amount=Decimal("20"), reference="w", actor_id=None
        )
    reverse_via_four_eyes(step, rita, fiona)
    wallet = wallet_get(external_id="alice", currency="EUR")
    assert (wallet.balance, wallet.debt_balance) == (Decimal("0"), Decimal("-5"))
    assert ReviewItem.objects.filter(kind="debt").count() == 1


def test_only_the_latest_step_can_be_reversed(rita):
    alice, bet = placed_bet()
    first = settle(bet, "10")
    settle(bet, "12")
    with pytest.raises(NotReversible):
        backoffice.reversal_request(settlement_id=first.pk, reason="wrong result", actor=rita)


def test_reason_is_mandatory_and_one_pending_request_per_settlement(rita):
    alice, bet = placed_bet()
    step = settle(bet, "10")
    with pytest.raises(InvalidRequest):
        backoffice.reversal_request(settlement_id=step.pk, reason=" ", actor=rita)
    backoffice.reversal_request(settlement_id=step.pk, reason="wrong result", actor=rita)
    with pytest.raises(InvalidRequest):
        backoffice.reversal_request(settlement_id=step.pk, reason="wrong result again", actor=rita)


def test_rejected_request_moves_nothing(rita, fiona):
    alice, bet = placed_bet()
    step = settle(bet, "10")
    request = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result", actor=rita)
    backoffice.staff_request_reject(request_id=request.pk, actor=fiona, note="feed confirms the win")
    with pytest.raises(InvalidRequest):
        backoffice.staff_request_approve(request_id=request.pk, actor=fiona)
    assert balance(alice) == Decimal("25")


def test_manual_adjustment_both_ways(rita, fiona):
    alice = make_player("alice")
    fund(alice, "10")
    credit = backoffice.adjustment_request(
        player_external_id="alice", currency="EUR", amount=Decimal("5"), reason="goodwill for outage", actor=rita
    )
    backoffice.staff_request_approve(request_id=credit.pk, actor=fiona)
    assert balance(alice) == Decimal("15")
    debit = backoffice.adjustment_request(
        player_external_id="alice", currency="EUR", amount=Decimal("-20"), reason="duplicate goodwill", actor=rita
    )
    with pytest.raises(InsufficientFunds):
        backoffice.staff_request_approve(request_id=debit.pk, actor=fiona)
    assert StaffRequest.objects.get(pk=debit.pk).status == "pending"
    assert balance(alice) == Decimal("15")


@pytest.fixture
def no_noise_floor(monkeypatch):
    """Every step that can need a human is queued, however little it moves."""
    from wallet import conf

    for name in ("REVIEW_RESETTLE_MIN_AMOUNT", "REVIEW_UNSETTLE_MIN_AMOUNT", "REVIEW_ROLLBACK_MIN_AMOUNT"):
        monkeypatch.setattr(conf, name, Decimal("0"))


def test_review_queue_collects_what_needs_a_human(no_noise_floor):
    from wallet import conf

    alice, bet = placed_bet(stake="10", deposit="100")
    settle(bet, str(conf.REVIEW_LARGE_WIN_AMOUNT))
    settle(bet, "5", "refund")
    with transaction.atomic():
        postings.bet_unsettle_apply(bet_id=bet.pk)
    settle(bet, "8")
    with transaction.atomic():
        postings.bet_rollback_apply(bet_id=bet.pk)
    kinds = sorted(ReviewItem.objects.values_list("kind", flat=True))
    assert kinds == ["large_win", "paid_win_rollback", "resettle", "unsettle"]
    assert Bet.objects.get().status == "rolled_back"
    assert Settlement.objects.count() == 5


def test_resolving_a_review_item_is_audited(rita, sam, no_noise_floor):
    alice, bet = placed_bet()
    settle(bet, "10")
    settle(bet, "5")
    item = ReviewItem.objects.get()
    with pytest.raises(PermissionDenied):
        reviews.review_item_resolve(item_id=item.pk, actor=sam, resolution="looked at it")
    reviews.review_item_resolve(item_id=item.pk, actor=rita, resolution="provider corrected the result")
    assert ReviewItem.objects.get().status == "resolved"
    assert AuditLog.objects.filter(action="review.resolve").exists()

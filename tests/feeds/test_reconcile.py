"""Provider settlements that disagree with Betradar's result reach the review queue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from feeds.reconcile import check_recent_settlements
from tests.factories import fund, make_player
from tests.feeds.helpers import apply, odds_change, settlement
from wallet.models import ReviewItem
from wallet.selectors import wallet_get
from wallet.services.postings import bet_place_apply, bet_settle_apply

pytestmark = pytest.mark.django_db

EVENT = "sr:match:77"
LEG = {"event_id": EVENT, "market_id": 1, "outcome_id": "1", "event": "A vs B", "market": "1x2", "outcome": "A"}
TOTAL = {"event_id": EVENT, "market_id": 18, "specifiers": "total=2.5", "outcome_id": "12", "outcome": "over 2.5"}


def bet_on(selections, external_id="b1"):
    with transaction.atomic():
        return bet_place_apply(
            provider="betsy",
            external_id=external_id,
            wallet=wallet_get(external_id="alice", currency="EUR"),
            amount=Decimal("5"),
            selections=selections,
        ).bet


@pytest.fixture(autouse=True)
def alice():
    player = make_player("alice")
    fund(player, "100")
    return player


def settle(bet, amount, result):
    with transaction.atomic():
        return bet_settle_apply(bet_id=bet.pk, amount=Decimal(amount), result=result).settlement


def betradar_settles(markets):
    apply(
        odds_change(
            event=EVENT,
            markets=[
                (1, "", 1, {"1": "2.0", "2": "3.0", "3": "4.0"}),
                (18, "total=2.5", 1, {"12": "1.9", "13": "1.9"}),
            ],
        )
    )
    apply(settlement(event=EVENT, markets=markets))


def test_provider_win_that_betradar_lost_is_flagged_at_settlement():
    betradar_settles([(1, "", {"1": 0, "2": 1, "3": 0})])
    bet = bet_on([LEG])
    step = settle(bet, "10", "won")
    item = ReviewItem.objects.get(kind="result_mismatch")
    assert item.settlement_id == step.pk and "Betradar says lost" in item.summary


def test_agreement_and_unclear_cases_are_not_flagged():
    betradar_settles([(1, "", {"1": 1, "2": 0, "3": 0})])
    settle(bet_on([LEG], "b1"), "10", "won")  # both say won
    settle(bet_on([{**LEG, "outcome_id": "2"}], "b2"), "0", "lost")  # both say lost
    settle(bet_on([{**LEG, "event_id": "betsy:123"}], "b3"), "10", "won")  # not a Betradar selection
    settle(bet_on([LEG], "b4"), "5", "refund")  # a refund is not a win or a loss
    assert not ReviewItem.objects.filter(kind="result_mismatch").exists()


def test_void_or_dead_heat_leg_is_left_to_staff():
    betradar_settles([(1, "", {"1": (1, None, "0.5"), "2": 0, "3": 0})])
    settle(bet_on([LEG]), "10", "won")
    assert not ReviewItem.objects.filter(kind="result_mismatch").exists()


def test_betradar_settling_later_is_caught_by_the_sweep_once():
    bet = bet_on([LEG, TOTAL])
    settle(bet, "0", "lost")
    assert not ReviewItem.objects.filter(kind="result_mismatch").exists()  # the feed has not settled yet
    betradar_settles([(1, "", {"1": 1, "2": 0, "3": 0}), (18, "total=2.5", {"12": 1, "13": 0})])
    assert check_recent_settlements() == 1
    assert check_recent_settlements() == 0  # one item per settlement
    assert "provider settled lost, Betradar says won" in ReviewItem.objects.get(kind="result_mismatch").summary

"""POST /payment/bet type 1: place a bet (protocols/betsy.md §6)."""

import time
from decimal import Decimal

import pytest

from tests.factories import bonus_balance, fund, make_player
from tests.wallet.betsy.conftest import state_counts
from wallet.betsy import tokens
from wallet.betsy.simulator import selection
from wallet.models import Bet, IdempotencyConflict, LedgerTransaction
from wallet.services.players import player_set_status

pytestmark = pytest.mark.django_db


def test_place_debits_the_stake_and_records_the_bet(betsy, alice):
    legs = [
        selection(eventId=1, outcome="Arsenal", coefficient=Decimal("1.5")),
        selection(
            eventId=2,
            event="Inter - Milan",
            outcome="Draw",
            coefficient=Decimal("3.25"),
            eventDate="2026-06-02 20:45:00",
        ),
    ]
    reply = betsy.place(
        "tx-1",
        "alice",
        "USD",
        Decimal("5.50"),
        alice.token,
        coefficient=Decimal("4.875"),
        metadata=legs,
        ticketType="express",
    )
    assert reply.status == 200, reply.body
    assert alice.balance == Decimal("14.50")
    bet = Bet.objects.get(provider="betsy", external_id="tx-1")
    assert (bet.stake, bet.stake_real, bet.stake_bonus) == (Decimal("5.50"), Decimal("5.50"), 0)
    assert bet.odds == Decimal("4.875") and bet.bet_type == "multi" and bet.status == "open"
    assert bet.selections[1] == {
        "sport_id": "1",
        "sport": "Football",
        "tournament_id": "17",
        "tournament": "Premier League",
        "event_id": "2",
        "event": "Inter - Milan",
        "event_date": "2026-06-02T20:45:00Z",
        "market_id": "1",
        "market": "1x2",
        "outcome_id": "1",
        "outcome": "Draw",
        "odds": "3.25",
    }
    # Our answer names our ledger transaction.
    assert int(reply.data["transactionId"]) == LedgerTransaction.objects.get(bet=bet, kind="bet").pk
    assert reply.data["transactionTime"].endswith("Z")


@pytest.mark.parametrize(
    ("ticket_type", "legs", "expected"),
    [("single", 1, "single"), ("system", 3, "system"), ("", 1, "single"), ("", 2, "multi"), ("mystery", 3, "multi")],
)
def test_bet_type(betsy, alice, ticket_type, legs, expected):
    metadata = [selection(eventId=i) for i in range(legs)]
    assert betsy.place("tx-1", "alice", "USD", 1, alice.token, metadata=metadata, ticket_type=ticket_type).status == 200
    assert Bet.objects.get().bet_type == expected


def test_retry_replays_byte_for_byte_and_debits_once(betsy, alice):
    first = betsy.place("tx-1", "alice", "USD", 5, alice.token)
    again = betsy.retry()
    assert (again.status, again.body) == (first.status, first.body)
    # Betsy's retry may carry a new requestId, token or ip: still the same bet.
    other_token = tokens.issue(player_id=alice.player.pk, external_id="alice", currency="USD", now=int(time.time()) - 5)
    assert other_token != alice.token
    assert betsy.place("tx-1", "alice", "USD", Decimal("5.00"), other_token, ip="198.51.100.1").body == first.body
    assert alice.balance == 15 and Bet.objects.count() == 1


def test_retry_of_an_accepted_bet_after_the_token_expired_still_succeeds(betsy, alice, monkeypatch):
    first = betsy.place("tx-1", "alice", "USD", 5, alice.token)
    monkeypatch.setattr("wallet.betsy.conf.TOKEN_TTL_SECONDS", 60)
    monkeypatch.setattr("time.time", lambda: 4_000_000_000)
    again = betsy.retry()
    assert again.status == 200 and again.body == first.body
    # ... but a new bet with that token is refused.
    assert betsy.place("tx-2", "alice", "USD", 5, alice.token).data["code"] == 4
    assert alice.balance == 15


def test_same_transaction_id_with_another_stake_is_code_8(betsy, alice):
    assert betsy.place("tx-1", "alice", "USD", 5, alice.token).status == 200
    reply = betsy.place("tx-1", "alice", "USD", 6, alice.token)
    assert reply.status == 400 and reply.data["code"] == 8
    assert alice.balance == 15
    assert IdempotencyConflict.objects.filter(provider="betsy", external_id="tx-1").count() == 1


def test_not_enough_money_is_code_7_and_its_retry_too(betsy, alice):
    before = state_counts()
    reply = betsy.place("tx-1", "alice", "USD", Decimal("20.01"), alice.token)
    assert reply.status == 400 and reply.data == {"code": 7, "message": reply.data["message"]}
    assert betsy.retry().data["code"] == 7
    after = state_counts()
    assert after["requests"] == before["requests"] + 1  # the decline is remembered …
    assert {k: v for k, v in after.items() if k != "requests"} == {k: v for k, v in before.items() if k != "requests"}
    assert alice.balance == 20  # … and nothing else moved


def test_whole_balance_can_be_staked(betsy, alice):
    assert betsy.place("tx-1", "alice", "USD", 20, alice.token).status == 200
    assert alice.balance == 0


@pytest.mark.parametrize(("status", "code"), [("blocked", 9), ("self_excluded", 14)])
def test_blocked_and_self_excluded_players_cannot_bet(betsy, alice, status, code):
    player_set_status(player=alice.player, status=status, reason="test", actor_id=None)
    reply = betsy.place("tx-1", "alice", "USD", 5, alice.token)
    assert reply.data["code"] == code
    assert alice.balance == 20 and Bet.objects.count() == 0


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda a, b: {"userId": "bob"}, 3),  # alice's token for bob's wallet
        (lambda a, b: {"token": b.token}, 3),  # bob's token for alice
        (lambda a, b: {"currency": "EUR"}, 3),  # token bound to USD
        (lambda a, b: {"token": "A" * 40}, 3),
        (lambda a, b: {"token": None}, 5),
        (
            lambda a, b: {"token": tokens.issue(player_id=a.player.pk, external_id="alice", currency="USD", now=10**9)},
            4,
        ),
    ],
)
def test_token_problems(betsy, alice, bob, mutate, code):
    before = state_counts()
    body = betsy.bet_body(type_=1, transaction_id="tx-1", user_id="alice", currency="USD", amount=5, token=alice.token)
    body.update(mutate(alice, bob))
    reply = betsy.request("POST", "/payment/bet", body)
    assert reply.status == 400 and reply.data["code"] == code
    assert state_counts() == before
    assert alice.balance == 20 and bob.balance == 20


def test_bonus_amount_comes_from_the_bonus_balance(betsy):
    ivy = make_player("ivy", currencies=("USD",))
    fund(ivy, "10", "USD", bonus="8")
    token = tokens.issue(player_id=ivy.pk, external_id="ivy", currency="USD")
    assert betsy.place("tx-1", "ivy", "USD", 5, token, bonus_amount=Decimal("3")).status == 200
    bet = Bet.objects.get()
    assert (bet.stake_real, bet.stake_bonus) == (Decimal("2"), Decimal("3"))
    assert bonus_balance(ivy, "USD") == Decimal("5")
    # More bonus than the player holds: not enough money, nothing moves.
    assert betsy.place("tx-2", "ivy", "USD", 6, token, bonus_amount=Decimal("6")).data["code"] == 7
    assert bonus_balance(ivy, "USD") == Decimal("5")


def test_cash_bet_uses_real_money_then_bonus(betsy):
    jack = make_player("jack", currencies=("USD",))
    fund(jack, "3", "USD", bonus="10")
    token = tokens.issue(player_id=jack.pk, external_id="jack", currency="USD")
    assert betsy.place("tx-1", "jack", "USD", 5, token).status == 200
    bet = Bet.objects.get()
    assert (bet.stake_real, bet.stake_bonus) == (Decimal("3"), Decimal("2"))


def test_place_records_the_sub_partner_as_the_bets_brand(betsy, alice):
    """The brand travels in the bet's own INSERT; a bet without subPartnerId has none."""
    assert betsy.place("tx-no-brand", "alice", "USD", 1, alice.token).status == 200
    betsy.sub_partner_id = 77  # Betsy may send it as a JSON integer
    assert betsy.place("tx-brand", "alice", "USD", 1, alice.token).status == 200
    brands = dict(Bet.objects.filter(provider="betsy").values_list("external_id", "brand"))
    assert brands == {"tx-no-brand": "", "tx-brand": "77"}

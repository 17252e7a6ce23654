"""PUT /payment/bet type 2 settle / resettle and type 1 unsettle (protocols/betsy.md §7-8)."""

from decimal import Decimal

import pytest

from tests.factories import fund
from tests.wallet.betsy.conftest import state_counts
from wallet.betsy import conf, tokens
from wallet.models import AuditLog, Bet, Debt, IdempotencyRecord, Settlement

pytestmark = pytest.mark.django_db

TX = "tx-settle-1"


@pytest.fixture
def placed(betsy, alice):
    """alice: $20, bet $5 -> $15."""
    assert betsy.place(TX, "alice", "USD", 5, alice.token).status == 200
    assert alice.balance == 15
    return alice


def bet() -> Bet:
    return Bet.objects.get(provider="betsy", external_id=TX)


def test_lost_moves_nothing(betsy, placed):
    reply = betsy.settle(TX, "alice", "USD", 0, "lost")
    assert reply.status == 200
    # No ledger transaction: our settlement's id, never Betsy's own.
    assert reply.data["transactionId"] == f"S{Settlement.objects.get(kind='settle').pk}" != TX
    assert placed.balance == 15
    assert bet().status == "settled" and bet().result == "lost"
    assert betsy.retry().body == reply.body


def test_won_then_corrected_to_lost_takes_the_win_back(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")
    assert placed.balance == 25
    assert betsy.settle(TX, "alice", "USD", 0, "lost").status == 200
    assert placed.balance == 15
    assert bet().payout == 0


def test_amount_format_does_not_make_a_new_request(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")
    again = betsy.settle(TX, "alice", "USD", Decimal("10.00"), "WON")
    assert again.status == 200
    assert placed.balance == 25
    assert Settlement.objects.count() == 1


def test_resettle_after_the_winnings_were_spent_records_debt(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")  # 25
    assert betsy.place("tx-2", "alice", "USD", 22, placed.token).status == 200  # 3 left
    assert betsy.settle(TX, "alice", "USD", 0, "lost").status == 200
    assert placed.balance == 0
    assert placed.wallet.debt_balance == Decimal("-7")
    assert Debt.objects.get().amount == Decimal("7")


def test_policy_21_refuses_a_recalculation_into_the_negative(betsy, placed, monkeypatch):
    monkeypatch.setattr(conf, "RESETTLE_POLICY_BY_BRAND", {"brand-x": conf.REFUSE_NEGATIVE})
    betsy.sub_partner_id = "brand-x"
    betsy.settle(TX, "alice", "USD", 10, "won")  # 25
    betsy.place("tx-2", "alice", "USD", 22, placed.token)  # 3
    before = state_counts()
    reply = betsy.settle(TX, "alice", "USD", 0, "lost")
    assert reply.data["code"] == 21
    assert state_counts() == before and placed.balance == 3  # nothing stored: a retry is judged afresh
    # The player tops up; Betsy's retry of the refused correction now goes through.
    fund(placed.player, "20", "USD")
    assert betsy.settle(TX, "alice", "USD", 0, "lost").status == 200
    assert placed.balance == 13 and placed.wallet.debt_balance == 0
    assert not Debt.objects.exists()


def test_policy_21_accepts_a_correction_whose_net_fits(betsy, placed, monkeypatch):
    """3 left of a 10 win; a correction to 8 nets -2 and fits: the core pays the 8 before it
    takes the 10 back, so no debt appears on the way."""
    monkeypatch.setattr(conf, "RESETTLE_POLICY_BY_BRAND", {"brand-x": conf.REFUSE_NEGATIVE})
    betsy.sub_partner_id = "brand-x"
    betsy.settle(TX, "alice", "USD", 10, "won")  # 25
    betsy.place("tx-2", "alice", "USD", 22, placed.token)  # 3
    assert betsy.settle(TX, "alice", "USD", 8, "won").status == 200
    assert placed.balance == 1 and placed.wallet.debt_balance == 0
    assert not Debt.objects.exists()


def test_policy_20_blocks_any_recalculation_but_not_the_first_settle(betsy, placed, monkeypatch):
    monkeypatch.setattr(conf, "RESETTLE_POLICY", conf.BLOCK)
    assert betsy.settle(TX, "alice", "USD", 10, "won").status == 200
    assert betsy.retry().status == 200  # an exact retry is not a recalculation
    before = state_counts()
    assert betsy.settle(TX, "alice", "USD", 5, "refund").data["code"] == 20
    assert state_counts() == before and placed.balance == 25
    # Unsettle, then a new result: that is a settle, not a recalculation.
    assert betsy.unsettle(TX, "alice", "USD", 5).status == 200
    assert betsy.settle(TX, "alice", "USD", 5, "refund").status == 200
    assert placed.balance == 20


def test_brand_policy_applies_only_to_that_brand(betsy, placed, monkeypatch):
    monkeypatch.setattr(conf, "RESETTLE_POLICY_BY_BRAND", {"strict": conf.BLOCK})
    betsy.settle(TX, "alice", "USD", 10, "won")
    betsy.sub_partner_id = "lenient"
    assert betsy.settle(TX, "alice", "USD", 5, "refund").status == 200


def test_cashout_needs_a_valid_token(betsy, placed):
    assert betsy.settle(TX, "alice", "USD", 7, "cashout").data["code"] == 5  # no token at all
    expired = tokens.issue(player_id=placed.player.pk, external_id="alice", currency="USD", now=10**9)
    assert betsy.settle(TX, "alice", "USD", 7, "cashout", token=expired).data["code"] == 4
    assert betsy.settle(TX, "alice", "USD", 7, "cashout", token="B" * 40).data["code"] == 3
    assert placed.balance == 15 and Settlement.objects.count() == 0
    assert betsy.settle(TX, "alice", "USD", 7, "cashout", token=placed.token).status == 200
    assert placed.balance == 22 and bet().result == "cashout"


def test_result_sent_again_after_an_unsettle_applies_again(betsy, placed):
    """settle won -> unsettle -> settle won: the second 'won' is a new result, not a retry."""
    won = betsy.settle(TX, "alice", "USD", 10, "won")
    assert betsy.unsettle(TX, "alice", "USD", 5).status == 200
    assert placed.balance == 15
    again = betsy.settle(TX, "alice", "USD", 10, "won")
    assert again.status == 200 and again.body != won.body
    assert placed.balance == 25
    assert betsy.retry().status == 200 and placed.balance == 25
    # ... and a second unsettle reverts that one.
    assert betsy.unsettle(TX, "alice", "USD", 5).status == 200
    assert placed.balance == 15


def test_late_retry_of_an_earlier_result_is_replayed_and_flagged(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")
    first = betsy.last
    betsy.settle(TX, "alice", "USD", 5, "refund")
    assert placed.balance == 20
    betsy.last = first
    assert betsy.retry().status == 200  # the stored answer of the first settle
    assert placed.balance == 20  # no money moved
    flag = AuditLog.objects.get(action="betsy.settle_replayed_not_in_force")
    assert flag.object_id == str(bet().pk)


@pytest.mark.parametrize(
    ("field", "value"),
    [("transactionId", "tx-unknown"), ("userId", "bob"), ("currency", "EUR")],
)
def test_settle_must_name_a_known_bet_of_that_player(betsy, placed, bob, field, value):
    body = betsy.bet_body(
        type_=2, transaction_id=TX, user_id="alice", currency="USD", amount=10, token=None, resultType="won"
    )
    body[field] = value
    before = state_counts()
    assert betsy.request("PUT", "/payment/bet", body).data["code"] == 5
    assert state_counts() == before and placed.balance == 15 and bob.balance == 20


def test_settle_after_rollback_is_refused(betsy, placed):
    assert betsy.rollback(TX, "alice", "USD", 5).status == 200
    assert placed.balance == 20
    assert betsy.settle(TX, "alice", "USD", 10, "won").data["code"] == 5
    assert betsy.unsettle(TX, "alice", "USD", 5).data["code"] == 5
    assert placed.balance == 20


# --- Unsettle -----------------------------------------------------------------------------------


def test_unsettle_of_an_open_bet_is_a_success_that_moves_nothing(betsy, placed):
    before = state_counts()
    reply = betsy.unsettle(TX, "alice", "USD", 5)
    assert reply.status == 200 and reply.data["transactionId"] == f"B{bet().pk}"
    assert placed.balance == 15
    after = state_counts()
    assert after == {**before, "requests": before["requests"] + 1}  # only its stored answer
    assert betsy.retry().body == reply.body


def test_unsettle_retried_replays_the_first_answer_byte_for_byte(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")
    first = betsy.unsettle(TX, "alice", "USD", 5)
    assert first.status == 200 and first.data["transactionId"] != TX
    assert placed.balance == 15
    again = betsy.retry()
    assert again.body == first.body and placed.balance == 15


def test_unsettle_retry_does_not_swallow_a_later_unsettle(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")
    betsy.unsettle(TX, "alice", "USD", 5)
    assert betsy.retry().status == 200  # the bet is open: the first answer again
    betsy.settle(TX, "alice", "USD", 8, "won")
    assert placed.balance == 23
    assert betsy.unsettle(TX, "alice", "USD", 5).status == 200
    assert placed.balance == 15
    assert IdempotencyRecord.objects.filter(operation="unsettle").count() == 2


def test_unsettle_of_a_lost_bet_reopens_it(betsy, placed):
    betsy.settle(TX, "alice", "USD", 0, "lost")
    assert betsy.unsettle(TX, "alice", "USD", 5).status == 200
    assert bet().status == "open" and placed.balance == 15
    assert betsy.settle(TX, "alice", "USD", 0, "lost").status == 200
    assert bet().status == "settled"


def test_unsettle_after_the_winnings_were_spent_records_debt(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")  # 25
    betsy.place("tx-2", "alice", "USD", 25, placed.token)  # 0
    assert betsy.unsettle(TX, "alice", "USD", 5).status == 200
    assert placed.balance == 0 and placed.wallet.debt_balance == Decimal("-10")


def test_upward_resettle_after_spending_the_winnings_nets_without_debt(betsy, placed):
    """Desired: 25 after the win, 22 spent -> 3; a correction 10 -> 15 nets +5 -> 8, no debt.
    Today the core takes 10 back first (3 real + 7 debt) then pays 15: balance 15, debt 7."""
    betsy.settle(TX, "alice", "USD", 10, "won")
    betsy.place("tx-2", "alice", "USD", 22, placed.token)
    assert betsy.settle(TX, "alice", "USD", 15, "won").status == 200
    assert placed.balance == 8 and placed.wallet.debt_balance == 0

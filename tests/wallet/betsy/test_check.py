"""POST /payment/check: a bet's state, read-only (protocols/betsy.md §10)."""

from decimal import Decimal

import pytest

from tests.wallet.betsy.conftest import state_counts

pytestmark = pytest.mark.django_db


def test_check_follows_the_bet(betsy, alice):
    betsy.place("tx-1", "alice", "USD", Decimal("5.5"), alice.token)
    reply = betsy.check("alice", "tx-1")
    assert reply.status == 200
    assert reply.data["transactionId"] == "tx-1"
    assert (reply.data["currency"], reply.data["amount"], reply.data["type"]) == ("USD", Decimal("5.50"), 1)
    assert b'"amount":5.50' in reply.body
    betsy.settle("tx-1", "alice", "USD", 11, "won")
    assert (betsy.check("alice", "tx-1").data["type"], betsy.check("alice", "tx-1").data["payout"]) == (
        2,
        Decimal("11.00"),
    )
    betsy.rollback("tx-1", "alice", "USD", Decimal("5.5"))
    assert betsy.check("alice", "tx-1").data["status"] == "rolled_back"


def test_check_reads_only(betsy, alice):
    betsy.place("tx-1", "alice", "USD", 5, alice.token)
    before = state_counts()
    betsy.check("alice", "tx-1")
    assert state_counts() == before


@pytest.mark.parametrize(("user_id", "transaction_id"), [("alice", "tx-unknown"), ("bob", "tx-1")])
def test_check_unknown_or_someone_elses(betsy, alice, bob, user_id, transaction_id):
    betsy.place("tx-1", "alice", "USD", 5, alice.token)
    reply = betsy.check(user_id, transaction_id)
    assert reply.status == 400 and reply.data["code"] == 5

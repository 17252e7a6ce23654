"""A transaction_id is applied once; its repeats get the first answer, byte for byte."""

import json
from decimal import Decimal

import pytest

from tests.factories import balance, fund, make_player
from wallet.models import IdempotencyConflict, IdempotencyRecord

from .conftest import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    alice = make_player("alice")
    fund(alice, "100.00")
    return alice


@pytest.mark.parametrize("send", ["bet", "result"])
def test_same_id_same_answer_byte_for_byte(provider, alice, send):
    first = getattr(provider, send)("t-1", "7.00")
    state = snapshot()
    for _ in range(3):
        assert getattr(provider, send)("t-1", "7.00").raw == first.raw
    assert snapshot() == state


def test_a_stored_decline_is_replayed_as_is_even_after_the_player_can_pay(provider, alice):
    declined = provider.bet("t-1", "500.00")
    assert declined.error == "INSUFFICIENT_FUNDS"
    fund(alice, "1000.00")
    assert provider.bet("t-1", "500.00").raw == declined.raw
    assert balance(alice) == Decimal("1100.00")


def test_reformatted_repeat_is_the_same_request(provider, alice):
    """Canonical content: key order and 7 / 7.0 / "7.00" do not make a different request."""
    first = provider.bet("t-1", "7.00")
    reordered = json.dumps(
        {"amount": 7.0, "currency": "EUR", "user_id": "alice", "action": "bet", "transaction_id": "t-1"}
    ).encode()
    assert provider.post_raw("transaction", reordered).raw == first.raw
    assert provider.bet("t-1", 7).raw == first.raw
    assert IdempotencyConflict.objects.count() == 0
    assert balance(alice) == Decimal("93.00")


@pytest.mark.parametrize(
    ("second", "args"),
    [
        ("bet", ("t-1", "7.01")),  # different amount
        ("result", ("t-1", "7.00")),  # same id reused for another action
        ("bet", ("t-1", "7.00", "alice", "USD")),  # different currency
    ],
)
def test_same_id_different_content_is_a_mismatch_kept_for_staff(provider, alice, second, args):
    if "USD" in args:
        from wallet.services.players import player_add_currency

        player_add_currency(player=alice, currency="USD")
    first = provider.bet("t-1", "7.00")
    assert first.error is None
    before = snapshot()
    answer = getattr(provider, second)(*args)
    assert answer.json == {"error": "TRANSACTION_MISMATCH"}
    after = snapshot()
    assert after["IdempotencyConflict"] == before["IdempotencyConflict"] + 1
    after["IdempotencyConflict"] -= 1
    assert after == before
    conflict = IdempotencyConflict.objects.get()
    assert (conflict.provider, conflict.external_id, conflict.operation) == ("igpx", "t-1", "tx")
    assert '"t-1"' in conflict.request_body and not conflict.resolved
    # The original still answers as before.
    assert provider.bet("t-1", "7.00").raw == first.raw


def test_rollback_id_reused_as_a_bet_is_a_mismatch(provider, alice):
    provider.bet("b-1", "5.00")
    provider.rollback("rb-1", "b-1", "5.00")
    assert provider.bet("rb-1", "5.00").error == "TRANSACTION_MISMATCH"
    assert balance(alice) == Decimal("100.00")


def test_each_request_writes_one_idempotency_row(provider, alice):
    provider.bet("b-1", "5.00")
    provider.result("r-1", "9.00")
    provider.rollback("rb-1", "r-1", "9.00")
    provider.rollback("rb-1", "r-1", "9.00")
    rows = dict(IdempotencyRecord.objects.filter(provider="igpx").values_list("external_id", "outcome"))
    assert rows == {"b-1": "applied", "r-1": "applied", "rb-1": "applied"}

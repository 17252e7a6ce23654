"""Money is never stranded and hostile input never gets through (issue #20), as Betsy sees it.

Betsy retries a settle, unsettle or rollback until it gets success. Each of these either
succeeds, or is a deliberate answer that is the same on every retry and that staff see once in
the review queue (docs/CALLBACKS.md).
"""

from decimal import Decimal

import pytest
from django.test import Client

from tests.wallet.betsy.conftest import state_counts
from wallet.betsy import conf, protocol
from wallet.models import Bet, IdempotencyRecord, ReviewItem, Settlement

pytestmark = pytest.mark.django_db

TX = "tx-strand-1"


@pytest.fixture
def placed(betsy, alice):
    assert betsy.place(TX, "alice", "USD", 5, alice.token).status == 200
    return alice


def settle_raw(betsy, amount_json: bytes) -> bytes:
    body = protocol.dumps(
        betsy.bet_body(
            type_=2, transaction_id=TX, user_id="alice", currency="USD", amount=7, token=None, resultType="won"
        )
    )
    assert b'"amount":7' in body
    return body.replace(b'"amount":7', amount_json)


# --- Sub-cent results ------------------------------------------------------------------------


def test_a_settle_finer_than_the_currency_is_paid_rounded_up_and_staff_see_it(betsy, placed):
    reply = betsy.request("PUT", "/payment/bet", settle_raw(betsy, b'"amount":6.1605'))
    assert reply.status == 200, reply.data
    assert placed.balance == Decimal("15") + Decimal("6.17")  # never less than owed
    assert Bet.objects.get().payout == Decimal("6.17")
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.ROUNDED_PAYOUT)
    assert "6.1605" in item.summary and "6.17 USD" in item.summary and item.bet == Bet.objects.get()
    # Betsy's retry: the same answer, byte for byte, nothing paid twice.
    assert betsy.retry().body == reply.body
    assert placed.balance == Decimal("21.17")
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.ROUNDED_PAYOUT).count() == 1


def test_a_settle_at_the_currency_precision_is_not_flagged(betsy, placed):
    assert betsy.settle(TX, "alice", "USD", Decimal("6.16"), "won").status == 200
    assert not ReviewItem.objects.filter(kind=ReviewItem.Kind.ROUNDED_PAYOUT).exists()


def test_a_stake_finer_than_the_currency_is_still_refused(betsy, alice):
    reply = betsy.place("tx-fine", "alice", "USD", Decimal("5.001"), alice.token)
    assert reply.status == 400 and reply.data["code"] == 5 and alice.balance == 20


# --- Our own transactionId, replays byte for byte -------------------------------------------------


def test_every_answer_carries_our_transaction_id(betsy, placed):
    lost = betsy.settle(TX, "alice", "USD", 0, "lost")
    assert lost.data["transactionId"].startswith("S") and lost.data["transactionId"] != TX
    unsettled = betsy.unsettle(TX, "alice", "USD", 0)
    assert unsettled.data["transactionId"] != TX
    early = betsy.rollback("tx-never-placed", "alice", "USD", 5)
    assert early.status == 200 and early.data["transactionId"].startswith("R")
    assert betsy.retry().body == early.body


def test_an_unsettle_retried_after_it_applied_replays_byte_for_byte(betsy, placed):
    betsy.settle(TX, "alice", "USD", 10, "won")
    first = betsy.unsettle(TX, "alice", "USD", 10)
    assert first.status == 200 and first.data["transactionId"].isdigit()  # the ledger transaction
    for _ in range(3):
        assert betsy.retry().body == first.body
    assert placed.balance == 15
    assert Settlement.objects.filter(kind="unsettle").count() == 1


# --- Refusals Betsy would retry forever: the same answer, staff see it once -------------------------


def test_a_settle_of_a_rolled_back_bet_is_a_final_answer_that_staff_see_once(betsy, placed):
    assert betsy.rollback(TX, "alice", "USD", 5).status == 200
    first = betsy.settle(TX, "alice", "USD", 10, "won")
    assert first.status == 400 and first.data["code"] == 5
    for _ in range(3):
        again = betsy.retry()
        assert again.status == 400 and again.data == first.data
    assert placed.balance == 20
    items = ReviewItem.objects.filter(kind=ReviewItem.Kind.CALLBACK_REFUSED)
    assert items.count() == 1 and TX in items.get().summary


def test_a_rollback_of_another_amount_refunds_the_stake_and_staff_see_it(betsy, placed):
    reply = betsy.rollback(TX, "alice", "USD", 7)
    assert reply.status == 200 and placed.balance == 20
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.ROLLBACK_MISMATCH).count() == 1


def test_a_refused_place_is_not_flagged(betsy, alice):
    assert betsy.place("tx-poor", "alice", "USD", 500, alice.token).data["code"] == 7
    assert not ReviewItem.objects.exists()


def test_an_unsigned_settle_is_not_flagged(betsy, placed):
    reply = betsy.request("PUT", "/payment/bet", settle_raw(betsy, b'"amount":"x"'), sign=False)
    assert reply.data["code"] == 1
    assert not ReviewItem.objects.exists()


# --- Hostile input ----------------------------------------------------------------------------------


def test_a_settle_with_a_duplicate_amount_is_refused(betsy, placed):
    before = state_counts()
    reply = betsy.request("PUT", "/payment/bet", settle_raw(betsy, b'"amount":10,"amount":500'))
    assert reply.status == 400 and reply.data["code"] == 5 and "duplicate" in reply.data["message"]
    assert state_counts() == before and placed.balance == 15


@pytest.mark.parametrize("path", ["/user/profile", "/user/balance", "/payment/check"])
def test_duplicate_keys_are_refused_on_every_callback(betsy, alice, path):
    reply = betsy.request("POST", path, b'{"userId":"alice","userId":"bob"}')
    assert reply.status == 400 and reply.data["code"] == 5


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_lone_surrogate_user_id_is_a_validation_error_not_a_system_error(betsy, alice, method):
    body = protocol.dumps(
        betsy.bet_body(type_=1, transaction_id="tx-s", user_id="alice", currency="USD", amount=5, token=alice.token)
    ).replace(b'"userId":"alice"', b'"userId":"\\ud800"')
    reply = betsy.request(method, "/payment/bet", body)
    assert reply.status == 400 and reply.data["code"] == 5  # never 100: on place, 100 means a rollback
    assert alice.balance == 20


@pytest.mark.parametrize("leg", [{"event": "A\x00B"}, {"eventId": "\x00"}, {"market": "\ud800"}])
def test_text_no_database_can_store_is_a_validation_error_not_a_system_error(betsy, alice, leg):
    body = betsy.bet_body(
        type_=1, transaction_id="tx-nul", user_id="alice", currency="USD", amount=5, token=alice.token, metadata=[leg]
    )
    reply = betsy.request("POST", "/payment/bet", body)
    assert reply.status == 400 and reply.data["code"] == 5, reply.data  # 100 would make Betsy roll back
    assert alice.balance == 20


def test_deeply_nested_json_is_a_validation_error(betsy, alice):
    reply = betsy.request("PUT", "/payment/bet", b"[" * 5000)
    assert reply.status == 400 and reply.data["code"] == 5


@pytest.mark.parametrize("user_id", ["caf\u00e9", "cafe\u0301", " alice", "alice ", "a/b", "a" * 65])
def test_user_ids_outside_the_identifier_rule_are_refused(betsy, alice, user_id):
    reply = betsy.request("POST", "/payment/check", {"userId": user_id, "transactionId": "tx-1"})
    assert reply.status == 400 and reply.data["code"] == 5


# --- Every answer on a Betsy path is in Betsy's format ---------------------------------------------


@pytest.mark.parametrize("path", ["/payment/bet/", "//payment/bet", "/payment/bet%00", "/nope"])
def test_unknown_betsy_paths_answer_in_betsy_format(path):
    client = Client(enforce_csrf_checks=True)  # as the web process: CSRF must not answer first
    response = client.post(f"/api/betsy{path}", b"{}", content_type="application/json")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"code": 5, "message": "no such path"}
    assert protocol.HEADER_NAME in response


@pytest.mark.parametrize("method", ["get", "delete", "patch"])
def test_a_wrong_method_answers_in_betsy_format(client, method):
    response = getattr(client, method)("/api/betsy/payment/bet")
    assert response.status_code == 405 and response.json()["code"] == 5
    assert response["Allow"] == "POST, PUT"


# --- Address allow-list -------------------------------------------------------------------------------


def test_an_address_outside_the_allow_list_is_refused_and_logged_once(betsy, alice, monkeypatch, caplog):
    from wallet import allowlist

    monkeypatch.setattr(conf, "ALLOWED_IPS", allowlist.AllowList("BETSY_ALLOWED_IPS", ["203.0.113.0/24"]))
    with caplog.at_level("WARNING", logger="touchline.security"):
        for _ in range(5):
            reply = betsy.place(f"tx-ip-{_}", "alice", "USD", 5, alice.token)
            assert reply.status == 400 and reply.data["code"] == 1
    assert alice.balance == 20
    assert len([r for r in caplog.records if "not in BETSY_ALLOWED_IPS" in r.getMessage()]) == 1
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.setattr(conf, "ALLOWED_IPS", allowlist.AllowList("BETSY_ALLOWED_IPS", ["127.0.0.1", "::1"]))
    assert betsy.place("tx-ip-ok", "alice", "USD", 5, alice.token).status == 200

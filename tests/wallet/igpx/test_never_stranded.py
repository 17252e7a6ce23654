"""Money is never stranded and hostile input never gets through (issue #20), as IGPX sees it.

IGPX retries a result or a rollback until it gets success. Each either succeeds, or is a
deliberate answer that is the same on every retry and that staff see once in the review queue
(docs/CALLBACKS.md).
"""

import json
import logging
from decimal import Decimal

import pytest
from django.test import Client

from tests.factories import balance, fund, make_player
from wallet.igpx import conf
from wallet.models import Bet, IdempotencyRecord, LedgerTransaction, ReviewItem, Settlement

from .conftest import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    alice = make_player("alice", currencies=("EUR", "USD"))
    fund(alice, "50.00")
    fund(alice, "50.00", "USD")
    return alice


def usd(player) -> Decimal:
    return balance(player, "USD")


# --- Sub-cent results ----------------------------------------------------------------------------


def test_a_result_finer_than_the_currency_is_paid_rounded_up_and_staff_see_it(provider, alice):
    answer = provider.result("r-1", "6.1605", currency="USD")
    assert answer.error is None and answer.our_id.startswith("T")
    assert usd(alice) == Decimal("56.17")  # never less than owed
    assert Settlement.objects.get(external_id="r-1").amount == Decimal("6.17")
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.ROUNDED_PAYOUT)
    assert "6.1605 USD owed" in item.summary and "paid 6.17 USD" in item.summary and item.player == alice
    # The provider's retry: the stored answer, byte for byte; nothing paid twice, no second item.
    assert provider.result("r-1", "6.1605", currency="USD").raw == answer.raw
    assert usd(alice) == Decimal("56.17") and ReviewItem.objects.count() == 1
    # Its rollback names the same amount: the 6.17 that moved comes back, no mismatch raised.
    assert provider.rollback("rb-1", "r-1", "6.1605", currency="USD").error is None
    assert usd(alice) == Decimal("50.00")
    assert not ReviewItem.objects.filter(kind=ReviewItem.Kind.ROLLBACK_MISMATCH).exists()


@pytest.mark.parametrize("amount", ["0.001", "6.16050000", 6, "0.0000000000000001"])
def test_results_of_any_precision_are_paid(provider, alice, amount):
    assert provider.result("r-1", amount, currency="USD").error is None
    paid = Settlement.objects.get(external_id="r-1").amount
    assert paid >= Decimal(str(amount)) and paid - Decimal(str(amount)) < Decimal("0.01")


def test_a_bet_finer_than_the_currency_is_still_refused(provider, alice):
    assert provider.bet("b-1", "5.001", currency="USD").error == "INVALID_REQUEST"
    assert usd(alice) == Decimal("50.00")


def test_a_result_beyond_any_sensible_precision_is_refused_and_staff_see_it_once(provider, alice):
    amount = "1." + "1" * 19
    for _ in range(3):
        assert provider.result("r-1", amount, currency="USD").error == "INVALID_REQUEST"
    assert usd(alice) == Decimal("50.00")
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.CALLBACK_REFUSED)
    assert "igpx result r-1" in item.summary


# --- Refusals IGPX would retry forever ---------------------------------------------------------


def test_a_result_for_an_unknown_player_is_not_stored_and_staff_see_it_once(provider, alice):
    for _ in range(3):
        assert provider.result("r-1", "5.00", user="nobody").error == "USER_NOT_FOUND"
    assert not IdempotencyRecord.objects.filter(external_id="r-1").exists()  # a retry can still succeed
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.CALLBACK_REFUSED).count() == 1
    make_player("nobody")
    assert provider.result("r-1", "5.00", user="nobody").error is None


def test_a_rollback_of_a_rollback_is_a_final_answer_staff_see(provider, alice):
    provider.bet("b-1", "10.00")
    provider.rollback("rb-1", "b-1", "10.00")
    first = provider.rollback("rb-2", "rb-1", "10.00")
    assert first.json == {"error": "INVALID_REQUEST"}
    assert provider.rollback("rb-2", "rb-1", "10.00").raw == first.raw
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.CALLBACK_REFUSED).count() == 1


def test_a_reused_id_retried_forever_gives_staff_one_conflict(provider, alice):
    from wallet.models import IdempotencyConflict

    assert provider.result("r-1", "5.00").error is None
    for _ in range(4):
        assert provider.result("r-1", "9.00").error == "TRANSACTION_MISMATCH"
    assert IdempotencyConflict.objects.count() == 1
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.IDEMPOTENCY_CONFLICT).count() == 1
    assert balance(alice) == Decimal("55.00")


def test_a_refused_bet_is_not_flagged(provider, alice):
    assert provider.bet("b-1", "999.00").error == "INSUFFICIENT_FUNDS"
    assert provider.bet("b-2", "-1").error == "INVALID_REQUEST"
    assert not ReviewItem.objects.exists()


def test_an_unsigned_result_is_not_flagged(provider, alice):
    body = b'{"action":"result","transaction_id":"r-1"}'
    assert provider.post_raw("transaction", body, signature="0" * 64).error == "INVALID_SIGNATURE"
    assert not ReviewItem.objects.exists()


# --- Hostile input -------------------------------------------------------------------------------


def test_duplicate_keys_are_refused(provider, alice):
    state = snapshot()
    body = (
        b'{"transaction_id":"d-1","action":"bet","action":"result","user_id":"alice",'
        b'"currency":"EUR","amount":"5.00","amount":"50.00"}'
    )
    answer = provider.post_raw("transaction", body)
    assert answer.error == "INVALID_REQUEST"
    after = snapshot()
    assert after["balances"] == state["balances"] and after["LedgerTransaction"] == state["LedgerTransaction"]


def test_deeply_nested_json_is_a_bad_request_not_an_internal_error(provider, alice, caplog):
    with caplog.at_level(logging.INFO):
        for body in (b"[" * 5000, b'{"a":' * 5000):
            assert provider.post_raw("transaction", body).error == "INVALID_REQUEST"
            assert provider.post_raw("transaction-rollback", body).error == "INVALID_REQUEST"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("name", ["transaction_id", "user_id"])
def test_nfc_and_nfd_cannot_be_two_ids(provider, alice, name):
    for text in ("caf\u00e9", "cafe\u0301"):
        payload = {"transaction_id": "b-1", "action": "bet", "user_id": "alice", "currency": "EUR", "amount": "1.00"}
        payload[name] = text
        assert provider.post("transaction", payload).error == "INVALID_REQUEST"
    assert not Bet.objects.exists()


@pytest.mark.parametrize("value", ["\ud800", "a\x00b", " b-1", "b-1\n", "a b", "x" * 129])
def test_ids_outside_the_identifier_rule_are_refused(provider, alice, value):
    body = json.dumps(
        {"transaction_id": value, "action": "bet", "user_id": "alice", "currency": "EUR", "amount": "1.00"}
    ).encode()
    assert provider.post_raw("transaction", body).error == "INVALID_REQUEST"
    assert not Bet.objects.exists()


# --- Every answer on an IGPX path is in IGPX's format --------------------------------------------


@pytest.mark.parametrize("path", ["transaction/", "/transaction", "transaction%00", "nope", ""])
def test_unknown_igpx_paths_answer_in_igpx_format(path):
    client = Client(enforce_csrf_checks=True)  # as the web process: CSRF must not answer first
    response = client.post(f"/api/igpx/{path}", b"{}", content_type="application/json")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"error": "INVALID_REQUEST"}


@pytest.mark.parametrize("method", ["get", "put", "delete", "head"])
def test_a_wrong_method_answers_in_igpx_format(client, method):
    response = getattr(client, method)("/api/igpx/transaction")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response["Content-Type"] == "application/json"
    if method != "head":
        assert response.json() == {"error": "INVALID_REQUEST"}


# --- Address allow-list and bad signatures: refused, logged once per interval -------------------


def test_an_address_outside_the_allow_list_is_refused_and_logged_once(provider, alice, monkeypatch, caplog):
    from wallet import allowlist

    monkeypatch.setattr(conf, "ALLOWED_IPS", allowlist.AllowList("IGPX_ALLOWED_IPS", ["10.1.2.0/24"]))
    with caplog.at_level(logging.WARNING, logger="touchline.security"):
        for n in range(5):
            assert provider.bet(f"b-{n}", "1.00").error == "INVALID_SIGNATURE"
    assert balance(alice) == Decimal("50.00") and not IdempotencyRecord.objects.exists()
    assert len([r for r in caplog.records if "not in IGPX_ALLOWED_IPS" in r.getMessage()]) == 1
    monkeypatch.setattr(conf, "ALLOWED_IPS", allowlist.AllowList("IGPX_ALLOWED_IPS", ["127.0.0.0/8"]))
    assert provider.bet("b-ok", "1.00").error is None


def test_bad_signatures_are_logged_once_per_interval(provider, alice, caplog):
    with caplog.at_level(logging.WARNING, logger="touchline.security.igpx"):
        for _ in range(10):
            assert provider.post_raw("transaction", b"{}", signature="0" * 64).error == "INVALID_SIGNATURE"
    assert len([r for r in caplog.records if r.name == "touchline.security.igpx"]) <= 1


def test_the_allow_list_reads_ipv4_mapped_addresses_and_refuses_bad_settings():
    from django.core.exceptions import ImproperlyConfigured

    from wallet import allowlist

    allowed = allowlist.AllowList("IGPX_ALLOWED_IPS", ["203.0.113.0/24", "2001:db8::/32"])
    assert allowed.allows("203.0.113.9") and allowed.allows("::ffff:203.0.113.9") and allowed.allows("2001:db8::1")
    assert not allowed.allows("198.51.100.1") and not allowed.allows(None) and not allowed.allows("junk")
    assert allowlist.AllowList("IGPX_ALLOWED_IPS", []).allows("198.51.100.1")
    with pytest.raises(ImproperlyConfigured, match="IGPX_ALLOWED_IPS"):
        allowlist.AllowList("IGPX_ALLOWED_IPS", ["not-an-ip"])


def test_nothing_moved_for_a_refused_rollback_target(provider, alice):
    # Guard for the rollback rules above: a rollback of an unknown id still tombstones, moves nothing.
    assert provider.rollback("rb-1", "ghost", "5.00").error is None
    assert LedgerTransaction.objects.filter(external_id="rb-1").count() == 0


@pytest.mark.parametrize(("user", "currency"), [("nobody", "EUR"), ("alice", "GBP")])
def test_a_rollback_naming_no_wallet_still_undoes_its_known_target(provider, alice, user, currency):
    provider.bet("b-1", "10.00")
    answer = provider.rollback("rb-1", "b-1", "10.00", user=user, currency=currency)
    assert answer.error is None and balance(alice) == Decimal("50.00")
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.ROLLBACK_MISMATCH)
    assert f"user_id {user} with no {currency} wallet" in item.summary and item.player == alice
    # With nothing to undo, a wallet is needed for the record: not stored, staff told, retry can succeed.
    assert provider.rollback("rb-2", "ghost", "1.00", user="nobody").error == "USER_NOT_FOUND"
    assert not IdempotencyRecord.objects.filter(external_id__in=("rb-2", "ghost")).exists()


def test_staff_can_open_each_new_kind_of_review_item(provider, alice, admin_client):
    provider.result("r-1", "6.1605", currency="USD")  # rounded_payout
    provider.bet("b-1", "10.00")
    provider.rollback("rb-1", "b-1", "5.00")  # rollback_mismatch
    provider.result("r-2", "5.00", user="nobody")  # callback_refused
    kinds = set(ReviewItem.objects.values_list("kind", flat=True))
    assert kinds == {"rounded_payout", "rollback_mismatch", "callback_refused"}
    assert admin_client.get("/admin/wallet/reviewitem/").status_code == 200
    for item in ReviewItem.objects.all():
        assert admin_client.get(f"/admin/wallet/reviewitem/{item.pk}/change/").status_code == 200

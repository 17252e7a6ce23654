"""The IGPX wire format on its own: signatures, parsing, rendering, client messages."""

from decimal import Decimal

import pytest

from wallet.igpx import protocol
from wallet.igpx.protocol import IgpxError

# protocols/igpx.md §3.2: our test vector.
VECTOR_SECRET = "example-secret"
VECTOR_BODY = b'{"transaction_id":"tx-1001","action":"bet","user_id":"42","currency":"EUR","amount":"5.00"}'
VECTOR_HEX = "e4ddb5c451a46a71801f7acee70e8688800fed8cdccd5ad464542fbd696b4c00"
VECTOR_BASE64 = "5N21xFGkanGAH3rO5w6GiIAP7YzczVrUZFQvvWlrTAA="


def test_signature_known_vector():
    assert protocol.sign(VECTOR_BODY, VECTOR_SECRET) == VECTOR_HEX
    protocol.verify_signature(VECTOR_BODY, VECTOR_HEX, VECTOR_SECRET)


def test_signature_hex_case_is_irrelevant():
    protocol.verify_signature(VECTOR_BODY, VECTOR_HEX.upper(), VECTOR_SECRET)


@pytest.mark.parametrize(
    ("body", "header", "secret"),
    [
        (VECTOR_BODY, VECTOR_BASE64, VECTOR_SECRET),  # right digest, wrong encoding
        (VECTOR_BODY, None, VECTOR_SECRET),
        (VECTOR_BODY, "", VECTOR_SECRET),
        (VECTOR_BODY, VECTOR_HEX, "other-secret"),
        (VECTOR_BODY.replace(b"5.00", b"50.0"), VECTOR_HEX, VECTOR_SECRET),  # tampered body
        (VECTOR_BODY + b" ", VECTOR_HEX, VECTOR_SECRET),  # the raw bytes count, not the JSON
        (VECTOR_BODY, VECTOR_SECRET, VECTOR_SECRET),  # the seed's placeholder taken literally
        (VECTOR_BODY, VECTOR_HEX[:-2], VECTOR_SECRET),
        (VECTOR_BODY, VECTOR_HEX, ""),  # no secret configured refuses everything
        (VECTOR_BODY, "é" * 64, VECTOR_SECRET),
    ],
)
def test_signature_refusals(body, header, secret):
    with pytest.raises(IgpxError) as refusal:
        protocol.verify_signature(body, header, secret)
    assert refusal.value.code == protocol.INVALID_SIGNATURE


def test_parse_transaction_vector():
    parsed = protocol.parse_transaction(VECTOR_BODY)
    assert parsed == protocol.Transaction("tx-1001", "bet", "42", "EUR", Decimal("5.00"))


def test_amount_as_json_number_never_goes_through_float():
    parsed = protocol.parse_transaction(
        b'{"transaction_id":"t","action":"result","user_id":"42","currency":"BTC","amount":0.30000001}'
    )
    assert parsed.amount == Decimal("0.30000001")


def test_integer_ids_are_taken_as_text():
    parsed = protocol.parse_transaction(
        b'{"transaction_id":1001,"action":"bet","user_id":42,"currency":"EUR","amount":5}'
    )
    assert (parsed.transaction_id, parsed.user_id, parsed.amount) == ("1001", "42", Decimal(5))


def test_result_may_be_zero_but_a_bet_may_not():
    body = b'{"transaction_id":"t","action":"%s","user_id":"42","currency":"EUR","amount":"0"}'
    assert protocol.parse_transaction(body % b"result").amount == 0
    with pytest.raises(IgpxError):
        protocol.parse_transaction(body % b"bet")


def test_rollback_parsing_and_canonical_content():
    parsed = protocol.parse_rollback(
        b'{"transaction_id":"r1","rollback_transaction_id":"b1","action":"rollback","user_id":"42",'
        b'"currency":"EUR","amount":"5.0"}'
    )
    assert parsed.canonical() == {
        "action": "rollback",
        "user_id": "42",
        "currency": "EUR",
        "amount": Decimal("5.0"),
        "rollback_transaction_id": "b1",
    }


def test_rollback_of_itself_is_refused():
    with pytest.raises(IgpxError) as refusal:
        protocol.parse_rollback(
            b'{"transaction_id":"r1","rollback_transaction_id":"r1","action":"rollback","user_id":"42",'
            b'"currency":"EUR","amount":"5"}'
        )
    assert refusal.value.code == protocol.INVALID_REQUEST


def test_unsupported_currency_is_a_currency_mismatch():
    with pytest.raises(IgpxError) as refusal:
        protocol.parse_transaction(
            b'{"transaction_id":"t","action":"bet","user_id":"42","currency":"XYZ","amount":"5"}'
        )
    assert refusal.value.code == protocol.CURRENCY_MISMATCH


def test_responses():
    assert protocol.render_success("T7") == '{"error": null, "transaction_id": "T7"}'
    assert protocol.render_error("INSUFFICIENT_FUNDS") == '{"error": "INSUFFICIENT_FUNDS"}'


@pytest.mark.parametrize(("raw", "seconds"), [("3600", 3600.0), (3600, 3600.0), ("90.5", 90.5), (" 60 ", 60.0)])
def test_auth_response_expires_in_string_or_number(raw, seconds):
    assert protocol.parse_auth_response({"token": "t", "expires_in": raw}) == protocol.Token("t", seconds)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"token": "t"},
        {"token": "", "expires_in": 5},
        {"token": "t", "expires_in": "x"},
        {"token": "t", "expires_in": -1},
        {"token": "t", "expires_in": True},
        [],
    ],
)
def test_auth_response_refusals(data):
    with pytest.raises(IgpxError):
        protocol.parse_auth_response(data)


def test_start_session_body_sends_user_id_as_string():
    assert protocol.start_session_body(user_id=42, currency="EUR", lang=None) == {"user_id": "42", "currency": "EUR"}
    assert protocol.start_session_body(user_id="42", currency="EUR", lang="es")["lang"] == "es"

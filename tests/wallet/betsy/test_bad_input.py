"""Every bad input gets Betsy's error format and the right code, and leaves no state behind."""

from decimal import Decimal

import pytest

from tests.wallet.betsy.conftest import state_counts

pytestmark = pytest.mark.django_db


def place_body(betsy, alice, **changes):
    body = betsy.bet_body(type_=1, transaction_id="tx-1", user_id="alice", currency="USD", amount=5, token=alice.token)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


PLACE_CASES = [
    ({"amount": ...}, "amount missing"),
    ({"amount": 0}, "zero stake"),
    ({"amount": -5}, "negative stake"),
    ({"amount": "abc"}, "not a number"),
    ({"amount": True}, "boolean"),
    ({"amount": Decimal("5.001")}, "finer than the currency"),
    ({"amount": Decimal("10000000000000000")}, "absurdly large"),
    ({"currency": "XYZ"}, "unknown currency"),
    ({"currency": 840}, "currency not a string"),
    ({"transactionId": ...}, "no transactionId"),
    ({"transactionId": ""}, "empty transactionId"),
    ({"transactionId": "a" * 65}, "transactionId too long"),
    ({"transactionId": "tx/1"}, "transactionId outside the identifier rule"),
    ({"transactionId": "caf\u00e9"}, "transactionId not ASCII"),
    ({"userId": "\ud800"}, "userId with a lone surrogate"),
    ({"userId": " alice"}, "userId with padding"),
    ({"transactionId": 123}, "transactionId not a string"),
    ({"userId": ...}, "no userId"),
    ({"userId": ""}, "empty userId"),
    ({"userId": ["alice"]}, "userId not a string"),
    ({"requestId": ...}, "no requestId"),
    ({"type": ...}, "no type"),
    ({"type": "1"}, "type as a string"),
    ({"type": True}, "type as a boolean"),
    ({"type": 2}, "POST with type 2"),
    ({"type": 3}, "POST with type 3"),
    ({"type": 9}, "unknown type"),
    ({"coefficient": 0}, "zero odds"),
    ({"coefficient": "two"}, "odds not a number"),
    ({"coefficient": Decimal("1.1234567")}, "odds too fine"),
    ({"bonusAmount": 6}, "bonus above the stake"),
    ({"bonusAmount": -1}, "negative bonus"),
    ({"bonusId": "x"}, "bonusId not an integer"),
    ({"metadata": {"eventId": 1}}, "metadata not an array"),
    ({"metadata": [1]}, "selection not an object"),
    ({"metadata": [{"eventDate": "01/05/2026"}]}, "bad eventDate"),
    ({"metadata": [{"eventId": {"x": 1}}]}, "bad eventId"),
    ({"metadata": [{"coefficient": -2}]}, "negative selection odds"),
    ({"metadata": [{}] * 101}, "too many selections"),
    ({"ticketType": 1}, "ticketType not a string"),
    ({"token": 12345678901}, "token not a string"),
    ({"token": "short"}, "token too short"),
]


@pytest.mark.parametrize(("changes", "why"), PLACE_CASES, ids=[why for _, why in PLACE_CASES])
def test_bad_place_bet_is_code_5_and_stores_nothing(betsy, alice, changes, why):
    before = state_counts()
    reply = betsy.request("POST", "/payment/bet", place_body(betsy, alice, **changes))
    assert reply.status == 400, why
    assert reply.data["code"] == 5, (why, reply.data)
    assert isinstance(reply.data["message"], str) and reply.data["message"]
    assert state_counts() == before
    assert alice.balance == 20


@pytest.mark.parametrize("number", [b"5e0", b"5E0", b"0.5e1", b"5.0", b"5"])
def test_amount_in_exponent_notation_is_refused(betsy, alice, number):
    from wallet.betsy import protocol

    raw = protocol.dumps(place_body(betsy, alice))
    assert b'"amount":5,' in raw
    reply = betsy.request("POST", "/payment/bet", raw.replace(b'"amount":5,', b'"amount":' + number + b","))
    if b"e" in number.lower():
        assert reply.data["code"] == 5 and alice.balance == 20
    else:
        assert reply.status == 200 and alice.balance == 15


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty"),
        (b"not json", "not JSON"),
        (b"[1,2]", "not an object"),
        (b'{"type":1,"amount":NaN}', "NaN"),
        (b'{"type":1,"amount":Infinity}', "Infinity"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100000, "deeply nested"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/payment/bet"),
        ("PUT", "/payment/bet"),
        ("POST", "/user/profile"),
        ("POST", "/user/balance"),
        ("POST", "/payment/check"),
    ],
)
def test_unparseable_bodies_are_code_5(betsy, alice, body, why, method, path):
    before = state_counts()
    reply = betsy.request(method, path, body)
    assert (reply.status, reply.data["code"]) == (400, 5), why
    assert state_counts() == before


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"resultType": ...}, "settle without resultType"),
        ({"resultType": "won!"}, "resultType with odd characters"),
        ({"resultType": ""}, "empty resultType"),
        ({"amount": -1}, "negative payout"),
        ({"type": 4}, "PUT with an unknown type"),
        ({"errorCode": "x"}, "errorCode not an integer"),
    ],
)
def test_bad_settlements_are_code_5(betsy, alice, changes, why):
    betsy.place("tx-1", "alice", "USD", 5, alice.token)
    before = state_counts()
    body = betsy.bet_body(
        type_=2, transaction_id="tx-1", user_id="alice", currency="USD", amount=10, token=None, resultType="won"
    )
    if changes.get("errorCode"):
        body["type"] = 3
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    reply = betsy.request("PUT", "/payment/bet", body)
    assert (reply.status, reply.data["code"]) == (400, 5), why
    assert state_counts() == before and alice.balance == 15


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/payment/bet"),
        ("DELETE", "/payment/bet"),
        ("GET", "/user/profile"),
        ("PUT", "/user/balance"),
        ("PUT", "/payment/check"),
    ],
)
def test_other_methods_are_not_allowed(betsy, method, path):
    reply = betsy.request(method, path, b"{}")
    assert reply.status == 405


@pytest.mark.parametrize("path", ["/payment/bet/", "/user/profile/"])
def test_paths_have_no_trailing_slash(betsy, path):
    assert betsy.request("POST", path, b"{}").status == 404


@pytest.mark.parametrize(
    "payload",
    [
        {"token": "x" * 9, "requestId": "r"},
        {"token": "x" * 65, "requestId": "r"},
        {"requestId": "r"},
        {"token": "x" * 20},
        {"token": 1234567890123, "requestId": "r"},
    ],
)
def test_bad_profile_requests(betsy, payload):
    assert betsy.request("POST", "/user/profile", payload).data["code"] == 5


def test_a_database_failure_is_code_100_and_leaves_nothing(betsy, alice, monkeypatch):
    """Code 100 on place bet makes Betsy roll back; nothing may have been debited."""
    from wallet.betsy import services

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "bet_place_apply", broken)
    before = state_counts()
    reply = betsy.place("tx-1", "alice", "USD", 5, alice.token)
    assert (reply.status, reply.data["code"]) == (400, 100)
    assert state_counts() == before and alice.balance == 20
    # Betsy's rollback then leaves a tombstone; the balance never moved.
    assert betsy.rollback("tx-1", "alice", "USD", 5).status == 200
    assert alice.balance == 20

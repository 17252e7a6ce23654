"""Parsing a /payment/bet body takes the usual values inline (issue #18): the result, or the
refusal and its message, must be exactly what the field readers alone give."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from wallet import money
from wallet.betsy import parsing, protocol
from wallet.betsy.parsing import BetCall
from wallet.betsy.protocol import BetsyError


def _by_the_readers(metadata: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """normalise_selections as it was: every field through its reader."""
    legs = []
    for index, item in enumerate(metadata):
        leg = {}
        for name, (key, read) in parsing._SELECTION_FIELDS.items():
            value = item.get(name)
            if value is not None:
                value = read(value, name, index)
                if value is not None:
                    leg[key] = value
        legs.append(leg)
    return legs


def _outcome(parse, metadata) -> tuple[str, Any]:
    try:
        return "ok", parse(metadata)
    except BetsyError as error:
        return "refused", (error.code, error.message)


_USUAL = {
    "disciplineId": 1,
    "discipline": "Football",
    "tournamentId": "17",
    "tournament": "Premier League",
    "eventId": 50601,
    "event": "Arsenal - Chelsea",
    "eventDate": "2026-05-01 18:30:00",
    "marketId": 1,
    "market": "1x2",
    "outcomeId": "sr:outcome:1",
    "outcome": "Arsenal",
    "coefficient": Decimal("2.0"),
    "stage": 0,
}

_ODD = [
    {"disciplineId": 10**19},  # an integer id past the inline path's bound
    {"disciplineId": -(10**19) + 1},
    {"eventId": 10**70},  # too long as text
    {"eventId": True},
    {"eventId": 1.5},
    {"eventId": "x" * 64},
    {"eventId": "x" * 65},
    {"event": "y" * 255},
    {"event": "y" * 256},
    {"event": 7},
    {"eventDate": "2026-5-1 18:30:00"},  # strptime's leniency
    {"eventDate": "2026-02-30 18:30:00"},
    {"eventDate": "2026-05-01T18:30:00"},
    {"eventDate": 20260501},
    {"coefficient": Decimal("1.123456")},
    {"coefficient": Decimal("1.1234567")},
    {"coefficient": Decimal("0")},
    {"coefficient": Decimal("-2")},
    {"coefficient": Decimal("1e9")},
    {"coefficient": Decimal("999999999.999999")},
    {"coefficient": money.ExponentDecimal("2E0")},
    {"coefficient": Decimal("NaN")},
    {"coefficient": 3},
    {"coefficient": True},
    {"coefficient": 2.5},
    {"market": None, "outcome": ""},
]


@pytest.mark.parametrize("item", [_USUAL, *_ODD, {**_USUAL, **_ODD[0]}], ids=repr)
def test_selections_are_what_the_readers_alone_give(item):
    for _ in range(2):  # the second time with the event dates already read
        assert _outcome(parsing.normalise_selections, [item]) == _outcome(_by_the_readers, [item])


def test_the_event_date_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(parsing, "_event_dates", {})
    monkeypatch.setattr(parsing, "_EVENT_DATES_KEPT", 3)
    for day in range(1, 10):
        value = f"2026-05-{day:02d} 18:30:00"
        assert parsing.normalise_selections([{"eventDate": value}]) == [{"event_date": f"2026-05-{day:02d}T18:30:00Z"}]
        assert len(parsing._event_dates) <= 3


def test_a_parsed_bet_call_is_the_dataclass_s_own():
    body = (
        b'{"requestId":"r-1","transactionId":"t-1","token":"tttttttttttt","userId":"u-1","currency":"USD",'
        b'"amount":2.50,"type":1,"coefficient":2.0,"ticketType":"single","metadata":[{"eventId":5}]}'
    )
    call = parsing.parse_bet("POST", body)
    fields = {f.name: getattr(call, f.name) for f in dataclasses.fields(BetCall)}
    assert vars(call) == fields  # every field set, nothing else
    assert call == BetCall(**fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.amount = Decimal(0)  # type: ignore[misc]


def _bet_by_the_readers(method: str, body: bytes) -> BetCall:
    """parse_bet as it was: every field through its reader."""
    data = parsing._load_object(body)
    type_ = data.get("type")
    if isinstance(type_, bool) or not isinstance(type_, int):
        raise parsing._invalid("type must be an integer")
    operation = parsing.BET_OPERATIONS.get((method.upper(), type_))
    if operation is None:
        raise parsing._invalid(f"type {type_} is not valid with {method.upper()}")
    currency = parsing._currency(data)
    payout = operation != parsing.PLACE
    amount = parsing._amount(data, "amount", currency, allow_zero=payout, payout=payout)
    token_required = operation == parsing.PLACE
    result_type = ""
    if operation == parsing.SETTLE:
        result_type = parsing._required_text(data, "resultType", pattern=parsing._RESULT_TYPE).lower()
        token_required = result_type == "cashout"
    token = parsing._text(data, "token", min_len=10, max_len=64, required=token_required)
    bonus_amount = parsing._amount(data, "bonusAmount", currency, allow_zero=True, required=False, payout=payout)
    if bonus_amount is not None and bonus_amount > amount:
        raise parsing._invalid("bonusAmount exceeds amount")
    selections = parsing.normalise_selections(data.get("metadata")) if operation == parsing.PLACE else []
    ticket_type = parsing._text(data, "ticketType", min_len=0, max_len=32, required=False) or ""
    error_code = parsing._optional_int(data, "errorCode") if operation == parsing.ROLLBACK else None
    return BetCall(
        operation=operation,
        transaction_id=parsing._identifier(data, "transactionId", parsing.TRANSACTION_ID_MAX),
        request_id=parsing._identifier(data, "requestId"),
        user_id=parsing._identifier(data, "userId"),
        currency=currency,
        amount=amount,
        token=token,
        result_type=result_type,
        error_code=error_code,
        sub_partner_id=parsing._text(data, "subPartnerId", max_len=64, required=False, allow_int=True),
        coefficient=parsing._odds(data.get("coefficient"), "coefficient"),
        bonus_amount=bonus_amount if bonus_amount else None,
        bonus_id=parsing._optional_int(data, "bonusId"),
        bonus_template_id=parsing._optional_int(data, "bonusTemplateId"),
        ticket_type=ticket_type,
        bet_type=parsing.bet_type_for(ticket_type, len(selections)),
        selections=selections,
    )


_BET = {
    "requestId": "r-1",
    "transactionId": "t-1",
    "token": "tttttttttttt",
    "userId": "u-1",
    "currency": "USD",
    "amount": Decimal("5.00"),
    "coefficient": Decimal("2.0"),
    "subPartnerId": None,
    "bonusId": None,
    "bonusTemplateId": None,
    "bonusAmount": None,
    "ticketType": "single",
    "metadata": [_USUAL],
}
# Each inlined field's usual and unusual values (alone, and two bad ones at once: which refusal
# comes first must not change either).
_FIELD_VALUES = {
    "token": [None, "t" * 10, "t" * 64, "t" * 9, "t" * 65, "", 12345678901, True],
    "ticketType": [None, "", "express", "x" * 32, "x" * 33, 1, False],
    "subPartnerId": [None, "sp", "s" * 64, "s" * 65, "", 7, True, ["sp"]],
    "coefficient": [
        None,
        Decimal("1.5"),
        Decimal("1.1234567"),
        Decimal(0),
        Decimal("1e9"),
        money.ExponentDecimal("2E0"),
        3,
        True,
        "2.0",
    ],
    "bonusId": [None, 1, "x", True, 2.5],
    "bonusTemplateId": [None, 0, "x", False],
    "amount": [
        Decimal("5.00"),
        Decimal("5.0"),
        Decimal("5.000"),
        Decimal("5"),
        5,
        0,
        Decimal("0.00"),
        Decimal("-0.00"),
        Decimal("-5.00"),
        Decimal("0.001"),
        Decimal("5.001"),
        Decimal("5.000000001"),
        Decimal("999999999999999.99"),
        Decimal("1000000000000000.00"),
        Decimal("1000000000000000"),
        money.ExponentDecimal("5E0"),
        "5.00",
        True,
        None,
        [5],
    ],
    "resultType": ["won", "lost", "Won", "LOST", "refund", "weird", "", "x" * 17, "wo n", 5, None, ["won"], {"a": 1}],
    "currency": ["EUR", "JPY", "BTC", "XXX", None, 5],
    "transactionId": ["t" * 64, "t" * 65, "", "t 1", "t-1.a:b@c_d", "tü", 17, None, ["t"]],
    "requestId": ["r" * 64, "r" * 65, "", "r\n", 17, None],
    "userId": ["u" * 64, "u" * 65, "", "u/1", 17, 10**70, True, None],
    "bonusAmount": [None, Decimal(0), Decimal("1.00"), Decimal("6"), Decimal("-1"), "x", True],
}
_CASES = [{}] + [{name: value} for name, values in _FIELD_VALUES.items() for value in values]
_CASES += [
    {"token": "short", "ticketType": 1},
    {"ticketType": 1, "subPartnerId": ""},
    {"subPartnerId": True, "coefficient": "x"},
    {"coefficient": "x", "bonusId": "x"},
    {"bonusId": "x", "bonusTemplateId": "x"},
    {"bonusAmount": Decimal("6"), "ticketType": 1},
    {"token": None, "transactionId": ""},
    {"currency": "JPY", "amount": Decimal("5")},
    {"currency": "JPY", "amount": Decimal("5.0")},
    {"currency": "BTC", "amount": Decimal("0.00000001")},
    {"currency": "BTC", "amount": Decimal("0.000000010")},
    {"currency": "XXX", "amount": Decimal("5.00")},
    {"amount": Decimal("-5.00"), "resultType": "x" * 17},
    {"amount": 0, "token": None},
]


@pytest.mark.parametrize("changes", _CASES, ids=repr)
@pytest.mark.parametrize(
    ("method", "extra"),
    [("POST", {"type": 1}), ("PUT", {"type": 2, "resultType": "won"}), ("PUT", {"type": 2, "resultType": "cashout"})]
    + [("PUT", {"type": 3, "errorCode": 4}), ("PUT", {"type": 1})],
    ids=["place", "settle", "cashout", "rollback", "unsettle"],
)
def test_a_bet_call_is_what_the_readers_alone_give(changes, method, extra):
    body = protocol.dumps({**_BET, **extra, **changes})
    fast = _outcome(lambda raw: parsing.parse_bet(method, raw), body)
    assert fast == _outcome(lambda raw: _bet_by_the_readers(method, raw), body)
    if fast[0] == "ok":  # Decimals compare by value: their written form must match too
        readers = _bet_by_the_readers(method, body)
        for name in ("amount", "bonus_amount", "coefficient"):
            assert str(getattr(fast[1], name)) == str(getattr(readers, name))

"""Parsing a /payment/bet body takes the usual values inline (issue #18): the result, or the
refusal and its message, must be exactly what the field readers alone give."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from wallet import money
from wallet.betsy import protocol
from wallet.betsy.protocol import BetCall, BetsyError


def _by_the_readers(metadata: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """normalise_selections as it was: every field through its reader."""
    legs = []
    for index, item in enumerate(metadata):
        leg = {}
        for name, (key, read) in protocol._SELECTION_FIELDS.items():
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
        assert _outcome(protocol.normalise_selections, [item]) == _outcome(_by_the_readers, [item])


def test_the_event_date_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(protocol, "_event_dates", {})
    monkeypatch.setattr(protocol, "_EVENT_DATES_KEPT", 3)
    for day in range(1, 10):
        value = f"2026-05-{day:02d} 18:30:00"
        assert protocol.normalise_selections([{"eventDate": value}]) == [{"event_date": f"2026-05-{day:02d}T18:30:00Z"}]
        assert len(protocol._event_dates) <= 3


def test_a_parsed_bet_call_is_the_dataclass_s_own():
    body = (
        b'{"requestId":"r-1","transactionId":"t-1","token":"tttttttttttt","userId":"u-1","currency":"USD",'
        b'"amount":2.50,"type":1,"coefficient":2.0,"ticketType":"single","metadata":[{"eventId":5}]}'
    )
    call = protocol.parse_bet("POST", body)
    fields = {f.name: getattr(call, f.name) for f in dataclasses.fields(BetCall)}
    assert vars(call) == fields  # every field set, nothing else
    assert call == BetCall(**fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.amount = Decimal(0)  # type: ignore[misc]

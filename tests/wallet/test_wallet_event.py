"""`events.event` builds a WalletEvent without the frozen dataclass's __init__ (issue #18): the
object must be the one `WalletEvent(**values)` makes, fields in the same order, still frozen."""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, asdict, fields
from decimal import Decimal

import pytest

from wallet import events
from wallet.events import WalletEvent

CASES = [
    {"kind": events.BET_PLACED, "player_id": 1, "currency": "USD", "provider": "betsy"},
    {  # a settlement step's, as postings._apply_step publishes it
        "kind": events.BET_RESETTLED,
        "player_id": 7,
        "currency": "EUR",
        "provider": "betsy",
        "bet_id": 3,
        "settlement_id": 9,
        "transaction_ids": (11, 12),
        "amount": Decimal("5.00"),
        "previous_amount": Decimal("0"),
        "balance_after": Decimal("105.5"),
        "moved": Decimal("5.00"),
        "is_test": False,
        "bet": "the bet",
        "settlement": "the step",
        "player_external_id": "p-1",
        "roles_known": True,
        "credit_id": 11,
        "refund_id": None,
        "payout_reversal_id": 12,
        "moved_by_reversal": Decimal("-2"),
        "unsettled_before": True,
        "prefetched": {"crm": (1, "tl-bet-3")},
    },
]


@pytest.mark.parametrize("values", CASES)
def test_event_is_the_dataclass_s_own(values: dict) -> None:
    made = events.event(**values)
    expected = WalletEvent(**values)
    assert type(made) is WalletEvent
    assert made == expected
    assert repr(made) == repr(expected)
    assert list(vars(made).items()) == list(vars(expected).items())  # every field, in field order
    assert asdict(made) == asdict(expected)
    assert hash(made.transaction_ids) == hash(expected.transaction_ids)
    with pytest.raises(FrozenInstanceError):  # still frozen
        made.amount = Decimal(1)  # type: ignore[misc]


def test_the_defaults_are_shared_so_immutable() -> None:
    # events.event gives every event the same default objects: no default_factory, nothing mutable.
    for f in fields(WalletEvent):
        assert f.default_factory is MISSING, f.name
        assert f.default is MISSING or type(f.default) in (type(None), bool, tuple, Decimal), f.name


def test_a_missing_or_unknown_field_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="missing \\['provider'\\]"):
        events.event(kind=events.BET_PLACED, player_id=1, currency="USD")
    with pytest.raises(TypeError, match="unknown \\['colour'\\]"):
        events.event(kind=events.BET_PLACED, player_id=1, currency="USD", provider="x", colour="red")

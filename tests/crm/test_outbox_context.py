"""The CRM export's context is built without the frozen dataclass's __init__ (issue #18): it must
be the dataclass's own, field for field."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from crm import outbox


def test_a_context_is_the_dataclass_s_own():
    required = {"is_test": False, "balance": Decimal("12.50"), "moved_all": Decimal("5"), "moved_first": Decimal(0)}
    for extra in ({}, {"credit_id": 7, "force_status": "Approved", "force_amount": Decimal("1.5")}):
        built = outbox._new_context(**required, **extra)
        assert built == outbox._Context(**required, **extra)
        assert vars(built) == dataclasses.asdict(outbox._Context(**required, **extra))
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.balance = Decimal(0)  # type: ignore[misc]


def test_a_context_refuses_what_the_dataclass_refuses():
    with pytest.raises(TypeError):
        outbox._new_context(is_test=False, balance=Decimal(0), moved_all=Decimal(0))  # moved_first missing
    with pytest.raises(TypeError):
        outbox._new_context(is_test=False, balance=Decimal(0), moved_all=Decimal(0), moved_first=Decimal(0), nope=1)

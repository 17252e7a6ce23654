from decimal import Decimal

import pytest

from wallet import money
from wallet.errors import InvalidAmount, UnknownCurrency


@pytest.mark.parametrize(
    ("raw", "currency", "expected"),
    [
        ("5", "EUR", "5.00"),
        ("5.5", "EUR", "5.50"),
        ("5.000", "EUR", "5.00"),
        (7, "EUR", "7.00"),
        (Decimal("0.00000001"), "BTC", "0.00000001"),
        ("1000", "JPY", "1000"),
    ],
)
def test_accepts_exact_amounts(raw, currency, expected):
    assert money.parse_amount(raw, currency) == Decimal(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "-1",
        "0",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e3",
        "1E3",
        "5.001",
        "1.12345678901234567890",
        "1.00000000000000000000",
        "",
        " 5",
        "+5",
        "abc",
        "1,5",
        1.5,
        True,
        None,
        [],
        {},
        "99999999999999999999",
    ],
)
def test_refuses_bad_amounts(raw):
    with pytest.raises(InvalidAmount):
        money.parse_amount(raw, "EUR")


def test_zero_only_when_allowed():
    assert money.parse_amount("0", "EUR", allow_zero=True) == Decimal("0.00")
    assert money.parse_amount("-0", "EUR", allow_zero=True) == Decimal("0.00")


def test_json_numbers_never_become_floats():
    data = money.loads(b'{"a": 0.1, "b": 10, "c": 1e3}')
    assert isinstance(data["a"], Decimal) and data["a"] == Decimal("0.1")
    assert isinstance(data["b"], int)
    with pytest.raises(InvalidAmount, match="exponent"):
        money.parse_amount(data["c"], "EUR")


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_json_refuses_non_finite_constants(body):
    with pytest.raises(ValueError):
        money.loads(body)


def test_unknown_currency():
    with pytest.raises(UnknownCurrency):
        money.parse_currency("XXX")
    assert money.parse_currency("BTC") == "BTC"

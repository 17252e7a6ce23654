"""Every amount a person reads: the currency's precision, separators, the code, a clear sign."""

from decimal import Decimal

import pytest

from wallet import currencies
from wallet.money import format_money
from wallet.templatetags.money import money_span


@pytest.mark.parametrize("code", sorted(currencies.CURRENCIES))
def test_every_currency_renders_at_its_precision(code):
    places = currencies.precision(code)
    text = format_money(Decimal("1234567.123456789"), code)
    number, shown_code = text.split(" ")
    assert shown_code == code
    assert number.startswith("1,234,567")
    assert len(number.split(".")[1]) == places if places else "." not in number
    assert "E" not in number


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        (Decimal("0.00012345"), "BTC", "0.00012345 BTC"),
        (Decimal("205.50000000"), "USD", "205.50 USD"),
        (Decimal("0E-8"), "EUR", "0.00 EUR"),
        (Decimal("-0E-8"), "EUR", "0.00 EUR"),
        (Decimal("-1666.05000000000"), "USD", "-1,666.05 USD"),
        (Decimal("1500"), "JPY", "1,500 JPY"),
        (Decimal("-1500.00000000"), "CLP", "-1,500 CLP"),
        (Decimal("12.5"), "USDT", "12.500000 USDT"),
        (12, "EUR", "12.00 EUR"),
        ("3.1", "GBP", "3.10 GBP"),
        (None, "EUR", "—"),
    ],
)
def test_examples(amount, code, expected):
    assert format_money(amount, code) == expected


def test_signed_marks_credits_and_debits():
    assert format_money(Decimal("10"), "EUR", signed=True) == "+10.00 EUR"
    assert format_money(Decimal("-10"), "EUR", signed=True) == "-10.00 EUR"
    assert format_money(Decimal("0"), "EUR", signed=True) == "0.00 EUR"


def test_unknown_currency_keeps_significant_places_and_code():
    assert format_money(Decimal("1.50000000"), "XYZ") == "1.5 XYZ"
    assert format_money(Decimal("2.00000000"), "XYZ") == "2 XYZ"


def test_html_span_marks_negatives():
    assert 'class="money money-neg"' in money_span(Decimal("-1"), "EUR")
    assert 'class="money"' in money_span(Decimal("1"), "EUR")

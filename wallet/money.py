"""Parsing money from untrusted input: Decimal only, exact, within the currency's precision."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from wallet import currencies
from wallet.errors import InvalidAmount, UnknownCurrency

# 10^15 in any currency is more than any real stake; it keeps NUMERIC(30,8) far from overflow
# even after summing millions of entries.
MAX_AMOUNT = Decimal("1000000000000000")


class ExponentDecimal(Decimal):
    """A JSON number written in exponent notation (1e3). Kept apart so amount fields can refuse it."""


def _parse_json_float(text: str) -> Decimal:
    if "e" in text or "E" in text:
        return ExponentDecimal(text)
    return Decimal(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number here")


def loads(raw: bytes | str) -> Any:
    """json.loads that never produces a float: numbers become int or Decimal; NaN/Infinity fail."""
    return json.loads(raw, parse_float=_parse_json_float, parse_constant=_refuse_constant)


def parse_currency(value: Any) -> str:
    if not isinstance(value, str) or not currencies.is_supported(value):
        raise UnknownCurrency(f"unknown currency {value!r}")
    return value


def parse_amount(value: Any, currency: str, *, allow_zero: bool = False, field: str = "amount") -> Decimal:
    """An amount from a JSON string, int or Decimal, exact at the currency's precision.

    Refused: floats (a bug upstream), booleans, exponent notation, NaN/Infinity, negatives,
    zero unless allowed, more decimal places than the currency has (5.000 EUR is fine, 5.001 is
    not), more than the ledger's 8 places as written, and absurdly large values.
    """
    if isinstance(value, bool) or isinstance(value, float) or value is None:
        raise InvalidAmount(f"{field} must be a decimal number, got {type(value).__name__}")
    if isinstance(value, ExponentDecimal):
        raise InvalidAmount(f"{field} must not use exponent notation")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or "e" in text.lower() or text != value or text.startswith("+"):
            raise InvalidAmount(f"{field} must be a plain decimal like 12.50, got {value!r}")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise InvalidAmount(f"{field} must be a decimal number, got {value!r}") from None
    else:
        raise InvalidAmount(f"{field} must be a decimal number, got {type(value).__name__}")

    if not amount.is_finite():
        raise InvalidAmount(f"{field} must be a finite number")
    if amount.is_signed() and amount != 0:
        raise InvalidAmount(f"{field} must not be negative")
    if amount == 0 and not allow_zero:
        raise InvalidAmount(f"{field} must be greater than zero")
    if amount >= MAX_AMOUNT:
        raise InvalidAmount(f"{field} is too large")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite checked above
    if -exponent > currencies.LEDGER_SCALE:
        raise InvalidAmount(f"{field} has more than {currencies.LEDGER_SCALE} decimal places")
    quantum = currencies.quantum(currency)
    exact = amount.quantize(quantum)
    if exact != amount:
        raise InvalidAmount(
            f"{field} has more decimal places than {currency} allows ({currencies.precision(currency)})"
        )
    return abs(exact)  # abs() folds -0 into 0


def format_amount(amount: Decimal, currency: str) -> str:
    """Render at the currency's precision: 15 EUR -> '15.00'."""
    return format(amount.quantize(currencies.quantum(currency)), "f")


def format_money(amount: Decimal | int | str | None, currency: str | None, *, signed: bool = False) -> str:
    """How a person reads an amount: the currency's precision, thousands separators, the code.

    ``format_money(Decimal("1234.5"), "USD") == "1,234.50 USD"``; ``0.00012345 BTC`` keeps its
    eight places; JPY has none. Negative amounts carry a minus sign (``-12.50 EUR``); ``signed``
    also marks positive ones (``+12.50 EUR``) for movements. Never ``0E-8``: the value is
    quantized to the currency before it is rendered. An unknown currency is shown at the
    ledger's scale with trailing zeros removed, still with its code. ``None`` renders as an em
    dash, for "no amount".
    """
    if amount is None:
        return "—"
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    code = currency or ""
    if code in currencies.CURRENCIES:
        value = value.quantize(currencies.quantum(code))
    else:
        value = value.quantize(Decimal(1).scaleb(-currencies.LEDGER_SCALE)).normalize()
        if value == value.to_integral():
            value = value.quantize(Decimal(1))
    if value == 0:
        value = abs(value)  # no "-0.00"
    text = format(abs(value), ",f")
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}{text} {code}".rstrip()

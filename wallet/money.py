"""Parsing money from untrusted input: Decimal only, exact, within the currency's precision."""

from __future__ import annotations

import json
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

import msgspec

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


class DuplicateKey(ValueError):
    """An object names the same key twice: readers disagree on which value counts, so refuse it."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise DuplicateKey(f"duplicate key {duplicate!r}")
    return data


# A lone surrogate or a NUL can only arrive as a \u escape (JSON refuses raw control characters
# in strings, and UTF-8 cannot encode a surrogate): only then is the parsed tree walked.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


def _refuse_unstorable(value: Any) -> None:
    """Text that no database column, log line or other reader takes as it is."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a string holds a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone UTF-16 surrogate") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(key)
            _refuse_unstorable(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_unstorable(item)


# One decoder for every call: json.loads with hooks builds a JSONDecoder and its scanner per
# call, a third of reading a callback's body (issue #18). Its scanner keeps no state between
# calls but a memo of key strings, which it empties after each document (as json's own shared
# decoder does).
_DECODER = json.JSONDecoder(
    parse_float=_parse_json_float, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys
)


def _json_text(raw: bytes | str) -> str:
    """What json.loads decodes `raw` to before parsing (its own steps: a BOM refused, bytes in
    the encoding they are detected to be in)."""
    if isinstance(raw, str):
        if raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        return raw
    if not isinstance(raw, (bytes, bytearray)):
        raise TypeError(f"the JSON object must be str, bytes or bytearray, not {raw.__class__.__name__}")
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


# The fast reader (issue #18): msgspec's JSON decoder in C, numbers with a fraction or an exponent
# handed to `_parse_json_float` as the text written (never through a float). It is only trusted
# where its answer is the one `_DECODER` would give: it refuses what json refuses (and more:
# UTF-16, a BOM, integers over 4,300 digits, lone surrogates), so anything it refuses, and every
# body with an escape or deep enough nesting to be near the recursion limit, is read again by
# `_DECODER`, whose refusal (wording included) is the one given. The one thing it accepts that
# json (with `_unique_keys`) refuses is a duplicate key (the last value wins): see `_fast`.
_FAST_DECODER = msgspec.json.Decoder(float_hook=_parse_json_float)
_FAST_ENCODE = msgspec.json.Encoder(enc_hook=str, decimal_format="number").encode
# json's C scanner (like msgspec's) nests as deep as the recursion limit leaves it room for, ~990
# less the caller's depth: a body that could nest deeper than this goes to `_DECODER` alone.
_FAST_MAX_DEPTH = 512


def _fast(raw: bytes) -> Any:
    """`raw` read by msgspec, or `_SLOW` when only `_DECODER` can say what it is.

    No backslash in `raw`, so every string in the result is written in `raw` byte for byte, and
    so in its re-encoding: a colon outside strings is one key, and the re-encoding has as many
    colons as `raw` unless an object named a key twice (its first value dropped, with its colon).
    """
    if raw.find(b"\\") >= 0:  # find(), not `in`: bytes' `in` formats and clears a TypeError first
        return _SLOW
    if len(raw) > 2 * _FAST_MAX_DEPTH and raw.count(b"{") + raw.count(b"[") > _FAST_MAX_DEPTH:
        return _SLOW
    try:
        data = _FAST_DECODER.decode(raw)
        again = _FAST_ENCODE(data)
        if again != raw and again.count(b":") != raw.count(b":"):
            return _SLOW
    except (ValueError, RecursionError, msgspec.MsgspecError):
        return _SLOW
    return data


_SLOW = object()


def loads(raw: bytes | str) -> Any:
    """json.loads for untrusted input; every refusal is a ValueError naming what is wrong.

    Numbers become int or Decimal, never float; NaN/Infinity fail. Also refused: an object with
    a duplicate key (parsers disagree on which value wins: a gateway could read other money
    than the ledger applies), a string with a lone surrogate or a NUL (PostgreSQL stores neither),
    and nesting too deep to parse (RecursionError is a bad request, not a crash).
    """
    if type(raw) is bytes:
        data = _fast(raw)
        if data is not _SLOW:
            return data  # no backslash: no escaped NUL or surrogate either
    try:
        data = _DECODER.decode(_json_text(raw))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    binary = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if b"\\u" in binary and _UNSTORABLE_ESCAPE.search(binary):  # rare: checked only when it could be
        _refuse_unstorable(data)
    return data


def parse_currency(value: Any) -> str:
    if not isinstance(value, str) or not currencies.is_supported(value):
        raise UnknownCurrency(f"unknown currency {value!r}")
    return value


def parse_amount(
    value: Any, currency: str, *, allow_zero: bool = False, field: str = "amount", max_places: int | None = None
) -> Decimal:
    """An amount from a JSON string, int or Decimal, exact at the currency's precision.

    Refused: floats (a bug upstream), booleans, exponent notation, NaN/Infinity, negatives,
    zero unless allowed, more decimal places than the currency has (5.000 EUR is fine, 5.001 is
    not), more than the ledger's 8 places as written, and absurdly large values. With
    `max_places` (payouts only, `parse_payout`): up to that many places, whatever the currency.
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
    if max_places is not None:
        if -exponent > max_places:
            raise InvalidAmount(f"{field} has more than {max_places} decimal places")
        return abs(amount)
    if -exponent > currencies.LEDGER_SCALE:
        raise InvalidAmount(f"{field} has more than {currencies.LEDGER_SCALE} decimal places")
    quantum = currencies.quantum(currency)
    exact = amount.quantize(quantum)
    if exact != amount:
        raise InvalidAmount(
            f"{field} has more decimal places than {currency} allows ({currencies.precision(currency)})"
        )
    return abs(exact)  # abs() folds -0 into 0


# A result, settle, refund or rollback amount is what the provider owes the player: refusing it
# strands the money (the provider retries forever), so it may be finer than the currency.
MAX_PAYOUT_PLACES = 18


def parse_payout(value: Any, currency: str, *, field: str = "amount") -> Decimal:
    """An amount the provider owes (result, settle, refund, rollback), exact as the provider wrote it.

    `parse_amount` with zero allowed, except that it may be finer than the currency (up to 18
    places): `payable` turns it into what the ledger credits. docs/CALLBACKS.md has the rule.
    """
    return parse_amount(value, currency, allow_zero=True, field=field, max_places=MAX_PAYOUT_PLACES)


def payable(amount: Decimal, currency: str) -> Decimal:
    """What the ledger credits for an amount owed: rounded UP to the currency's smallest unit.

    The player is never paid less than the provider says it owes; the rounding (under one minor
    unit) is the operator's, and staff see it in the review queue (`is_rounded`).
    """
    return amount.quantize(currencies.quantum(currency), rounding=ROUND_CEILING)


def is_rounded(amount: Decimal, currency: str) -> bool:
    return payable(amount, currency) != amount


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

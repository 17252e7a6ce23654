"""Betsy's requests read from their bodies (§4–§8): the checks every field passes and the
dataclasses the views hand to the wallet.

Pure code like wallet.betsy.protocol (signing, errors, answers): bytes in, dataclasses out;
a refusal is a BetsyError with Betsy's own code and a message naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from wallet import currencies, identifiers, money
from wallet.betsy.protocol import BetsyError, Code
from wallet.errors import InvalidRequest

PLACE = "place"
SETTLE = "settle"
UNSETTLE = "unsettle"
ROLLBACK = "rollback"

# (HTTP method, type) -> operation: type 1 is place on POST and unsettle on PUT (§2).
BET_OPERATIONS: dict[tuple[str, int], str] = {
    ("POST", 1): PLACE,
    ("PUT", 2): SETTLE,
    ("PUT", 1): UNSETTLE,
    ("PUT", 3): ROLLBACK,
}

# Ids follow the one identifier rule (wallet/identifiers.py). transactionId is kept to 64
# characters: our settle key adds an epoch, an amount and a result to it within 128.
TRANSACTION_ID_MAX = 64
_RESULT_TYPE = re.compile(r"^[A-Za-z_-]{1,16}$")
_EVENT_DATE = "%Y-%m-%d %H:%M:%S"
_CANONICAL_EVENT_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)  # fullmatch
MAX_SELECTIONS = 100

# parse_bet's inline readings (issue #18). An amount of exactly the currency's precision (its
# exponent the currency's: finite, within the ledger's places) that is positive and below the
# maximum is what money.parse_amount and parse_payout return for it, value and exponent; an
# integer 0 is the payout Decimal(0). The usual result types pass `_RESULT_TYPE` as they are; a
# currency with such a quantum is supported. Anything else goes to the readers.
_QUANTA = {
    code: currencies.quantum(code)
    for code, places in currencies.CURRENCIES.items()
    if places <= currencies.LEDGER_SCALE
}
_NO_QUANTUM = Decimal("NaN")  # same_quantum with it is False for every finite amount
_MAX = money.MAX_AMOUNT
_ZERO = Decimal(0)
_ID = identifiers.fullmatch  # identifiers.is_identifier, its length and type checks inline
_RESULT_TYPES = frozenset({"won", "lost", "win", "lose", "loss", "refund", "cashout", "void"})

# ticketType -> Bet.bet_type. Only "single" is documented; the rest are the usual names.
_TICKET_TYPES = {
    "single": "single",
    "ordinar": "single",
    "express": "multi",
    "multi": "multi",
    "multiple": "multi",
    "accumulator": "multi",
    "combo": "multi",
    "parlay": "multi",
    "system": "system",
}


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    token: str
    request_id: str


@dataclass(frozen=True, slots=True)
class BalanceRequest:
    user_id: str
    currency: str
    token: str
    request_id: str


@dataclass(frozen=True, slots=True)
class CheckRequest:
    user_id: str
    transaction_id: str


@dataclass(frozen=True)
class BetCall:
    """One /payment/bet request: place, settle (resettle), unsettle or rollback. Not slotted:
    `parse_bet` builds it from its __dict__ (`_bet_call`)."""

    operation: str
    transaction_id: str
    request_id: str
    user_id: str
    currency: str
    amount: Decimal
    token: str | None = None
    result_type: str = ""  # settle
    error_code: int | None = None  # rollback: Betsy's reason (its own code space, not ours)
    sub_partner_id: str | None = None
    coefficient: Decimal | None = None
    bonus_amount: Decimal | None = None
    bonus_id: int | None = None
    bonus_template_id: int | None = None
    ticket_type: str = ""
    bet_type: str = "single"
    selections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_cashout(self) -> bool:
        return self.operation == SETTLE and self.result_type == "cashout"


def _bet_call(**values: Any) -> BetCall:
    """`BetCall(**values)`, every field given, without the frozen dataclass's __init__ (an
    object.__setattr__ per field, 17 of them: a seventh of parsing a settle, issue #18)."""
    call = object.__new__(BetCall)
    call.__dict__.update(values)
    return call


def _invalid(message: str) -> BetsyError:
    return BetsyError(Code.VALIDATION, message)


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        data = money.loads(body)
    except ValueError as exc:  # money.loads: also duplicate keys, lone surrogates, deep nesting
        raise _invalid(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _invalid("body must be a JSON object")
    return data


def _text(
    data: dict[str, Any],
    name: str,
    *,
    min_len: int = 1,
    max_len: int = 64,
    required: bool = True,
    allow_int: bool = False,
    pattern: re.Pattern[str] | None = None,
) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required")
        return None
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    if not min_len <= len(value) <= max_len:
        raise _invalid(f"{name} must be {min_len}-{max_len} characters")
    if pattern is not None and not pattern.match(value):
        raise _invalid(f"{name} has invalid characters")
    return value


def _identifier(data: dict[str, Any], name: str, max_length: int = identifiers.PLAYER_ID_MAX) -> str:
    """An id under the one identifier rule; only userId may come as a JSON integer (§2: the
    other ids are strings, and a uuid in practice)."""
    value = data.get(name)
    if type(value) is str and identifiers.is_identifier(value, max_length):  # the usual case, first
        return value
    try:
        return identifiers.parse_identifier(value, name, max_length, allow_int=name == "userId")
    except InvalidRequest as error:
        raise _invalid(error.message) from None


def _required_text(data: dict[str, Any], name: str, **kwargs: Any) -> str:
    value = _text(data, name, required=True, **kwargs)
    assert value is not None
    return value


def _currency(data: dict[str, Any]) -> str:
    value = data.get("currency")
    try:
        return money.parse_currency(value)
    except InvalidRequest:
        raise _invalid(f"unsupported currency {value!r}") from None


def _amount(
    data: dict[str, Any], name: str, currency: str, *, allow_zero: bool, required: bool = True, payout: bool = False
) -> Decimal | None:
    """A stake at the currency's precision; with `payout` (settle, unsettle, rollback) an amount
    Betsy owes, exact however fine (refusing it would strand the money: docs/CALLBACKS.md)."""
    value = data.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required")
        return None
    try:
        if payout:
            return money.parse_payout(value, currency, field=name)
        return money.parse_amount(value, currency, allow_zero=allow_zero, field=name)
    except InvalidRequest as error:
        raise _invalid(error.message) from None


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{name} must be an integer or null")
    return value


_ODDS_MAX = Decimal("1e9")
_ODDS_QUANTUM = Decimal("0.000001")


def _odds(value: Any, name: str) -> Decimal | None:
    """A decimal coefficient: a plain positive number, kept exact (Bet.odds holds 6 places)."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, float) or isinstance(value, money.ExponentDecimal):
        raise _invalid(f"{name} must be a plain decimal number")
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0 or value >= _ODDS_MAX:
        raise _invalid(f"{name} must be a positive decimal number")
    if value != value.quantize(_ODDS_QUANTUM):
        raise _invalid(f"{name} has more than 6 decimal places")
    return value


def _event_date(value: Any, index: int) -> str | None:
    """'YYYY-MM-DD hh:mm:ss' without a zone, read as UTC (§14), rendered as ISO-8601 UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"metadata[{index}].eventDate must be 'YYYY-MM-DD hh:mm:ss'")
    try:
        canonical = _CANONICAL_EVENT_DATE.fullmatch(value)
        if canonical:  # the form Betsy sends: 6 fields, no strptime (a tenth of a place's parsing)
            datetime(*map(int, canonical.groups()))  # a real date and time, else ValueError
            year, month, day, hour, minute, second = canonical.groups()  # zero-padded: as isoformat writes them
            return f"{year}-{month}-{day}T{hour}:{minute}:{second}Z"
        # Anything else strptime accepts (unpadded fields, extra spaces) is accepted as before.
        moment = datetime.strptime(value, _EVENT_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise _invalid(f"metadata[{index}].eventDate must be 'YYYY-MM-DD hh:mm:ss'") from None
    return moment.isoformat().replace("+00:00", "Z")


def normalise_selections(metadata: Any) -> list[dict[str, Any]]:
    """Betsy's metadata[] as Touchline's normalised selections (docs/HELPERS.md), one per leg."""
    if metadata is None:
        return []
    if not isinstance(metadata, list):
        raise _invalid("metadata must be an array")
    if len(metadata) > MAX_SELECTIONS:
        raise _invalid(f"metadata has more than {MAX_SELECTIONS} selections")
    legs = []
    for index, item in enumerate(metadata):
        if not isinstance(item, dict):
            raise _invalid(f"metadata[{index}] must be an object")
        # One pass over the fields, in the normalised order (a place's largest parsing cost). The
        # usual values (a string id or name, an integer id, a canonical event date, a plain
        # coefficient) are taken inline; any other goes to its reader, which accepts or refuses
        # it with the message it always gave (a function call per field was most of the cost).
        leg: dict[str, Any] = {}
        for name, key, read in _SELECTION_TABLE:
            value = item.get(name)
            if value is None:
                continue
            kind = type(value)
            if read is _leg_text:
                if kind is str and len(value) <= 255:
                    leg[key] = value
                    continue
            elif read is _leg_id:
                if kind is str and len(value) <= 64:
                    leg[key] = value
                    continue
                if kind is int and -_ID_INT_LIMIT < value < _ID_INT_LIMIT:  # at most 20 characters
                    leg[key] = str(value)
                    continue
            elif read is _leg_date:
                if kind is str:
                    known = _event_dates.get(value)
                    if known is not None:
                        leg[key] = known
                        continue
            elif read is _leg_odds and kind is Decimal and _plain_odds(value):
                leg[key] = format(value, "f")
                continue
            value = read(value, name, index)
            if value is not None:
                leg[key] = value
        legs.append(leg)
    return legs


def _leg_id(value: Any, name: str, index: int) -> str:
    if type(value) is int or type(value) is str:  # the usual cases first (not bool: a subclass of int)
        text = str(value)
        if len(text) > 64:
            raise _invalid(f"metadata[{index}].{name} must be a string or integer id")
        return text
    if isinstance(value, bool) or not isinstance(value, (int, str)) or len(str(value)) > 64:
        raise _invalid(f"metadata[{index}].{name} must be a string or integer id")
    return str(value)


def _leg_text(value: Any, name: str, index: int) -> str:
    if not isinstance(value, str) or len(value) > 255:
        raise _invalid(f"metadata[{index}].{name} must be a string of at most 255 characters")
    return value


# Event dates already read, by their text: a sportsbook's bets name the same events again and
# again. Bounded: emptied when full.
_event_dates: dict[str, str] = {}
_EVENT_DATES_KEPT = 4096
_ID_INT_LIMIT = 10**19  # an integer id this small is at most 20 characters: within _leg_id's 64


def _leg_date(value: Any, name: str, index: int) -> str | None:
    date = _event_date(value, index)
    if date is not None and type(value) is str:
        if len(_event_dates) >= _EVENT_DATES_KEPT:
            _event_dates.clear()
        _event_dates[value] = date
    return date


def _plain_odds(value: Decimal) -> bool:
    """What `_odds` accepts of a Decimal, unchanged (a positive finite number below 1e9 with at
    most 6 places)."""
    return value.is_finite() and 0 < value < _ODDS_MAX and value == value.quantize(_ODDS_QUANTUM)


def _leg_odds(value: Any, name: str, index: int) -> str | None:
    odds = _odds(value, f"metadata[{index}].{name}")
    return None if odds is None else format(odds, "f")


# metadata[] item field -> (normalised key, reader), in the normalised order (docs/HELPERS.md).
_SELECTION_FIELDS: dict[str, tuple[str, Callable[[Any, str, int], Any]]] = {
    "disciplineId": ("sport_id", _leg_id),
    "discipline": ("sport", _leg_text),
    "tournamentId": ("tournament_id", _leg_id),
    "tournament": ("tournament", _leg_text),
    "eventId": ("event_id", _leg_id),
    "event": ("event", _leg_text),
    "eventDate": ("event_date", _leg_date),
    "marketId": ("market_id", _leg_id),
    "market": ("market", _leg_text),
    "outcomeId": ("outcome_id", _leg_id),
    "outcome": ("outcome", _leg_text),
    "coefficient": ("odds", _leg_odds),
}
_SELECTION_TABLE = tuple((name, key, read) for name, (key, read) in _SELECTION_FIELDS.items())


def bet_type_for(ticket_type: str, legs: int) -> str:
    """single/multi/system from ticketType, else from the number of selections."""
    mapped = _TICKET_TYPES.get(ticket_type.lower())
    if mapped:
        return mapped
    return "multi" if legs > 1 else "single"


def parse_profile(body: bytes) -> ProfileRequest:
    data = _load_object(body)
    return ProfileRequest(
        token=_required_text(data, "token", min_len=10, max_len=64),
        request_id=_identifier(data, "requestId"),
    )


def parse_balance(body: bytes) -> BalanceRequest:
    data = _load_object(body)
    return BalanceRequest(
        user_id=_identifier(data, "userId"),
        currency=_currency(data),
        token=_required_text(data, "token", min_len=10, max_len=64),
        request_id=_identifier(data, "requestId"),
    )


def parse_check(body: bytes) -> CheckRequest:
    data = _load_object(body)
    return CheckRequest(
        user_id=_identifier(data, "userId"),
        transaction_id=_identifier(data, "transactionId", TRANSACTION_ID_MAX),
    )


def parse_bet(method: str, body: bytes) -> BetCall:
    """Parse a /payment/bet request; the operation is chosen by (HTTP method, type). The view
    calls `fastparse.parse_bet`, which reads the usual body itself and hands any other here."""
    data = _load_object(body)
    type_ = data.get("type")
    if isinstance(type_, bool) or not isinstance(type_, int):
        raise _invalid("type must be an integer")
    operation = BET_OPERATIONS.get((method.upper(), type_))
    if operation is None:
        raise _invalid(f"type {type_} is not valid with {method.upper()}")

    currency = data.get("currency")
    if type(currency) is not str or currency not in _QUANTA:
        currency = _currency(data)
    # Place debits a positive stake; a settle of 0 is a lost bet; unsettle and rollback act on
    # the stored amounts, so their `amount` is only checked for shape.
    amount = data.get("amount")
    if type(amount) is Decimal and amount.same_quantum(_QUANTA.get(currency, _NO_QUANTUM)) and 0 < amount < _MAX:
        pass  # written at the currency's precision, positive: what both readers return for it
    elif type(amount) is int and amount == 0 and operation != PLACE:
        amount = _ZERO  # a lost bet's settle
    else:
        amount = _amount(data, "amount", currency, allow_zero=operation != PLACE, payout=operation != PLACE)
    assert amount is not None
    token_required = operation == PLACE
    result_type = ""
    if operation == SETTLE:
        result_type = data.get("resultType")
        if type(result_type) is not str or result_type not in _RESULT_TYPES:
            result_type = _required_text(data, "resultType", pattern=_RESULT_TYPE)
        result_type = result_type.lower()
        token_required = result_type == "cashout"  # only the player-initiated settlement (§7)
    # The usual values (a string token, ticket type or sub-partner; no bonus; a plain Decimal
    # coefficient) are taken inline, in the readers' order; any other value goes to its reader,
    # which accepts or refuses it as it always did (a reader call is ~2,500 instructions; issue #18).
    get = data.get
    token = get("token")
    if not (type(token) is str and 10 <= len(token) <= 64) and (token is not None or token_required):
        token = _text(data, "token", min_len=10, max_len=64, required=token_required)

    bonus_amount = None
    if get("bonusAmount") is not None:
        bonus_amount = _amount(data, "bonusAmount", currency, allow_zero=True, payout=operation != PLACE)
        assert bonus_amount is not None
        if bonus_amount > amount:
            raise _invalid("bonusAmount exceeds amount")
    selections = normalise_selections(get("metadata")) if operation == PLACE else []
    ticket_type = get("ticketType")
    if ticket_type is None:
        ticket_type = ""
    elif not (type(ticket_type) is str and len(ticket_type) <= 32):
        ticket_type = _text(data, "ticketType", min_len=0, max_len=32, required=False) or ""
    error_code = _optional_int(data, "errorCode") if operation == ROLLBACK else None

    transaction_id, request_id, user_id = get("transactionId"), get("requestId"), get("userId")
    if not (type(transaction_id) is str and 0 < len(transaction_id) <= TRANSACTION_ID_MAX and _ID(transaction_id)):
        transaction_id = _identifier(data, "transactionId", TRANSACTION_ID_MAX)
    if not (type(request_id) is str and 0 < len(request_id) <= identifiers.PLAYER_ID_MAX and _ID(request_id)):
        request_id = _identifier(data, "requestId")
    if not (type(user_id) is str and 0 < len(user_id) <= identifiers.PLAYER_ID_MAX and _ID(user_id)):
        user_id = _identifier(data, "userId")
    sub_partner_id = get("subPartnerId")
    if sub_partner_id is not None and not (type(sub_partner_id) is str and 1 <= len(sub_partner_id) <= 64):
        sub_partner_id = _text(data, "subPartnerId", max_len=64, required=False, allow_int=True)
    coefficient = get("coefficient")
    if coefficient is not None and not (type(coefficient) is Decimal and _plain_odds(coefficient)):
        coefficient = _odds(coefficient, "coefficient")
    bonus_id, bonus_template_id = get("bonusId"), get("bonusTemplateId")
    if bonus_id is not None:
        bonus_id = _optional_int(data, "bonusId")
    if bonus_template_id is not None:
        bonus_template_id = _optional_int(data, "bonusTemplateId")
    return _bet_call(
        operation=operation,
        transaction_id=transaction_id,
        request_id=request_id,
        user_id=user_id,
        currency=currency,
        amount=amount,
        token=token,
        result_type=result_type,
        error_code=error_code,
        sub_partner_id=sub_partner_id,
        coefficient=coefficient,
        bonus_amount=bonus_amount if bonus_amount else None,  # 0 means no bonus part
        bonus_id=bonus_id,
        bonus_template_id=bonus_template_id,
        ticket_type=ticket_type,
        bet_type=bet_type_for(ticket_type, len(selections)),
        selections=selections,
    )


def peek(body: bytes) -> tuple[str, str]:
    """(operation, transactionId) of a PUT /payment/bet body that did not parse, as far as they
    can be read, for telling staff which callback was refused; ("", "") when they cannot."""
    fields = identifiers.peek(body, "type", "transactionId")
    if fields is None:
        return "", ""
    type_, transaction_id = fields
    operation = BET_OPERATIONS.get(("PUT", type_), "") if isinstance(type_, int) else ""
    return operation, identifiers.shown(transaction_id)

"""The usual /payment/bet body read into a typed object (issue #18); any other by
`parsing.parse_bet`.

`parse_bet` gives exactly what `parsing.parse_bet` gives (the same BetCall, field for field, or
the same refusal): it answers only for a body of the usual shape with the usual values, and
hands every other body, untouched, to `parsing.parse_bet`, whose readers accept or refuse it with
the messages they always gave. So a refusal is never worded here.

Why: `money.loads` builds a dict of the body (msgspec, 34.5 k instructions for a place) and
re-encodes it to find keys written twice (15.0 k); `parsing.parse_bet` then reads it through
`dict.get`. Decoded into `_Body` (msgspec Structs, every field `Any`, so each value is exactly
the one the dict would hold) the same body costs 24.1 k and its re-encoding 10.9 k, and the
fields are attributes (a slot read), not `.get` calls.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from wallet import identifiers, money
from wallet.betsy import parsing
from wallet.betsy.parsing import (
    BET_OPERATIONS,
    MAX_SELECTIONS,
    PLACE,
    ROLLBACK,
    SETTLE,
    TRANSACTION_ID_MAX,
    BetCall,
)


class _Leg(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    """One metadata[] item as Betsy documents it (docs/protocols/betsy.md §6). A field left out
    is UNSET (not None), so that the re-encoding leaves it out too; an explicit null stays null."""

    discipline_id: Any = UNSET
    discipline: Any = UNSET
    tournament_id: Any = UNSET
    tournament: Any = UNSET
    tournament_region_code: Any = UNSET
    event_id: Any = UNSET
    event: Any = UNSET
    event_date: Any = UNSET
    market_id: Any = UNSET
    market: Any = UNSET
    outcome_id: Any = UNSET
    outcome: Any = UNSET
    coefficient: Any = UNSET
    stage: Any = UNSET


class _Body(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    """A /payment/bet body: the shared fields in the order Betsy's simulator writes them (the
    re-encoding is then byte-identical, the cheap case of the duplicate-key check), then the
    settle's and the rollback's own. A field it does not name, or metadata that is not an array
    of objects, fails the decode: that body goes to `parsing.parse_bet`. Not tracked by the
    garbage collector (`gc=False`): decoded JSON holds no reference cycles."""

    request_id: Any = UNSET
    transaction_id: Any = UNSET
    token: Any = UNSET
    user_id: Any = UNSET
    currency: Any = UNSET
    amount: Any = UNSET
    type: Any = UNSET
    info: Any = UNSET
    coefficient: Any = UNSET
    booster_coefficient: Any = UNSET
    ip: Any = UNSET
    sub_partner_id: Any = UNSET
    bonus_id: Any = UNSET
    bonus_template_id: Any = UNSET
    bonus_amount: Any = UNSET
    game_type: Any = UNSET
    ticket_type: Any = UNSET
    metadata: list[_Leg] | None | UnsetType = UNSET
    result_type: Any = UNSET
    error_code: Any = UNSET


# Numbers with a fraction or an exponent as money.loads reads them (Decimal from the text
# written, ExponentDecimal for 1e3): `Any` fields are "untyped" to msgspec, so the hook applies.
_decode = msgspec.json.Decoder(_Body, float_hook=money._parse_json_float).decode
_encode = money._FAST_ENCODE
_MAX_DEPTH = money._FAST_MAX_DEPTH
_QUANTA = parsing._QUANTA
_MAX = parsing._MAX
_ZERO = parsing._ZERO
_ID = parsing._ID
_PLAYER_ID_MAX = identifiers.PLAYER_ID_MAX
_RESULT_TYPES = parsing._RESULT_TYPES
_TICKET_TYPES = parsing._TICKET_TYPES
_ID_INT_LIMIT = parsing._ID_INT_LIMIT
_ODDS_MAX = parsing._ODDS_MAX
_ODDS_QUANTUM = parsing._ODDS_QUANTUM
_new = object.__new__

# Ids (transactionId, userId) that passed the identifier rule's characters (`_ID`): a player's
# userId comes back on each of their callbacks, a bet's transactionId on its settle, and a
# membership test costs a sixth of the regex (issue #18). Only ids that passed are kept, so an
# id that breaks the rule is always read again, and refused by parsing. Bounded: emptied when full.
_known_ids: dict[str, None] = {}
_KNOWN_IDS_KEPT = 4096


def _known_id(value: str) -> bool:
    """`_ID(value)`, remembering `value` when it passes."""
    if _ID(value) is None:
        return False
    if len(_known_ids) >= _KNOWN_IDS_KEPT:
        _known_ids.clear()
    _known_ids[value] = None
    return True


def parse_bet(method: str, body: bytes) -> BetCall:
    """`parsing.parse_bet(method, body)`: read here when the body is the usual one, else there."""
    call = _usual_bet(method, body)
    return call if call is not None else parsing.parse_bet(method, body)


def _read(body: bytes) -> _Body | None:
    """`body` as a `_Body` holding the values `money.loads` would give, or None when only
    `money.loads` can say (the same conditions as `money._fast`, whose reasoning holds here:
    with no backslash every string is written in `body` byte for byte, so the re-encoding has
    as many colons as `body` unless a key was written twice)."""
    if type(body) is not bytes or body.find(b"\\") >= 0:
        return None
    if len(body) > 2 * _MAX_DEPTH and body.count(b"{") + body.count(b"[") > _MAX_DEPTH:
        return None
    try:
        data = _decode(body)
        again = _encode(data)
    except (ValueError, RecursionError, msgspec.MsgspecError):
        return None
    if again != body and again.count(b":") != body.count(b":"):
        return None
    return data


def _usual_bet(method: str, body: bytes) -> BetCall | None:
    """The BetCall `parsing.parse_bet` returns, when every value is one its inline readings take
    (the same conditions, each field's); None for anything else, which then goes there whole.
    A field left out (UNSET) is read as `dict.get` reads it: None."""
    data = _read(body)
    if data is None:
        return None
    type_ = data.type
    if type(type_) is not int:
        return None
    operation = BET_OPERATIONS.get((method, type_))
    if operation is None:
        return None
    currency = data.currency
    if type(currency) is not str:
        return None
    quantum = _QUANTA.get(currency)
    if quantum is None:
        return None
    amount = data.amount
    if type(amount) is Decimal and amount.same_quantum(quantum) and 0 < amount < _MAX:
        pass
    elif type(amount) is int and amount == 0 and operation != PLACE:
        amount = _ZERO  # a lost bet's settle
    else:
        return None
    token_required = operation == PLACE
    result_type = ""
    if operation == SETTLE:
        result_type = data.result_type
        if type(result_type) is not str or result_type not in _RESULT_TYPES:  # all lower case already
            return None
        token_required = result_type == "cashout"
    token = data.token
    if not (type(token) is str and 10 <= len(token) <= 64):
        if token_required or (token is not None and token is not UNSET):
            return None
        token = None
    bonus_amount = data.bonus_amount
    if bonus_amount is not None and bonus_amount is not UNSET:
        return None
    selections: list[dict[str, Any]] = []
    if operation == PLACE:
        metadata = data.metadata
        if metadata is not None and metadata is not UNSET:
            legs = _usual_legs(metadata)
            if legs is None:
                return None
            selections = legs
    ticket_type = data.ticket_type
    if ticket_type is None or ticket_type is UNSET:
        ticket_type = ""
    elif not (type(ticket_type) is str and len(ticket_type) <= 32):
        return None
    error_code = None
    if operation == ROLLBACK:
        error_code = data.error_code
        if error_code is UNSET:
            error_code = None
        elif error_code is not None and type(error_code) is not int:
            return None
    transaction_id, request_id, user_id = data.transaction_id, data.request_id, data.user_id
    known = _known_ids
    if not (
        type(transaction_id) is str
        and 0 < len(transaction_id) <= TRANSACTION_ID_MAX
        and (transaction_id in known or _known_id(transaction_id))
    ):
        return None
    if not (type(request_id) is str and 0 < len(request_id) <= _PLAYER_ID_MAX and _ID(request_id)):
        return None  # a new one on every callback: not remembered
    if not (type(user_id) is str and 0 < len(user_id) <= _PLAYER_ID_MAX and (user_id in known or _known_id(user_id))):
        return None
    sub_partner_id = data.sub_partner_id
    if sub_partner_id is UNSET:
        sub_partner_id = None
    elif sub_partner_id is not None and not (type(sub_partner_id) is str and 1 <= len(sub_partner_id) <= 64):
        return None
    coefficient = data.coefficient
    if coefficient is UNSET:
        coefficient = None
    elif coefficient is not None and not (
        # parsing._plain_odds inline; a decoded Decimal is finite (JSON has no NaN nor Infinity)
        type(coefficient) is Decimal
        and _ZERO < coefficient < _ODDS_MAX
        and coefficient == coefficient.quantize(_ODDS_QUANTUM)
    ):
        return None
    bonus_id, bonus_template_id = data.bonus_id, data.bonus_template_id
    if bonus_id is UNSET:
        bonus_id = None
    elif bonus_id is not None and type(bonus_id) is not int:
        return None
    if bonus_template_id is UNSET:
        bonus_template_id = None
    elif bonus_template_id is not None and type(bonus_template_id) is not int:
        return None
    # parsing.bet_type_for, inline
    bet_type = _TICKET_TYPES.get(ticket_type.lower()) or ("multi" if len(selections) > 1 else "single")
    # parsing._bet_call, inline: the same __dict__, in the same order
    call = _new(BetCall)
    call.__dict__.update(
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
        bonus_amount=None,
        bonus_id=bonus_id,
        bonus_template_id=bonus_template_id,
        ticket_type=ticket_type,
        bet_type=bet_type,
        selections=selections,
    )
    return call


def _usual_legs(metadata: list[_Leg]) -> list[dict[str, Any]] | None:
    """`parsing.normalise_selections(metadata)` when every field of every leg is one of its
    inline readings (an id a string of at most 64 characters or an integer below 10^19, a text
    of at most 255, an event date already read or in Betsy's own form, a plain coefficient);
    None for anything else. Each field read as an attribute, in the normalised order
    (docs/HELPERS.md), unrolled: a table and a loop cost more than the reads (issue #18)."""
    if len(metadata) > MAX_SELECTIONS:
        return None
    dates = parsing._event_dates
    limit = _ID_INT_LIMIT
    legs = []
    for index, item in enumerate(metadata):
        leg: dict[str, Any] = {}
        value = item.discipline_id
        if type(value) is int and -limit < value < limit:
            leg["sport_id"] = str(value)
        elif type(value) is str and len(value) <= 64:
            leg["sport_id"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.discipline
        if type(value) is str and len(value) <= 255:
            leg["sport"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.tournament_id
        if type(value) is int and -limit < value < limit:
            leg["tournament_id"] = str(value)
        elif type(value) is str and len(value) <= 64:
            leg["tournament_id"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.tournament
        if type(value) is str and len(value) <= 255:
            leg["tournament"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.event_id
        if type(value) is int and -limit < value < limit:
            leg["event_id"] = str(value)
        elif type(value) is str and len(value) <= 64:
            leg["event_id"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.event
        if type(value) is str and len(value) <= 255:
            leg["event"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.event_date
        if type(value) is str:
            date = dates.get(value)
            if date is None:
                try:  # read (and kept) by the reader normalise_selections calls for it
                    date = parsing._leg_date(value, "eventDate", index)
                except parsing.BetsyError:
                    return None  # refused there, with its message
            leg["event_date"] = date
        elif value is not None and value is not UNSET:
            return None
        value = item.market_id
        if type(value) is int and -limit < value < limit:
            leg["market_id"] = str(value)
        elif type(value) is str and len(value) <= 64:
            leg["market_id"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.market
        if type(value) is str and len(value) <= 255:
            leg["market"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.outcome_id
        if type(value) is int and -limit < value < limit:
            leg["outcome_id"] = str(value)
        elif type(value) is str and len(value) <= 64:
            leg["outcome_id"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.outcome
        if type(value) is str and len(value) <= 255:
            leg["outcome"] = value
        elif value is not None and value is not UNSET:
            return None
        value = item.coefficient
        if type(value) is Decimal and _ZERO < value < _ODDS_MAX and value == value.quantize(_ODDS_QUANTUM):
            leg["odds"] = format(value, "f")
        elif value is not None and value is not UNSET:
            return None
        legs.append(leg)
    return legs

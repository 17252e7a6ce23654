"""The one rule for identifiers that come in from outside: player ids, provider transaction ids,
references (docs/CALLBACKS.md, "Identifiers").

An identifier is 1 to N characters from `A-Z a-z 0-9 _ . : @ -`, compared byte for byte.
Nothing is normalised: no trimming, no case folding, no Unicode normalisation. An id that
breaks the rule is refused, never altered, because an altered id could name another player's
money ("café" in NFC and NFD, " p1" and "p1" would otherwise be one id to one reader and two
to another). N is 64 for player ids, 128 for transaction ids and transfer references (the
database columns they end up in). Where a protocol allows it, a JSON integer is taken as its
decimal text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from wallet.errors import InvalidRequest

PLAYER_ID_MAX = 64
TRANSACTION_ID_MAX = 128
CHARACTERS = "A-Z a-z 0-9 _ . : @ -"
REGEX = r"^[A-Za-z0-9_.:@-]+$"  # for validators that take a pattern (the operator API's fields)
_ALLOWED = re.compile(r"[A-Za-z0-9_.:@-]+")
fullmatch = _ALLOWED.fullmatch  # the characters alone, for a caller that checks type and length inline


class InvalidIdentifier(InvalidRequest):
    code = "invalid_identifier"


def is_identifier(value: object, max_length: int = PLAYER_ID_MAX) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length and _ALLOWED.fullmatch(value) is not None


def shown(value: object, max_length: int = TRANSACTION_ID_MAX) -> str:
    """An id as staff read it in a log or a review item: itself if it follows the rule, else its
    repr (which escapes NUL, surrogates and padding), cut to `max_length`."""
    if value is None:
        return ""
    if is_identifier(value, max_length):
        return value  # type: ignore[return-value]
    return repr(value)[:max_length]


def peek(body: bytes, *names: str) -> tuple[Any, ...] | None:
    """The values of `names` in a JSON object body that a callback refused, as far as they can be
    read (for telling staff which callback it was); None when the body is no JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    return tuple(map(data.get, names))


def parse_identifier(value: Any, field: str, max_length: int = PLAYER_ID_MAX, *, allow_int: bool = True) -> str:
    """`value` as an identifier, or InvalidIdentifier naming the field and the rule."""
    if value is None:
        raise InvalidIdentifier(f"{field} is required")
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{field} must be a string")
    if not is_identifier(value, max_length):
        raise InvalidIdentifier(f"{field} must be 1-{max_length} characters from {CHARACTERS}")
    return value

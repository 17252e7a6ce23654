"""Betsy wire protocol: error codes, detached-JWS signing, response rendering.

Pure code: bytes in, dataclasses out, bytes back; errors are BetsyError carrying Betsy's own
error code. Nothing here touches the database or Django settings. The reference is
protocols/betsy.md (section numbers below point into it).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from wallet import money

# --- Error codes (§11) ----------------------------------------------------------------------


class Code(IntEnum):
    INVALID_SIGNATURE = 1
    INVALID_TOKEN = 3
    TOKEN_EXPIRED = 4
    VALIDATION = 5
    NOT_ENOUGH_MONEY = 7
    ALREADY_PROCESSED = 8
    USER_BLOCKED = 9
    PARTNER_TIMEOUT = 10
    STAKE_LIMIT = 11
    LOSS_LIMIT = 12
    BET_COUNT_LIMIT = 13
    SELF_EXCLUDED = 14
    NOT_VERIFIED = 15
    UNDER_AGE = 16
    RECALCULATION_BLOCKED = 20
    RECALCULATION_NEGATIVE = 21
    SYSTEM_ERROR = 100


class BetsyError(Exception):
    """A refusal in Betsy's terms: answered HTTP 400 {"code", "message"}.

    Deliberately not a WalletError: raised inside idempotency.execute_once it rolls the
    transaction back and stores nothing, so the provider's retry is evaluated afresh.
    """

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{int(code)}: {message}")
        self.code = code
        self.message = message


# --- Detached JWS, HS256 (§3) ---------------------------------------------------------------

HEADER_NAME = "x-sign-jws"
DEFAULT_JOSE_HEADER = b'{"typ":"JWT","alg":"HS256"}'
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_MAX_SIGNATURE_HEADER = 2048  # a real header is ~80 characters


def _b64url_bytes(data: bytes) -> bytes:
    # base64.urlsafe_b64encode's steps without its two Python frames (three per callback); two
    # replaces (memchr-driven) cost a third of what a translate over the whole text does.
    return binascii.b2a_base64(data, newline=False).replace(b"+", b"-").replace(b"/", b"_").rstrip(b"=")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return _b64url_bytes(data).decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


DEFAULT_HEADER_SEGMENT = b64url(DEFAULT_JOSE_HEADER)


_BLOCK = 64  # SHA-256's block size, in bytes
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 (RFC 2104) keyed once with `secret`: two SHA-256 objects that have hashed the
    key's inner and outer pads, copied per message (`_signature`). Keying hashes both pads, a third of
    a short MAC; and a SHA-256 object copies for a third of what OpenSSL's HMAC object costs
    (three digest contexts, copied again for each digest; issue #18). Bounded: a secret and its
    rotation fallbacks."""
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


@functools.lru_cache(maxsize=8)
def _signer(secret: str, header_segment: str) -> tuple[Any, Any]:
    """`_keyed` for `secret`, its inner hash having hashed the signing input's constant start
    (`<header segment>.`): per message, a copy of each and the body's base64url (bounded: a
    secret and its fallbacks, and the header segments a sender uses, checked before)."""
    inner, outer = _keyed(secret.encode("utf-8"))
    inner = inner.copy()
    inner.update(header_segment.encode("ascii") + b".")
    return inner, outer


def _signature(header_segment: str, body: bytes, secret: str) -> str:
    """base64url(HMAC-SHA256(secret, `<header segment>.<base64url(body)>`)) (the JWS is checked
    on every callback and signs every answer; issue #18)."""
    inner, outer = _signer(secret, header_segment)
    inner = inner.copy()
    inner.update(_b64url_bytes(body))
    outer = outer.copy()
    outer.update(inner.digest())
    return _b64url_bytes(outer.digest()).decode("ascii")


def sign(body: bytes, secret: str, *, header_segment: str = DEFAULT_HEADER_SEGMENT) -> str:
    """The x-sign-jws value for `body`: `<header>..<signature>` (the payload segment is detached)."""
    return f"{header_segment}..{_signature(header_segment, body, secret)}"


@functools.lru_cache(maxsize=32)
def _header_problem(header_segment: str) -> str | None:
    """Why a JWS header segment is refused, or None. Cached: a sender sends one header segment
    (bounded, so a hostile sender's variety only evicts)."""
    try:
        header = money.loads(_b64url_decode(header_segment))  # a duplicate "alg" is refused (RFC 7515 §4)
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        return "JWS header is not base64url JSON"
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return "JWS alg must be HS256"
    if "crit" in header or header.get("b64", True) is not True:
        return "JWS extensions (crit, b64) are not supported"
    return None


def verify(header_value: str | None, body: bytes, secret: str) -> None:
    """Check an x-sign-jws header over the raw body bytes; raise BetsyError(1) if it is not valid.

    The received header segment is used verbatim (its key order varies between senders); only
    HS256 is accepted (no "none", no RSA/ECDSA key confusion), and JWS extensions we do not
    implement ("crit", the unencoded-payload "b64": false) are refused rather than ignored.
    """
    if not secret:
        raise BetsyError(Code.INVALID_SIGNATURE, "signature cannot be checked: no partner secret configured")
    if not header_value:
        raise BetsyError(Code.INVALID_SIGNATURE, f"missing {HEADER_NAME} header")
    if len(header_value) > _MAX_SIGNATURE_HEADER:
        raise BetsyError(Code.INVALID_SIGNATURE, f"{HEADER_NAME} header too long")
    parts = header_value.strip().split(".")
    if len(parts) != 3 or parts[1] != "":
        raise BetsyError(Code.INVALID_SIGNATURE, f"{HEADER_NAME} must be a detached JWS: <header>..<signature>")
    header_segment, _, given = parts
    problem = _header_problem(header_segment)
    if problem is not None:
        raise BetsyError(Code.INVALID_SIGNATURE, problem)
    expected = _signature(header_segment, body, secret)
    try:  # constant time; ASCII text only (TypeError otherwise: certainly not our signature)
        good = hmac.compare_digest(expected, given)
    except TypeError:
        good = False
    if not good:
        # Which refusal: a signature that is not base64url cannot equal ours, so asking only now
        # gives the answer asking first gave.
        if not _B64URL.match(given):
            raise BetsyError(Code.INVALID_SIGNATURE, "signature is not base64url")
        raise BetsyError(Code.INVALID_SIGNATURE, "invalid signature")


# --- Responses ------------------------------------------------------------------------------


def _encode(value: Any) -> str:
    """JSON with Decimal rendered as an exact JSON number (json.dumps would need a float)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + _encode(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value)


def dumps(value: Any) -> bytes:
    return _encode(value).encode("utf-8")


def render_error(code: Code, message: str) -> bytes:
    return dumps({"code": int(code), "message": message})


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds: 2026-05-01T12:00:00.123Z."""
    if moment.tzinfo is not UTC:  # timezone.now() is UTC already: no conversion on each answer
        moment = moment.astimezone(UTC)
    # Every answer carries the time: `replace` and `isoformat` cost ~20k instructions (issue #18),
    # so the text up to the second is kept for the second it names (one slot, replaced whole).
    second = (moment.second, moment.minute, moment.hour, moment.day, moment.month, moment.year)
    kept = _second[0]
    if kept[0] != second:
        kept = (second, moment.replace(tzinfo=None).isoformat(timespec="seconds"))
        _second[0] = kept
    return kept[1] + _MILLISECONDS[moment.microsecond // 1000]


_second: list[tuple[tuple[int, ...], str]] = [((), "")]
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))
_NS_PER_SECOND = 1_000_000_000
_NS_PER_MS = 1_000_000


def format_time_ns(ns: int) -> str:
    """`format_time(datetime.now(UTC))` for the instant `ns = time.time_ns()`: the same clock,
    floored the same way (datetime.now floors it to the microsecond, format_time that to the
    millisecond). The success answer's time: `datetime.now` and the datetime's attributes cost
    ~5k instructions a callback more than two integer divisions (issue #18). The second's text
    is kept as format_time keeps it (one slot, replaced whole)."""
    second = ns // _NS_PER_SECOND
    kept = _epoch_second[0]
    if kept[0] != second:
        text = datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        kept = (second, text)
        _epoch_second[0] = kept
    return kept[1] + _MILLISECONDS[ns // _NS_PER_MS % 1000]


_epoch_second: list[tuple[int | None, str]] = [(None, "")]


def transaction_json(transaction_id: str, time_text: str) -> str:
    """The success body of every /payment/bet operation (§6, observed), `time_text` being
    `format_time`'s: the same text as `dumps({"transactionId": …, "transactionTime": …})`,
    written directly (on every callback). Our ids (`123`, `S45`) need no JSON escaping."""
    quoted = (
        f'"{transaction_id}"' if transaction_id.isalnum() and transaction_id.isascii() else json.dumps(transaction_id)
    )
    return f'{{"transactionId":{quoted},"transactionTime":"{time_text}"}}'


def render_transaction(transaction_id: str, moment: datetime) -> bytes:
    """`transaction_json` at `moment`, as bytes."""
    return transaction_json(transaction_id, format_time(moment)).encode()


def render_balance(user_id: str, currency: str, amount: Decimal) -> bytes:
    return dumps({"userId": user_id, "currency": currency, "amount": money_amount(amount, currency)})


def money_amount(amount: Decimal, currency: str) -> Decimal:
    """An amount at the currency's precision, dot as the separator: 15 USD -> 15.00."""
    return Decimal(money.format_amount(amount, currency))


def render_profile(
    *, user_id: str, currency: str, currencies: list[str], is_test: bool, custom_fields: dict[str, Any]
) -> bytes:
    body: dict[str, Any] = {"userId": user_id, "currency": currency, "currencies": currencies}
    if is_test:
        body["isTest"] = True
    if custom_fields:
        body["customFields"] = custom_fields
    return dumps(body)

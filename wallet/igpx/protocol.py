"""The IGPX wire format: signatures, request parsing, response rendering, client messages.

Pure code: bytes in, dataclasses out, errors as `IgpxError` carrying the IGPX error code.
No database, no Django settings, no network. The rules and the decisions behind them are in
docs/protocols/igpx.md and docs/igpx.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from wallet import currencies, errors, identifiers
from wallet.money import loads, parse_amount, parse_payout

PROVIDER = "igpx"
SIGNATURE_HEADER = "X-Security-Hash"
SIGNATURE_META = "HTTP_X_SECURITY_HASH"  # the same header as Django's request.META names it

BET = "bet"
RESULT = "result"
ROLLBACK = "rollback"

# --- Error codes (all answered with HTTP 200) ------------------------------------------------
INVALID_SIGNATURE = "INVALID_SIGNATURE"
INVALID_REQUEST = "INVALID_REQUEST"
USER_NOT_FOUND = "USER_NOT_FOUND"
CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
PLAYER_BLOCKED = "PLAYER_BLOCKED"
PLAYER_SELF_EXCLUDED = "PLAYER_SELF_EXCLUDED"
PLAYER_NOT_VERIFIED = "PLAYER_NOT_VERIFIED"
PLAYER_UNDER_AGE = "PLAYER_UNDER_AGE"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
BET_ROLLED_BACK = "BET_ROLLED_BACK"
TRANSACTION_MISMATCH = "TRANSACTION_MISMATCH"
INTERNAL_ERROR = "INTERNAL_ERROR"

ERROR_CODES: dict[str, str] = {
    INVALID_SIGNATURE: "missing or wrong X-Security-Hash",
    INVALID_REQUEST: "malformed JSON, missing field, bad action, bad amount, rollback of a rollback",
    USER_NOT_FOUND: "unknown user_id",
    CURRENCY_MISMATCH: "the player has no wallet in this currency (or the currency is unknown)",
    PLAYER_BLOCKED: "bet refused: the player is blocked",
    PLAYER_SELF_EXCLUDED: "bet refused: the player is self-excluded or on a time-out",
    PLAYER_NOT_VERIFIED: "bet refused: the jurisdiction requires a verified identity (or verification failed)",
    PLAYER_UNDER_AGE: "bet refused: the player is under the jurisdiction's minimum age",
    LIMIT_EXCEEDED: "bet refused: it would pass a stake, wager, net loss or bet-count limit of the player",
    INSUFFICIENT_FUNDS: "bet refused: spendable balance below amount",
    BET_ROLLED_BACK: "bet refused: its rollback arrived first",
    TRANSACTION_MISMATCH: "transaction_id already used with different content, or a rollback that does not match its target",
    INTERNAL_ERROR: "unexpected failure; nothing was stored, retry",
}

# The one identifier rule (wallet/identifiers.py): ids fit the database columns they end up in.
MAX_TRANSACTION_ID = identifiers.TRANSACTION_ID_MAX
MAX_USER_ID = identifiers.PLAYER_ID_MAX


class IgpxError(Exception):
    """A request refused before it reached the wallet, with the IGPX code to answer."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


# --- Signature -------------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """HMAC-SHA256 of the raw body keyed with the shared secret, lowercase hex (64 chars)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> None:
    """Raise INVALID_SIGNATURE unless `header` is the hex HMAC of `body`.

    Hex only: a base64 digest of the right HMAC is refused (one encoding, no guessing; if the
    provider turns out to use base64, `sign` is the one place to change). The comparison is in
    constant time; the header is lower-cased first because hex case carries no information.
    """
    if not secret:
        # A missing secret must never make every signature valid.
        raise IgpxError(INVALID_SIGNATURE, "no IGPX_SECURITY_HASH configured")
    if not header:
        raise IgpxError(INVALID_SIGNATURE, f"missing {SIGNATURE_HEADER}")
    expected = sign(body, secret).encode()
    given = header.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, given):
        raise IgpxError(INVALID_SIGNATURE, f"{SIGNATURE_HEADER} does not match the body")


# --- Inbound requests ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transaction:
    """POST /transaction: a bet (debit) or a result (credit)."""

    transaction_id: str
    action: str
    user_id: str
    currency: str
    amount: Decimal

    def canonical(self) -> dict[str, Any]:
        """What makes two copies of this request the same request (protocols/igpx.md §4)."""
        return {
            "action": self.action,
            "user_id": self.user_id,
            "currency": self.currency,
            "amount": self.amount,
            "rollback_transaction_id": None,
        }


@dataclass(frozen=True, slots=True)
class Rollback:
    """POST /transaction-rollback: undo the transaction `rollback_transaction_id`."""

    transaction_id: str
    rollback_transaction_id: str
    user_id: str
    currency: str
    amount: Decimal
    action: str = ROLLBACK

    def canonical(self) -> dict[str, Any]:
        return {
            "action": ROLLBACK,
            "user_id": self.user_id,
            "currency": self.currency,
            "amount": self.amount,
            "rollback_transaction_id": self.rollback_transaction_id,
        }


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError; so are NaN/Infinity
        raise IgpxError(INVALID_REQUEST, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise IgpxError(INVALID_REQUEST, "body must be a JSON object")
    return data


def _identifier(data: dict[str, Any], name: str, max_length: int) -> str:
    """An id under the one identifier rule; a JSON integer is taken as its decimal text."""
    try:
        return identifiers.parse_identifier(data.get(name), name, max_length)
    except errors.InvalidRequest as exc:
        raise IgpxError(INVALID_REQUEST, exc.message) from None


def _currency(data: dict[str, Any]) -> str:
    value = data.get("currency")
    if not isinstance(value, str) or not value:
        raise IgpxError(INVALID_REQUEST, "currency is required and must be a string")
    if not currencies.is_supported(value):
        # No player can hold a wallet in a currency we do not support.
        raise IgpxError(CURRENCY_MISMATCH, f"unsupported currency {value!r}")
    return value


def _amount(data: dict[str, Any], currency: str, *, payout: bool) -> Decimal:
    """A bet's stake at the currency's precision; a result's or rollback's amount exact as sent,
    however fine (the provider owes it: refusing it would strand the money, docs/CALLBACKS.md)."""
    if "amount" not in data:
        raise IgpxError(INVALID_REQUEST, "amount is required")
    try:
        if payout:
            return parse_payout(data["amount"], currency)
        return parse_amount(data["amount"], currency)
    except errors.InvalidAmount as exc:
        raise IgpxError(INVALID_REQUEST, exc.message) from None


def parse_transaction(body: bytes) -> Transaction:
    """Parse a /transaction body. A bet needs amount > 0; a result may be 0 (a lost bet)."""
    data = _object(body)
    transaction_id = _identifier(data, "transaction_id", MAX_TRANSACTION_ID)
    action = data.get("action")
    if action not in (BET, RESULT):
        raise IgpxError(INVALID_REQUEST, f"action must be 'bet' or 'result', got {action!r}")
    user_id = _identifier(data, "user_id", MAX_USER_ID)
    currency = _currency(data)
    amount = _amount(data, currency, payout=action == RESULT)
    return Transaction(transaction_id, action, user_id, currency, amount)


def parse_rollback(body: bytes) -> Rollback:
    """Parse a /transaction-rollback body. The amount may be 0 (rolling back a zero result)."""
    data = _object(body)
    transaction_id = _identifier(data, "transaction_id", MAX_TRANSACTION_ID)
    target = _identifier(data, "rollback_transaction_id", MAX_TRANSACTION_ID)
    if data.get("action") != ROLLBACK:
        raise IgpxError(INVALID_REQUEST, f"action must be 'rollback', got {data.get('action')!r}")
    if target == transaction_id:
        raise IgpxError(INVALID_REQUEST, "a rollback cannot target itself")
    user_id = _identifier(data, "user_id", MAX_USER_ID)
    currency = _currency(data)
    amount = _amount(data, currency, payout=True)
    return Rollback(transaction_id, target, user_id, currency, amount)


def peek(body: bytes) -> tuple[str, str]:
    """(action, transaction_id) of a body that did not parse, as far as they can be read, for
    telling staff which callback was refused; ("", "") when they cannot."""
    fields = identifiers.peek(body, "action", "transaction_id")
    if fields is None:
        return "", ""
    action, transaction_id = fields
    return (action if action in (BET, RESULT, ROLLBACK) else "", identifiers.shown(transaction_id))


# --- Responses -------------------------------------------------------------------------------


def render_success(our_transaction_id: str) -> str:
    return json.dumps({"error": None, "transaction_id": our_transaction_id})


def render_error(code: str) -> str:
    return json.dumps({"error": code})


_WALLET_ERRORS: list[tuple[type[errors.WalletError], str]] = [
    (errors.AlreadyRolledBack, BET_ROLLED_BACK),
    (errors.IdempotencyConflict, TRANSACTION_MISMATCH),
    (errors.PlayerSelfExcluded, PLAYER_SELF_EXCLUDED),  # includes time-outs
    (errors.PlayerNotVerified, PLAYER_NOT_VERIFIED),
    (errors.PlayerUnderAge, PLAYER_UNDER_AGE),
    (errors.PlayerBlocked, PLAYER_BLOCKED),
    (errors.LimitExceeded, LIMIT_EXCEEDED),
    (errors.InsufficientFunds, INSUFFICIENT_FUNDS),
    (errors.PlayerNotFound, USER_NOT_FOUND),
    (errors.CurrencyMismatch, CURRENCY_MISMATCH),
    (errors.UnknownCurrency, CURRENCY_MISMATCH),
    (errors.InvalidRequest, INVALID_REQUEST),
]


def code_for(error: errors.WalletError) -> str:
    """The IGPX code for a wallet refusal; anything unforeseen is an INTERNAL_ERROR."""
    for cls, code in _WALLET_ERRORS:
        if isinstance(error, cls):
            return code
    return INTERNAL_ERROR


def parse_response(body: bytes | str) -> dict[str, Any]:
    """A callback response as the provider (and our simulator) reads it."""
    data = loads(body)
    if not isinstance(data, dict) or "error" not in data:
        raise IgpxError(INTERNAL_ERROR, "response is not an IGPX callback answer")
    return data


# --- Outbound (Touchline -> provider) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    expires_in: float  # seconds


def auth_body(username: str, password: str) -> dict[str, str]:
    return {"username": username, "password": password}


def parse_auth_response(data: Any) -> Token:
    """`{"token": "...", "expires_in": "3600"}`: expires_in may be a string or a number."""
    if not isinstance(data, dict):
        raise IgpxError(INTERNAL_ERROR, "auth response is not a JSON object")
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise IgpxError(INTERNAL_ERROR, "auth response has no token")
    raw = data.get("expires_in")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise IgpxError(INTERNAL_ERROR, f"auth response has a bad expires_in ({type(raw).__name__})")
    try:
        seconds = Decimal(str(raw).strip())
    except ArithmeticError:
        raise IgpxError(INTERNAL_ERROR, "auth response has a non-numeric expires_in") from None
    if not seconds.is_finite() or seconds <= 0:
        raise IgpxError(INTERNAL_ERROR, "auth response has a non-positive expires_in")
    return Token(token=token, expires_in=float(seconds))  # a duration, not money: float is fine


def start_session_body(*, user_id: str, currency: str, lang: str | None) -> dict[str, str]:
    body = {"user_id": str(user_id), "currency": currency}  # user_id is always a JSON string
    if lang:
        body["lang"] = lang
    return body


def parse_start_session_response(data: Any) -> str:
    if not isinstance(data, dict) or not isinstance(data.get("url"), str) or not data["url"]:
        raise IgpxError(INTERNAL_ERROR, "start-session response has no url")
    return data["url"]

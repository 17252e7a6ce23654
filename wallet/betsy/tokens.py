"""Betsy session tokens: opaque to Betsy, expiring, bound to one player and one currency.

Stateless (the core wallet app has no session table and this package adds no models): the
token carries the player's row id, the currency and the issue time, and a MAC over those plus
the player's external id. Betsy's schema caps `token` at 64 characters, which rules out
django.core.signing's output (base64 JSON + timestamp + a 43-character signature, 80+
characters for a long player id); so the token is built on the same primitive,
django.utils.crypto.salted_hmac (SECRET_KEY, a purpose salt), with the MAC truncated to 128
bits. Format: ``<player pk base36>.<currency>.<issued base36>.<mac b64url>``, at most 51 chars.

Because the MAC covers the player's external id, requests that carry `userId` (balance, place
bet, cashout) are checked against the token without a database read, and a token cannot be
replayed for another player or currency. A token cannot be revoked before it expires; blocking
the player stops bets (code 9) whatever the token says.
"""

from __future__ import annotations

import functools
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from wallet.betsy import conf
from wallet.betsy.protocol import BetsyError, Code, b64url

SALT = "touchline.wallet.betsy.session-token"
_FORMAT = re.compile(r"^([0-9a-z]{1,13})\.([A-Z]{3,5})\.([0-9a-z]{1,8})\.([A-Za-z0-9_-]{22})$")
_CLOCK_SKEW = 60  # seconds a token may appear to come from the future (several web hosts)


@dataclass(frozen=True, slots=True)
class Claims:
    player_id: int
    currency: str
    issued_at: int

    @property
    def expires_at(self) -> int:
        return self.issued_at + conf.TOKEN_TTL_SECONDS


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


@functools.lru_cache(maxsize=8)
def _keyed(secret: str) -> Any:
    """salted_hmac(SALT, …, secret=secret, algorithm="sha256") keyed once: its key derivation
    and the HMAC's key pads are the same for every token (a secret and its fallbacks)."""
    mac = salted_hmac(SALT, b"", secret=secret, algorithm="sha256")
    inner = getattr(mac, "_hmac", None)  # OpenSSL's object, copied in C
    return mac if inner is None else inner


def _mac(player_id: int, external_id: str, currency: str, issued_at: int, secret: str) -> str:
    mac = _keyed(secret).copy()
    mac.update(f"{player_id}|{external_id}|{currency}|{issued_at}".encode())
    return b64url(mac.digest()[:16])


def issue(*, player_id: int, external_id: str, currency: str, now: int | None = None) -> str:
    issued_at = int(time.time()) if now is None else now
    mac = _mac(player_id, external_id, currency, issued_at, settings.SECRET_KEY)
    return f"{_b36(player_id)}.{currency}.{_b36(issued_at)}.{mac}"


def read(token: str) -> tuple[Claims, str]:
    """Parse without verifying: the claims and the MAC. For /user/profile, which carries no userId
    and must look the player up by the token's id before it can verify it."""
    match = _FORMAT.match(token)
    if match is None:
        raise BetsyError(Code.INVALID_TOKEN, "invalid token")
    pk, currency, issued, mac = match.groups()
    return Claims(player_id=int(pk, 36), currency=currency, issued_at=int(issued, 36)), mac


# Tokens the current key issued to a player, by (token, external id, key): a session's later
# callbacks (every place, a cashout) skip reading the token and its MAC (~40,000 instructions,
# issue #18). Only genuine ones are kept, so a forged token is always checked in full; expiry
# and currency are checked on every use. Bounded: emptied when full.
_genuine: dict[tuple[str, str, str], Claims] = {}
_GENUINE_KEPT = 4096


def verify(token: str | None, *, external_id: str, currency: str | None = None, now: int | None = None) -> Claims:
    """Claims of a genuine, unexpired token issued to `external_id` (and `currency` if given).

    Code 3 for anything forged, malformed or issued to someone else; code 4 once expired
    (checked only after the MAC, so an expired-token answer never confirms a forged one).
    """
    if not token:
        raise BetsyError(Code.INVALID_TOKEN, "token is required")
    key = conf.DJANGO.SECRET_KEY  # kept: read on every place (issue #18)
    claims = _genuine.get((token, external_id, key))
    if claims is None:
        claims, mac = read(token)

        def genuine(secret: str) -> bool:
            return hmac.compare_digest(
                mac, _mac(claims.player_id, external_id, claims.currency, claims.issued_at, secret)
            )

        # The current key first: the fallbacks (key rotation) only for a token it did not issue.
        if genuine(key):
            if len(_genuine) >= _GENUINE_KEPT:
                _genuine.clear()
            _genuine[token, external_id, key] = claims
        elif not any(genuine(secret) for secret in getattr(settings, "SECRET_KEY_FALLBACKS", [])):
            raise BetsyError(Code.INVALID_TOKEN, "invalid token")
    if currency is not None and currency != claims.currency:
        raise BetsyError(Code.INVALID_TOKEN, f"token is not valid for {currency}")
    current = int(time.time()) if now is None else now
    if claims.issued_at > current + _CLOCK_SKEW:
        raise BetsyError(Code.INVALID_TOKEN, "invalid token")
    if current > claims.expires_at:
        raise BetsyError(Code.TOKEN_EXPIRED, "token expired")
    return claims

"""Wiring done once at startup: the Betsy session launcher for the operator API
(POST /api/operator/players/<id>/sessions/betsy/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from wallet.errors import InvalidRequest, PlayerBlocked
from wallet.models import Account, Player


def launch_session(player: Player, options: dict[str, Any]) -> dict[str, Any]:
    """Issue a session token for the player's wallet in one currency and the iframe settings.

    Options: `currency` (default: the player's only wallet; required when there are several),
    `language` (passed through to the iframe, default "en"). Blocked and self-excluded players
    get no session: the casino should not open the sportsbook for them.
    """
    from wallet.betsy import conf, tokens  # imported late: ready() runs while apps load

    if not isinstance(options, dict):
        raise InvalidRequest("options must be an object")
    if player.status != Player.Status.ACTIVE:
        raise PlayerBlocked(f"player {player.external_id} is {player.status}")
    wallets = list(
        Account.objects.filter(player=player, kind=Account.Kind.PLAYER)
        .order_by("currency")
        .values_list("currency", flat=True)
    )
    currency = options.get("currency")
    if currency is None:
        if len(wallets) != 1:
            raise InvalidRequest(f"currency is required: the player has wallets in {', '.join(wallets)}")
        currency = wallets[0]
    if currency not in wallets:
        raise InvalidRequest(f"player {player.external_id} has no {currency!r} wallet")
    language = options.get("language", "en")
    if not isinstance(language, str) or not 2 <= len(language) <= 8:
        raise InvalidRequest("language must be a 2-8 character code")

    token = tokens.issue(player_id=player.pk, external_id=player.external_id, currency=currency)
    claims, _ = tokens.read(token)
    return {
        "provider": "betsy",
        "token": token,
        "currency": currency,
        "expires_at": datetime.fromtimestamp(claims.expires_at, UTC).isoformat().replace("+00:00", "Z"),
        "cashout_allowed": conf.CASHOUT_ALLOWED,
        # What the casino page hands to Betsy's frontend SDK (its exact init parameters are an
        # open question, protocols/betsy.md §14).
        "iframe": {"url": settings.BETSY_IFRAME_URL or None, "token": token, "lang": language, "currency": currency},
    }


def ready() -> None:
    """Called from WalletConfig.ready(): register the session launcher."""
    from wallet.api.sessions import register

    register("betsy", launch_session)

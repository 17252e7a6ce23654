"""Player protection helpers: set limits and exclusions the way the operator API does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.wallet.betsy.conftest import Actor
from tests.wallet.betsy.conftest import betsy as betsy  # noqa: F401  (fixture)
from tests.wallet.igpx.conftest import igpx_secret as igpx_secret  # noqa: F401  (fixture)
from tests.wallet.igpx.conftest import provider as provider  # noqa: F401  (fixture)
from wallet.models import Player, ProtectionChange
from wallet.services import protection


def protect(player: Player, currency: str = "EUR", **changes: Any) -> list[ProtectionChange]:
    """Apply changes as the operator API would (JSON-like values), with a reason."""
    return protection.protection_change(
        player=player,
        changes=protection.parse_changes(changes, currency),
        currency=currency,
        reason="player asked for it",
    )


@pytest.fixture
def carol(db) -> Actor:
    """A Betsy player with $100."""
    return Actor("carol", "100")


class IgpxPlayer:
    """alice, EUR 1000, betting through IGPX callbacks."""

    name = "igpx"
    codes = {
        "stake": "LIMIT_EXCEEDED",
        "wager": "LIMIT_EXCEEDED",
        "loss": "LIMIT_EXCEEDED",
        "count": "LIMIT_EXCEEDED",
        "excluded": "PLAYER_SELF_EXCLUDED",
        "not_verified": "PLAYER_NOT_VERIFIED",
        "under_age": "PLAYER_UNDER_AGE",
    }

    def __init__(self, provider) -> None:
        from tests.factories import fund, make_player

        self.provider = provider
        self.player = make_player("alice")
        self.currency = "EUR"
        fund(self.player, "1000")

    def bet(self, tid: str, amount: str) -> str | None:
        return self.provider.bet(tid, amount).error

    def win(self, tid: str, bet_tid: str, amount: str) -> str | None:
        return self.provider.result(tid, amount).error

    def rollback(self, tid: str, bet_tid: str, amount: str) -> str | None:
        return self.provider.rollback(tid, bet_tid, amount).error

    @property
    def balance(self):
        from tests.factories import balance

        return balance(self.player)


class BetsyPlayer:
    """carol, USD 1000, betting through Betsy's place/settle/rollback."""

    name = "betsy"
    codes = {
        "stake": 11,
        "wager": 11,
        "loss": 12,
        "count": 13,
        "excluded": 14,
        "not_verified": 15,
        "under_age": 16,
    }

    def __init__(self, betsy) -> None:
        self.betsy = betsy
        self.actor = Actor("carol", "1000")
        self.player = self.actor.player
        self.currency = "USD"

    def bet(self, tid: str, amount: str) -> int | None:
        reply = self.betsy.place(tid, "carol", "USD", amount, self.actor.token)
        assert reply.status in (200, 400), reply.body
        return reply.code

    def win(self, tid: str, bet_tid: str, amount: str) -> int | None:
        return self.betsy.settle(bet_tid, "carol", "USD", amount, "won").code

    def rollback(self, tid: str, bet_tid: str, amount: str) -> int | None:
        return self.betsy.rollback(bet_tid, "carol", "USD", amount).code

    @property
    def balance(self):
        return self.actor.balance


@pytest.fixture(params=["igpx", "betsy"])
def bettor(request, db):
    if request.param == "igpx":
        return IgpxPlayer(request.getfixturevalue("provider"))
    return BetsyPlayer(request.getfixturevalue("betsy"))

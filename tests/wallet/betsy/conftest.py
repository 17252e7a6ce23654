"""Betsy test helpers: Betsy itself (the simulator) talking to Touchline through Django's test
client, and named actors with the seed's $20."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import fund, make_player
from wallet.betsy import tokens
from wallet.betsy.simulator import Betsy, WireReply, WireRequest
from wallet.models import (
    Bet,
    IdempotencyRecord,
    LedgerEntry,
    LedgerTransaction,
    Player,
    Settlement,
)
from wallet.selectors import wallet_get


def django_transport(client: Client):
    def send(request: WireRequest) -> WireReply:
        headers = {k: v for k, v in request.headers.items() if k != "content-type"}
        response = client.generic(
            request.method, request.path, data=request.body, content_type="application/json", headers=headers
        )
        return WireReply(response.status_code, response.content, dict(response.headers))

    return send


@pytest.fixture
def betsy() -> Betsy:
    return Betsy(django_transport(Client()), settings.BETSY_PARTNER_SECRET)


class Actor:
    """A player with a USD wallet and a Betsy session token."""

    def __init__(self, name: str, amount: str = "20", currency: str = "USD") -> None:
        self.player: Player = make_player(name, currencies=(currency,))
        self.user_id = name
        self.currency = currency
        if Decimal(amount) > 0:
            fund(self.player, amount, currency)
        self.token = tokens.issue(player_id=self.player.pk, external_id=name, currency=currency)

    @property
    def balance(self) -> Decimal:
        return wallet_get(external_id=self.user_id, currency=self.currency).balance

    @property
    def wallet(self):
        return wallet_get(external_id=self.user_id, currency=self.currency)


@pytest.fixture
def alice(db) -> Actor:
    return Actor("alice")


@pytest.fixture
def bob(db) -> Actor:
    return Actor("bob")


def state_counts() -> dict[str, int]:
    """Row counts of everything a callback could write."""
    return {
        "bets": Bet.objects.count(),
        "transactions": LedgerTransaction.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "settlements": Settlement.objects.count(),
        "requests": IdempotencyRecord.objects.count(),
    }

"""Helpers for the CRM tests: bets go through wallet.services.postings, as in production,
so the wallet events fire inside the money transaction and the outbox rows are real."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from crm import breaker, conf
from crm.models import OutboxEvent
from crm.schema import problems
from crm.services import PayloadBuilder
from crm.simulator import FastTrackSimulator
from crm.transports import reset_transports, set_override
from crm.transports.rest import RestTransport
from wallet.selectors import wallet_get
from wallet.services.postings import bet_place_apply, bet_rollback_apply, bet_settle_apply, bet_unsettle_apply

API_KEY = "test-ft-key"

SELECTION = {
    "sport_id": "sr:sport:1",
    "sport": "Soccer",
    "tournament_id": "sr:tournament:17",
    "tournament": "Premier League",
    "event_id": "sr:match:1001",
    "event": "Arsenal vs Chelsea",
    "event_date": "2025-01-15T19:45:00Z",
    "market_id": "1",
    "market": "1x2",
    "outcome_id": "1",
    "outcome": "Arsenal",
    "odds": "2.50",
    "is_live": False,
}


def wallet(player, currency: str = "EUR"):
    return wallet_get(external_id=player.external_id, currency=currency)


def place(player, amount: str, external_id: str, *, currency: str = "EUR", provider: str = "betsy", **kwargs):
    with transaction.atomic():
        return bet_place_apply(
            provider=provider,
            external_id=external_id,
            wallet=wallet(player, currency),
            amount=Decimal(amount),
            **kwargs,
        )


def settle(bet_id: int, amount: str, result: str = "won", **kwargs):
    with transaction.atomic():
        return bet_settle_apply(bet_id=bet_id, amount=Decimal(amount), result=result, **kwargs)


def unsettle(bet_id: int):
    with transaction.atomic():
        return bet_unsettle_apply(bet_id=bet_id)


def rollback(bet_id: int):
    with transaction.atomic():
        return bet_rollback_apply(bet_id=bet_id)


def rows(**filters) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(**filters).order_by("id"))


def payloads(**filters) -> list[dict]:
    """Every outbox row's event as Fast Track would get it, each checked against our schema."""
    found = rows(**filters)
    builder = PayloadBuilder(found)
    result = []
    for row in found:
        payload = builder.payload(row)
        assert problems(payload) == [], (row.activity_id, problems(payload))
        result.append(payload)
    return result


@pytest.fixture(autouse=True)
def _crm_settings(settings, monkeypatch):
    settings.FASTTRACK_ORIGIN = "touchline-test"
    settings.FASTTRACK_TRANSPORT = "off"
    monkeypatch.setattr(conf, "EXCHANGE_RATES", {"USD": Decimal("0.92")})
    monkeypatch.setattr(conf, "RETRY_BASE_SECONDS", 2)
    monkeypatch.setattr(conf, "MAX_ATTEMPTS", 5)
    from django.core.cache import cache

    cache.delete_many([breaker.STATE_KEY, breaker.PROBE_KEY])  # the breaker lives in the cache
    yield
    cache.delete_many([breaker.STATE_KEY, breaker.PROBE_KEY])
    set_override(None)
    reset_transports()


@pytest.fixture
def simulator():
    sim = FastTrackSimulator(api_key=API_KEY).start()
    yield sim
    sim.stop()


@pytest.fixture
def rest(simulator):
    transport = RestTransport(simulator.url, API_KEY, timeout=5, connect_timeout=2)
    yield transport
    transport.close()

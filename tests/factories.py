"""Test data builders with named actors (alice, bob…)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crm.models import OutboxEvent
from wallet import ledger
from wallet.models import Player
from wallet.selectors import wallet_get
from wallet.services.players import player_create
from wallet.services.transfers import deposit_apply


def user_with(role: str):
    """A staff user named after `role` (risk, support…) in that role's group."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from wallet.services.backoffice import roles_ensure

    roles_ensure()
    user = get_user_model().objects.create_user(role.lower(), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def make_player(external_id: str = "alice", currencies: tuple[str, ...] = ("EUR",), **kwargs) -> Player:
    return player_create(external_id=external_id, currencies=list(currencies), **kwargs)


def fund(player: Player, amount: str | Decimal, currency: str = "EUR", *, bonus: str | Decimal = "0") -> None:
    """Put real (and optionally bonus) money in a player's wallet through proper postings."""
    with transaction.atomic():
        wallet = wallet_get(external_id=player.external_id, currency=currency)
        if Decimal(amount) > 0:
            deposit_apply(wallet=wallet, amount=Decimal(amount), reference=f"fund-{player.external_id}", actor_id=None)
        if Decimal(bonus) > 0:
            ledger.post(
                kind="adjustment",
                currency=currency,
                player_id=player.pk,
                reason="test bonus grant",
                legs=[
                    ledger.Leg(wallet.account_id, Decimal(bonus), ledger.BONUS, tracked=True),
                    ledger.Leg(ledger.bonus_account_id(currency), -Decimal(bonus)),
                ],
            )


def balance(player: Player, currency: str = "EUR") -> Decimal:
    return wallet_get(external_id=player.external_id, currency=currency).balance


def bonus_balance(player: Player, currency: str = "EUR") -> Decimal:
    return wallet_get(external_id=player.external_id, currency=currency).bonus_balance


def make_api_key(
    name: str = "casino platform",
    scopes: tuple[str, ...] = ("read", "players", "payments", "sessions"),
    limits: dict[str, str] | None = None,
    rate_limit: str = "100000/min",
):
    """An operator API key and its secret. Transfers: up to 1,000,000 in EUR, USD and BTC unless
    `limits` says otherwise."""
    from apikeys.services import apikey_replace_for_tool

    limits = {"EUR": "1000000", "USD": "1000000", "BTC": "1000000"} if limits is None else limits
    secret = apikey_replace_for_tool(
        name=name, scopes=scopes, limits={c: Decimal(a) for c, a in limits.items()}, rate_limit=rate_limit
    )
    from apikeys.models import ApiKey

    return ApiKey.objects.get(name=name), secret


def api_client(**kwargs):
    """A DRF test client that calls the operator API with a fresh key (make_api_key's arguments)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(**kwargs)[1]}")
    return client


def make_outbox_event(player: Player, activity_id: str, **fields) -> OutboxEvent:
    """A Fast Track outbox row written directly (an approved Bet event, pending, due now), for
    tests about the outbox table itself; `fields` override any column."""
    now = timezone.now()
    values = {
        "currency": "EUR",
        "event_type": OutboxEvent.EventType.BET,
        "event_status": OutboxEvent.EventStatus.APPROVED,
        "source": "test",
        "balance_before": 0,
        "balance_after": 0,
        "occurred_at": now,
        "next_attempt_at": now,
        **fields,
    }
    return OutboxEvent.objects.create(activity_id=activity_id, player=player, **values)

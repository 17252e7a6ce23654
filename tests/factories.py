"""Test data builders with named actors (alice, bob…)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from wallet import ledger
from wallet.models import Player
from wallet.selectors import wallet_get
from wallet.services.players import player_create
from wallet.services.postings import deposit_apply


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

"""Player lifecycle: create, add a currency, block/unblock/self-exclude."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from wallet.currencies import is_supported
from wallet.errors import InvalidRequest, PlayerExists, UnknownCurrency
from wallet.models import Account, Player
from wallet.services.audit import audit_record


def _check_currencies(currencies: Iterable[str]) -> list[str]:
    result = []
    for code in currencies:
        if not isinstance(code, str) or not is_supported(code):
            raise UnknownCurrency(f"unknown currency {code!r}")
        if code not in result:
            result.append(code)
    return result


@transaction.atomic
def player_create(
    *,
    external_id: str,
    currencies: Iterable[str],
    is_test: bool = False,
    nickname: str = "",
    country: str = "",
    actor_id: int | None = None,
    api_key: dict[str, str] | None = None,
) -> Player:
    """Create a player with an empty wallet per currency. Raises PlayerExists if the id exists."""
    codes = _check_currencies(currencies)
    if not codes:
        raise InvalidRequest("a player needs at least one currency")
    if not external_id or len(external_id) > 64:
        raise InvalidRequest("external_id must be 1-64 characters")
    try:
        with transaction.atomic():
            player = Player.objects.create(external_id=external_id, is_test=is_test, nickname=nickname, country=country)
    except IntegrityError:
        raise PlayerExists(f"player {external_id!r} already exists") from None
    Account.objects.bulk_create([Account(kind=Account.Kind.PLAYER, player=player, currency=code) for code in codes])
    audit_record(
        actor_id=actor_id,
        action="player.create",
        obj=player,
        data={"currencies": codes, "is_test": is_test},
        api_key=api_key,
    )
    return player


@transaction.atomic
def player_add_currency(*, player: Player, currency: str, actor_id: int | None = None) -> Account:
    (code,) = _check_currencies([currency])
    account, created = Account.objects.get_or_create(kind=Account.Kind.PLAYER, player=player, currency=code)
    if created:
        audit_record(actor_id=actor_id, action="player.add_currency", obj=player, data={"currency": code})
    return account


@transaction.atomic
def player_set_status(
    *, player: Player, status: str, reason: str, actor_id: int | None, api_key: dict[str, str] | None = None
) -> Player:
    """Block, self-exclude or re-activate a player. A reason is mandatory: staff read it later."""
    if status not in Player.Status.values:
        raise InvalidRequest(f"status must be one of {', '.join(Player.Status.values)}")
    if not reason.strip():
        raise InvalidRequest("a reason is required to change a player's status")
    locked = Player.objects.select_for_update(no_key=True).get(pk=player.pk)
    previous = locked.status
    if previous != status:
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            actor_id=actor_id,
            action="player.status",
            obj=locked,
            reason=reason,
            data={"from": previous, "to": status},
            api_key=api_key,
        )
    return locked

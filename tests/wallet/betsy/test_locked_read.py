"""The first statement of a settle, unsettle or rollback reads the bet without its selections
(locked.BET_FIELDS, issue #18): the steps and their subscribers never read them, and a read
of them still loads them (deferred, as with QuerySet.defer)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from decimal import Decimal

import pytest
from django.db import connection

from feeds import reconcile
from tests.factories import make_player
from wallet import rows
from wallet.betsy import locked
from wallet.betsy.simulator import selection
from wallet.models import Bet

TX = "locked-read-1"
LEGS = [selection(), selection(eventId=50602, outcome="Chelsea", coefficient=Decimal("3.25"))]


def test_bet_fields_are_every_field_but_the_selections() -> None:
    assert [f.name for f in locked.BET_FIELDS] == [f.name for f in Bet._meta.concrete_fields if f.name != "selections"]
    sql = locked.preload_sql(())
    assert "selections" not in sql
    assert all(f'betsy_bet."{f.column}"' in sql or f"betsy_bet.{f.column}" in sql for f in locked.BET_FIELDS)


@pytest.mark.parametrize("step", ["settle won", "settle lost", "unsettle", "rollback"])
def test_no_step_reads_the_selections(betsy, alice, monkeypatch, step: str) -> None:
    assert betsy.place(TX, "alice", "USD", 5, alice.token, metadata=LEGS).status == 200
    if step == "unsettle":
        assert betsy.settle(TX, "alice", "USD", 10, "won").status == 200
    loaded: list[set[str] | None] = []
    refresh = Bet.refresh_from_db

    def spy(self, using=None, fields=None, from_queryset=None):  # noqa: ANN001, ANN202
        loaded.append(set(fields) if fields else None)
        return refresh(self, using=using, fields=fields, from_queryset=from_queryset)

    seen: list[locked.Locked] = []
    read = locked.read_locked

    def keep(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = read(*args, **kwargs)
        seen.append(result[0])
        return result

    monkeypatch.setattr(Bet, "refresh_from_db", spy)
    monkeypatch.setattr(locked, "read_locked", keep)
    import wallet.betsy.reversals as reversals

    monkeypatch.setattr(reversals, "read_locked", keep)
    if step == "settle won":
        reply = betsy.settle(TX, "alice", "USD", 10, "won")
    elif step == "settle lost":
        reply = betsy.settle(TX, "alice", "USD", 0, "lost")
    elif step == "unsettle":
        reply = betsy.unsettle(TX, "alice", "USD", 10)
    else:
        reply = betsy.rollback(TX, "alice", "USD", 5)
    assert reply.status == 200, reply.body
    if connection.vendor == "postgresql" or step in ("unsettle", "rollback"):
        assert loaded == []  # nothing read the deferred selections
    else:  # SQLite sends no subscribers' reads: feeds.reconcile reads the selections itself
        assert loaded == [{"selections"}]
    assert seen and seen[-1].bet.get_deferred_fields() == (set() if loaded else {"selections"})
    made = seen[-1]  # its slots set directly (issue #18): the object Locked's own __init__ makes, still frozen
    assert type(made) is locked.Locked
    assert made == locked.Locked(made.bet, made.epoch, made.wallet, made.prefetched, made.step_id)
    assert made.wallet.external_id == "alice" and made.epoch == 0
    with pytest.raises(FrozenInstanceError):
        made.epoch = 7  # type: ignore[misc]
    monkeypatch.undo()
    # Deferred, not lost: a read loads what the place stored.
    bet = seen[-1].bet
    assert bet.selections == Bet.objects.get(pk=bet.pk).selections
    assert [leg["event_id"] for leg in bet.selections] == ["50601", "50602"]


ODD_LEGS = [
    [],
    [{"event_id": "sr:match:1", "market_id": "1", "outcome_id": "1"}],
    [{"event_id": "50601", "market_id": "1", "outcome_id": "1"}],
    [{"event_id": "50601"}, {"event_id": "sr:match:2"}],
    [{"event_id": "sr:match:1", "market_id": "", "outcome_id": "1"}],
    [{"event_id": "sr:"}],
    [{"event_id": "SR:match:1"}],
    [{"event_id": 7}, "sr:match:1", ["sr:match:1"]],
    [{"event_id": ["sr:match:1"]}],
    [{"event_id": {"sr": 1}}],
    [{"event_id": None}, {"other": "sr:match:1"}],
    [{"event_id": "s_:match"}, {"event_id": "sr%"}],
    {"event_id": "sr:match:1"},
    "sr:match:1",
]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the subscribers' reads are sent on PostgreSQL only")
@pytest.mark.django_db
@pytest.mark.parametrize("legs", ODD_LEGS)
def test_may_be_mapped_is_necessary_for_mapped_legs(legs) -> None:  # noqa: ANN001
    """feeds.reconcile's read with the bet says False only where _mapped_legs says None."""
    player = make_player("mapped", currencies=("USD",))
    bet = Bet.objects.create(
        provider="betsy",
        external_id="m-1",
        player=player,
        currency="USD",
        stake=Decimal(1),
        stake_real=Decimal(1),
        selections=legs,
    )
    with rows.cursor() as cursor:
        cursor.execute(reconcile.BET_READ.sql.format(bet="%s"), [bet.pk])
        (may_be,) = cursor.fetchone()
    expected = any(isinstance(leg, dict) and str(leg.get("event_id", "")).startswith("sr:") for leg in legs or [])
    if not isinstance(legs, list):
        expected = False
    assert may_be is expected
    if not may_be:
        assert reconcile._mapped_legs(bet) is None

"""Many players betting while several workers deliver, on real PostgreSQL.

Writers place, settle, resettle and roll back bets for twelve players through the wallet
postings while three delivery workers drain the outbox with small batches (so claims
overlap and SKIP LOCKED has work to do). Fast Track (the simulator) must get every event
exactly once, each player's events in the order they were written, and never a settlement
before its bet.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections

from crm import conf
from crm.models import OutboxEvent
from crm.services import deliver_pending
from tests.crm.conftest import SELECTION, place, rollback, settle
from tests.factories import fund, make_player

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

PLAYERS = 12
ROUNDS = 4
WRITERS = 4
WORKERS = 3


def play(player, round_: int) -> None:
    placed = place(player, "1.00", f"{player.external_id}-{round_}", odds=Decimal("3"), selections=[SELECTION])
    kind = round_ % 4
    if kind == 0:
        settle(placed.bet.pk, "3.00", "won")
    elif kind == 1:
        settle(placed.bet.pk, "0", "lost")
        settle(placed.bet.pk, "1.00", "refund")  # resettle: Rollback + Approved
    elif kind == 2:
        rollback(placed.bet.pk)
    else:
        settle(placed.bet.pk, "2.00", "cashout")


def test_many_players_many_workers_once_and_in_order(simulator, rest, monkeypatch):
    monkeypatch.setattr(conf, "PLAYER_RUN", 2)
    players = [make_player(f"p{n:02d}") for n in range(PLAYERS)]
    for player in players:
        fund(player, "100.00")

    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(mine):
        try:
            for round_ in range(ROUNDS):
                for player in mine:
                    play(player, round_)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    def worker():
        try:
            while True:
                finished = writers_done.is_set()
                deliver_pending(transport=rest, limit=4)
                if finished and not OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).exists():
                    return
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    writer_threads = [threading.Thread(target=writer, args=(players[i::WRITERS],)) for i in range(WRITERS)]
    worker_threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in writer_threads + worker_threads:
        thread.start()
    for thread in writer_threads:
        thread.join(timeout=120)
    writers_done.set()
    for thread in worker_threads:
        thread.join(timeout=120)
    assert not errors, errors

    rows = list(OutboxEvent.objects.order_by("id"))
    assert len(rows) == PLAYERS * 10  # per player: 4 bets, 1+3+1+1 settlement events
    assert {r.status for r in rows} == {OutboxEvent.Status.DELIVERED}
    received = simulator.activity_ids()
    assert simulator.duplicates() == {}
    assert sorted(received) == sorted(r.activity_id for r in rows)

    position = {activity: i for i, activity in enumerate(received)}
    for player in players:
        mine = [r.activity_id for r in rows if r.player_id == player.pk]
        assert sorted(mine, key=position.__getitem__) == mine, player.external_id
    for event in simulator.received:
        if event["activity_id_reference"]:
            assert position[event["activity_id_reference"]] < position[event["activity_id"]]

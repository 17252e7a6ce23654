"""A delivery batch is a fixed handful of statements, however many players it holds
(crm/claims.py): the claim (heads, followers, one read of everything the payloads need) and one
record per wave (a wave sends the next row of every player in the batch). The bodies
built from what the claim read are the bytes a builder that reads for itself produces."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm import claims
from crm.models import OutboxEvent
from crm.services import PayloadBuilder, deliver_batch
from tests.crm.conftest import SELECTION, place, rollback, rows, settle, unsettle
from tests.crm.test_mapping import _igpx_result
from tests.factories import fund, make_player
from tests.statements import sent

pytestmark = pytest.mark.django_db


def every_kind_of_row(players: int) -> None:
    """Per player: a won bet, a lost one, one resettled and unsettled, one rolled back, and an
    unlinked IGPX result: Bet, Settlement and Rollback rows, linked and unlinked."""
    for n in range(players):
        player = make_player(f"p{n}")
        fund(player, "100.00")
        won = place(player, "2.00", f"b{n}-won", odds=Decimal("2"), selections=[SELECTION])
        settle(won.bet.pk, "4.00", "won")
        lost = place(player, "1.00", f"b{n}-lost", selections=[SELECTION])
        settle(lost.bet.pk, "0", "lost")
        redone = place(player, "1.00", f"b{n}-redone", selections=[SELECTION])
        settle(redone.bet.pk, "2.00", "won")
        unsettle(redone.bet.pk)
        cancelled = place(player, "1.00", f"b{n}-cancelled", selections=[SELECTION])
        rollback(cancelled.bet.pk)
        _igpx_result(player, f"r{n}", "3.00")


@pytest.mark.parametrize("players", [1, 6])
def test_a_batch_is_three_statements_and_one_a_wave_however_many_players(recorder, simulator, rest, players):
    every_kind_of_row(players)
    expected = len(rows())
    waves = expected // players  # each player has as many rows: one wave per row of a player
    with recorder.recording():
        result = deliver_batch(transport=rest, limit=100)
    assert len(result.delivered) == expected and not result.full
    statements = sent(recorder.statements)
    assert [s.split()[0] for s in statements] == ["UPDATE", "UPDATE", "SELECT"] + ["UPDATE"] * waves, statements
    assert not any("wallet_" in s for s in statements[3:])  # the payloads read nothing more
    # A transaction (here a savepoint in the test's) for the claim only: a record of one statement
    # is atomic by itself, and a BEGIN and a COMMIT are a round trip each.
    assert sum(s.sql.lstrip().upper().startswith("SAVEPOINT") for s in recorder.statements) == 1
    assert len(simulator.received) == expected


def test_bodies_built_from_the_claim_equal_those_of_a_builder_that_reads_for_itself(postgres_only):
    every_kind_of_row(3)
    claimed = claims.claim(token="t", now=rows()[-1].next_attempt_at, limit=100, run=100)
    assert len(claimed.rows) == OutboxEvent.objects.count()
    from_claim = PayloadBuilder(claimed.rows, claimed)
    fresh_rows = list(OutboxEvent.objects.order_by("id"))
    reading = PayloadBuilder(fresh_rows)
    assert [from_claim.body(r) for r in claimed.rows] == [reading.body(r) for r in fresh_rows]


def test_a_full_claim_says_so_and_delivery_goes_on_until_one_is_not(simulator, rest, monkeypatch):
    every_kind_of_row(3)
    # Three players' heads at most per claim, two followers each: the first claims are full.
    first = claims.claim(token="a", now=rows()[-1].next_attempt_at, limit=3, run=2)
    assert first.full and len(first.rows) == 9
    claims.record("a", first.rows, {}, rows()[-1].next_attempt_at)  # released, untouched
    from crm import conf
    from crm.services import deliver_pending

    monkeypatch.setattr(conf, "PLAYER_RUN", 2)
    assert len(deliver_pending(transport=rest, limit=3).delivered) == OutboxEvent.objects.count()
    assert len(simulator.received) == OutboxEvent.objects.count()

"""A settlement step looks the database connection up once for its row and the bet's update
(`rows.db()`; ~11k instructions a lookup before it read the thread's connection directly,
issue #18), and `rows.new_row` / `rows.update_sql`
write the same with the connection given as with the one they look up."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from tests.factories import fund, make_player
from wallet import rows
from wallet.models import Bet, Settlement
from wallet.selectors import wallet_get
from wallet.services import postings
from wallet.services.postings import bet_place_apply, bet_settle_apply

pytestmark = pytest.mark.django_db


def _placed() -> Bet:
    alice = make_player("alice", ("USD",))
    fund(alice, "20", currency="USD")
    with transaction.atomic():
        wallet = wallet_get(external_id=alice.external_id, currency="USD")
        return bet_place_apply(provider="test", external_id="b1", wallet=wallet, amount=Decimal("5")).bet


def test_new_row_and_update_sql_write_the_same_with_the_connection_given(monkeypatch) -> None:
    bet = _placed()
    step = rows.build(Settlement, {"bet": bet}, bet_id=bet.pk, player_id=bet.player_id, kind="settle", result="won")
    step.amount, step.previous_amount, step.status_after, step.external_id = Decimal(3), Decimal(0), "settled", "b1"
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # created_at is each call's time (its pre_save)
    conn = rows.db()
    assert rows.new_row(step, conn=conn) == rows.new_row(step)
    assert rows.new_row(step, {"transaction_id": "7"}, conn=conn) == rows.new_row(step, {"transaction_id": "7"})
    assert rows.update_sql(bet, postings._BET_STATE, conn) == rows.update_sql(bet, postings._BET_STATE)


def _lookups_inside(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """rows.db() calls made while postings.`name` runs."""
    calls: list[int] = []
    inside: list[int] = []
    real_db, real = rows.db, getattr(postings, name)

    def counting_db():  # noqa: ANN202
        if inside:
            calls.append(1)
        return real_db()

    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        inside.append(1)
        try:
            return real(*args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(rows, "db", counting_db)
    monkeypatch.setattr(postings, name, wrapped)
    return calls


def test_a_step_that_moves_nothing_looks_the_connection_up_once(monkeypatch, postgres_only) -> None:
    bet = _placed()
    calls = _lookups_inside(monkeypatch, "_record_step")
    with transaction.atomic():
        bet_settle_apply(bet_id=bet.pk, amount=Decimal("0"), result="lost")
    # The step's own lookup and its statement's cursor (was 4: the vendor, the step's INSERT,
    # the bet's UPDATE and the cursor).
    assert len(calls) == 2
    assert Bet.objects.get().status == Bet.Status.SETTLED


def test_a_paying_step_hands_one_connection_to_its_row_and_the_bet_s_update(monkeypatch, postgres_only) -> None:
    bet = _placed()
    given: list[object] = []
    real_new_row, real_update_sql = rows.new_row, rows.update_sql

    def new_row(obj, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(obj, Settlement):
            given.append(kwargs.get("conn"))
        return real_new_row(obj, *args, **kwargs)

    def update_sql(obj, names, conn=None):  # noqa: ANN001, ANN202
        given.append(conn)
        return real_update_sql(obj, names, conn)

    monkeypatch.setattr(rows, "new_row", new_row)
    monkeypatch.setattr(rows, "update_sql", update_sql)
    with transaction.atomic():
        bet_settle_apply(bet_id=bet.pk, amount=Decimal("10"), result="won")
    assert len(given) == 2 and given[0] is given[1] is rows.db()
    assert Bet.objects.get().payout == Decimal("10")

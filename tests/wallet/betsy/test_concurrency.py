"""64 concurrent copies of each callback apply once (PostgreSQL: real row locks and unique
indexes, one connection per thread, as under a multi-worker server)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client

from tests.wallet.betsy.conftest import django_transport
from wallet.betsy.simulator import WireReply, WireRequest
from wallet.models import Bet, LedgerTransaction, Settlement

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

COPIES = 64
TX = "c0ffee00-0000-4000-8000-000000000001"


def fire(requests: list[WireRequest]) -> list[WireReply]:
    """Send every request from its own thread (own DB connection), all released at once."""
    barrier = threading.Barrier(len(requests))
    replies: list[WireReply | None] = [None] * len(requests)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            send = django_transport(Client())
            barrier.wait(timeout=30)
            replies[index] = send(requests[index])
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return [reply for reply in replies if reply is not None]


def bet_request(betsy, type_: int, method: str, amount, **extra) -> WireRequest:
    body = betsy.bet_body(
        type_=type_,
        transaction_id=TX,
        user_id="alice",
        currency="USD",
        amount=amount,
        token=extra.pop("token", None),
        **extra,
    )
    return betsy.prepare(method, "/payment/bet", body)


def all_identical_successes(replies: list[WireReply]) -> None:
    """Every copy got the first answer, byte for byte. A copy may instead get code 100 if it
    waited on the first copy's lock longer than lock_timeout (3 s; seen only when the machine is
    saturated): nothing was applied for it, which is what Betsy is told."""
    assert len(replies) == COPIES
    timed_out = [r for r in replies if r.status == 400 and r.code == 100]
    answered = [r for r in replies if r not in timed_out]
    assert answered and {r.status for r in answered} == {200}, {r.body for r in answered if r.status != 200}
    assert len({r.body for r in answered}) == 1
    assert len(timed_out) < COPIES // 2, "most copies timed out: the machine is too busy to judge"


def test_place_applies_once(postgres_only, betsy, alice):
    request = bet_request(betsy, 1, "POST", 5, token=alice.token)
    all_identical_successes(fire([request] * COPIES))
    assert alice.balance == Decimal("15")
    assert Bet.objects.count() == 1 and LedgerTransaction.objects.filter(kind="bet").count() == 1


def test_settle_then_resettle_then_unsettle_each_apply_once(postgres_only, betsy, alice):
    assert betsy.place(TX, "alice", "USD", 5, alice.token).status == 200

    all_identical_successes(fire([bet_request(betsy, 2, "PUT", 10, resultType="won")] * COPIES))
    assert alice.balance == Decimal("25")
    all_identical_successes(fire([bet_request(betsy, 2, "PUT", 5, resultType="refund")] * COPIES))
    assert alice.balance == Decimal("20")

    replies = fire([bet_request(betsy, 1, "PUT", 5)] * COPIES)
    assert {r.status for r in replies if r.code != 100} == {200}  # late copies find the bet open: success too
    assert alice.balance == Decimal("15")
    kinds = list(Settlement.objects.values_list("kind", flat=True))
    assert kinds == ["settle", "resettle", "unsettle"]


def test_rollback_applies_once(postgres_only, betsy, alice):
    assert betsy.place(TX, "alice", "USD", 5, alice.token).status == 200
    all_identical_successes(fire([bet_request(betsy, 3, "PUT", 5, errorCode=8)] * COPIES))
    assert alice.balance == Decimal("20")
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1


def test_rollback_racing_its_own_bet_never_keeps_the_stake(postgres_only, betsy, alice):
    """Half the copies place, half roll back, all at once: whichever wins, the stake is not kept."""
    place = bet_request(betsy, 1, "POST", 5, token=alice.token)
    rollback = bet_request(betsy, 3, "PUT", 5, errorCode=10)
    replies = fire([place, rollback] * (COPIES // 2))
    assert alice.balance == Decimal("20")
    place_answers = {r.status for r in replies[0::2] if r.code != 100}
    assert {r.status for r in replies[1::2] if r.code != 100} == {200}
    bet = Bet.objects.filter(external_id=TX).first()
    if bet is None:  # the rollback came first: every place copy was told code 8
        assert {r.data["code"] for r in replies[0::2]} <= {8, 100}
    else:  # the bet came first: it was placed (each copy told so) and refunded once
        assert place_answers == {200} and bet.status == "rolled_back"
        assert LedgerTransaction.objects.filter(kind="reversal").count() == 1


def test_many_different_bets_cannot_overdraw(postgres_only, betsy, alice):
    """64 distinct $1 bets against $20: exactly 20 are accepted, the rest get code 7."""
    requests = []
    for i in range(COPIES):
        body = betsy.bet_body(
            type_=1, transaction_id=f"tx-{i}", user_id="alice", currency="USD", amount=1, token=alice.token
        )
        requests.append(betsy.prepare("POST", "/payment/bet", body))
    replies = fire(requests)
    codes = [r.code or 0 for r in replies]
    assert set(codes) <= {0, 7, 100}, codes  # 100: a lock wait beyond lock_timeout, nothing applied
    accepted = codes.count(0)
    assert accepted == Bet.objects.count() and alice.balance == 20 - accepted
    if 100 not in codes:
        assert accepted == 20 and codes.count(7) == COPIES - 20

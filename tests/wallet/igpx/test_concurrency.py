"""On PostgreSQL: 64 simultaneous copies of the same callback apply once (the provider retries)."""

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client

from tests.factories import balance, fund, make_player
from wallet.models import Bet, IdempotencyRecord, LedgerTransaction, Settlement

from .conftest import Answer, Provider

COPIES = 64

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def hammer(call: Callable[[Provider, int], Answer], copies: int = COPIES) -> list[Answer]:
    """Run `call` from `copies` threads released at the same instant; each has its own connection."""
    barrier = threading.Barrier(copies)
    answers: list[Answer | None] = [None] * copies
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        provider = Provider(Client())
        try:
            barrier.wait(timeout=30)
            answer = call(provider, n)
            answers[n] = answer
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            with lock:
                failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures[:3]
    assert all(a is not None for a in answers)
    return answers  # answers[n] is thread n's


@pytest.fixture
def alice(postgres_only, igpx_secret):
    alice = make_player("alice")
    fund(alice, "1000.00")
    return alice


def test_the_same_bet_64_times_debits_once(alice):
    answers = hammer(lambda p, n: p.bet("b-1", "10.00"))
    assert {a.raw for a in answers} == {answers[0].raw} and answers[0].error is None
    assert balance(alice) == Decimal("990.00")
    assert Bet.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="bet").count() == 1


def test_the_same_result_64_times_credits_once(alice):
    answers = hammer(lambda p, n: p.result("r-1", "25.00"))
    assert {a.raw for a in answers} == {answers[0].raw} and answers[0].error is None
    assert balance(alice) == Decimal("1025.00")
    assert Settlement.objects.filter(kind="result").count() == 1


def test_the_same_rollback_64_times_refunds_once(alice):
    Provider(Client()).bet("b-1", "10.00")
    answers = hammer(lambda p, n: p.rollback("rb-1", "b-1", "10.00"))
    assert {a.raw for a in answers} == {answers[0].raw} and answers[0].error is None
    assert balance(alice) == Decimal("1000.00")
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1


def test_the_same_result_rollback_64_times_takes_back_once(alice):
    Provider(Client()).result("r-1", "40.00")
    answers = hammer(lambda p, n: p.rollback("rb-1", "r-1", "40.00"))
    assert {a.raw for a in answers} == {answers[0].raw} and answers[0].error is None
    assert balance(alice) == Decimal("1000.00")


def test_64_different_rollbacks_of_one_bet_refund_once(alice):
    Provider(Client()).bet("b-1", "10.00")
    answers = hammer(lambda p, n: p.rollback(f"rb-{n}", "b-1", "10.00"))
    assert all(a.error is None for a in answers)
    assert balance(alice) == Decimal("1000.00")
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1


def test_a_bet_racing_its_own_rollback_never_costs_the_player(alice):
    """Half the threads send the bet, half its rollback: whichever lands first, the player is whole."""

    def call(p: Provider, n: int) -> Answer:
        return p.bet("b-1", "10.00") if n % 2 else p.rollback("rb-1", "b-1", "10.00")

    answers = hammer(call)
    assert balance(alice) == Decimal("1000.00")
    bets, rollbacks = answers[1::2], answers[0::2]
    assert len({a.raw for a in bets}) == 1 and bets[0].error in (None, "BET_ROLLED_BACK")
    assert len({a.raw for a in rollbacks}) == 1 and rollbacks[0].error is None
    assert IdempotencyRecord.objects.filter(external_id="rb-1").count() == 1


def test_many_bets_on_one_wallet_never_overdraw(alice):
    """64 different 20.00 bets on 1000.00: exactly 50 are accepted, the rest are INSUFFICIENT_FUNDS."""
    answers = hammer(lambda p, n: p.bet(f"b-{n}", "20.00"))
    errors = sorted(str(a.error) for a in answers)
    assert errors.count("None") == 50 and errors.count("INSUFFICIENT_FUNDS") == 14
    assert balance(alice) == Decimal("0.00")

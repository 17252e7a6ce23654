"""Concurrency on real PostgreSQL: the unique key and the guarded update, under 64 threads."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections, transaction

from tests.factories import balance, fund, make_api_key, make_player
from wallet.api.errors import render_wallet_error
from wallet.errors import WalletError
from wallet.models import Bet, LedgerTransaction
from wallet.selectors import wallet_get
from wallet.services.idempotency import Outcome, RequestKey, execute_once
from wallet.services.postings import bet_place_apply
from wallet.services.transfers import DEPOSIT, transfer_execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]
THREADS = 64


def run_concurrently(fn, count=THREADS):
    barrier = threading.Barrier(count)

    def worker(i):
        barrier.wait()
        try:
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def test_same_deposit_reference_64_times_applies_once():
    alice = make_player("alice")
    caller = make_api_key()[0]

    def deposit(_):
        return transfer_execute(
            direction=DEPOSIT,
            player_external_id="alice",
            currency="EUR",
            amount=Decimal("10.00"),
            reference="dep-1",
            caller=caller,
            render=lambda r: (201, json.dumps({"id": r.transaction_id, "balance": str(r.balance)})),
            render_error=render_wallet_error,
        )

    replies = run_concurrently(deposit)
    assert len({(r.status, r.body) for r in replies}) == 1  # 64 identical responses
    assert sum(not r.replayed for r in replies) == 1
    assert balance(alice) == Decimal("10.00")
    assert LedgerTransaction.objects.filter(kind="deposit").count() == 1


def test_same_bet_64_times_applies_once():
    alice = make_player("alice")
    fund(alice, "100")

    def bet(_):
        def apply():
            wallet = wallet_get(external_id="alice", currency="EUR")
            placed = bet_place_apply(provider="test", external_id="b-1", wallet=wallet, amount=Decimal("5"))
            return Outcome(200, json.dumps({"tx": placed.transaction_id}), placed.transaction_id)

        return execute_once(
            key=RequestKey("test", "b-1", "tx"),
            content={"amount": Decimal("5")},
            apply=apply,
            render_error=render_wallet_error,
        )

    replies = run_concurrently(bet)
    assert len({r.body for r in replies}) == 1
    assert balance(alice) == Decimal("95")
    assert Bet.objects.count() == 1


def test_64_debits_above_the_balance_never_go_negative():
    """Total demand 64 x 7 = 448 against 300: exactly 42 succeed, the rest are declined."""
    alice = make_player("alice")
    fund(alice, "300")

    def bet(i):
        try:
            with transaction.atomic():
                wallet = wallet_get(external_id="alice", currency="EUR")
                bet_place_apply(provider="test", external_id=f"b-{i}", wallet=wallet, amount=Decimal("7"))
            return True
        except WalletError:
            return False

    results = run_concurrently(bet)
    successes = sum(results)
    assert successes == 42
    assert balance(alice) == Decimal("300") - 7 * successes == Decimal("6")
    assert Bet.objects.count() == successes


def test_concurrent_bets_with_bonus_split_stay_exact():
    """Real runs out mid-way: later bets lock the row and split into bonus, never overdraw."""
    alice = make_player("alice")
    fund(alice, "50", bonus="50")

    def bet(i):
        try:
            with transaction.atomic():
                wallet = wallet_get(external_id="alice", currency="EUR")
                bet_place_apply(provider="test", external_id=f"s-{i}", wallet=wallet, amount=Decimal("3"))
            return True
        except WalletError:
            return False

    successes = sum(run_concurrently(bet, 40))
    assert successes == 33  # floor(100 / 3)
    wallet = wallet_get(external_id="alice", currency="EUR")
    assert wallet.balance + wallet.bonus_balance == Decimal("1")
    assert wallet.balance >= 0 and wallet.bonus_balance >= 0


def test_concurrent_approvals_apply_once():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from wallet.models import StaffRequest
    from wallet.services import backoffice

    backoffice.roles_ensure()
    users = []
    for name in ("rita", *[f"fin{i}" for i in range(8)]):
        user = get_user_model().objects.create_user(name, password="x", is_staff=True)
        user.groups.add(Group.objects.get(name="Risk" if name == "rita" else "Finance"))
        users.append(user)
    alice = make_player("alice")
    fund(alice, "20")
    with transaction.atomic():
        bet = bet_place_apply(
            provider="test",
            external_id="b1",
            wallet=wallet_get(external_id="alice", currency="EUR"),
            amount=Decimal("5"),
        ).bet
    from wallet.services.postings import bet_settle_apply

    with transaction.atomic():
        step = bet_settle_apply(bet_id=bet.pk, amount=Decimal("10"), result="won").settlement
    request = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result", actor=users[0])

    def approve(i):
        approver = get_user_model().objects.get(pk=users[1 + i].pk)
        try:
            backoffice.staff_request_approve(request_id=request.pk, actor=approver)
            return True
        except WalletError:
            return False

    assert sum(run_concurrently(approve, 8)) == 1
    assert balance(alice) == Decimal("15")
    assert StaffRequest.objects.get().status == "applied"

"""The wallet's figures on the live dashboard."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from config.dashboard import Metric
from wallet.models import Bet, Debt, IdempotencyConflict, LedgerCheckRun, LedgerTransaction, ReviewItem, StaffRequest


def metrics() -> list[Metric]:
    minute_ago = timezone.now() - timedelta(minutes=1)
    review_open = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).count()
    pending = StaffRequest.objects.filter(status=StaffRequest.Status.PENDING).count()
    debts = Debt.objects.filter(status=Debt.Status.OPEN).count()
    conflicts = IdempotencyConflict.objects.filter(resolved=False).count()
    last = LedgerCheckRun.objects.order_by("-id").first()
    if last is None:
        check = Metric("ledger_check", "last check_ledger", "never run", status="warn")
    else:
        age = int((timezone.now() - last.ran_at).total_seconds() // 60)
        check = Metric(
            "ledger_check",
            "last check_ledger",
            f"{'OK' if last.ok else 'VIOLATIONS'} ({age} min ago)",
            status="ok" if last.ok else "bad",
        )
    return [
        Metric("bets_per_min", "bets / minute", Bet.objects.filter(placed_at__gte=minute_ago).count(), trend=True),
        Metric(
            "postings_per_min",
            "ledger postings / minute",
            LedgerTransaction.objects.filter(created_at__gte=minute_ago).count(),
            trend=True,
        ),
        Metric("review_queue", "review queue (open)", review_open, status="warn" if review_open else "ok", trend=True),
        Metric("pending_approvals", "approvals pending", pending, status="warn" if pending else "ok"),
        Metric("open_debts", "open player debts", debts, status="warn" if debts else "ok"),
        Metric("conflicts", "idempotency conflicts", conflicts, status="bad" if conflicts else "ok"),
        check,
    ]

"""The wallet's figures on the live dashboard; each card links to the list behind it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from config.dashboard import Metric
from wallet.models import Bet, Debt, IdempotencyConflict, LedgerCheckRun, LedgerTransaction, ReviewItem, StaffRequest


def _list(model: str, query: str = "") -> str:
    return reverse(f"admin:wallet_{model}_changelist") + (f"?{query}" if query else "")


def metrics() -> list[Metric]:
    now = timezone.now()
    minute_ago = now - timedelta(minutes=1)
    review_open = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).count()
    pending = StaffRequest.objects.filter(status=StaffRequest.Status.PENDING).count()
    debts = Debt.objects.filter(status=Debt.Status.OPEN).count()
    conflicts = IdempotencyConflict.objects.filter(resolved=False).count()
    last = LedgerCheckRun.objects.order_by("-id").first()
    if last is None:
        check = Metric("ledger_check", "last check_ledger", "never run", status="warn")
    else:
        age = int((now - last.ran_at).total_seconds() // 60)
        check = Metric(
            "ledger_check",
            "last check_ledger",
            f"{'OK' if last.ok else 'VIOLATIONS'} ({age} min ago)",
            status="ok" if last.ok else "bad",
        )
    return [
        Metric(
            "bets_per_min",
            "bets / minute",
            Bet.objects.filter(placed_at__gte=minute_ago).count(),
            trend=True,
            url=_list("bet"),
        ),
        Metric(
            "postings_per_min",
            "ledger postings / minute",
            LedgerTransaction.objects.filter(created_at__gte=minute_ago).count(),
            trend=True,
            url=_list("ledgertransaction"),
        ),
        Metric(
            "review_queue",
            "review queue (open)",
            review_open,
            status="warn" if review_open else "ok",
            trend=True,
            url=_list("reviewitem", "status__exact=open"),
        ),
        Metric(
            "pending_approvals",
            "approvals pending",
            pending,
            status="warn" if pending else "ok",
            url=_list("staffrequest", "status__exact=pending"),
        ),
        Metric(
            "open_debts",
            "open player debts",
            debts,
            status="warn" if debts else "ok",
            url=_list("debt", "status__exact=open"),
        ),
        Metric(
            "conflicts",
            "idempotency conflicts",
            conflicts,
            status="bad" if conflicts else "ok",
            url=_list("idempotencyconflict", "resolved__exact=0"),
        ),
        check,
        *review_rules_today(now),
    ]


def review_rules_today(now=None) -> list[Metric]:
    """How many items each review rule raised since midnight (local time), and how many of
    those are still open: the figure to watch when tuning the thresholds (wallet/conf.py)."""
    start = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    since = urlencode({"created_at__gte": start.isoformat()})  # with its offset: midnight where staff are
    rows = list(
        ReviewItem.objects.filter(created_at__gte=start)
        .values("kind")
        .annotate(raised=Count("id"), still_open=Count("id", filter=Q(status=ReviewItem.Status.OPEN)))
        .order_by("kind")
    )
    labels = dict(ReviewItem.Kind.choices)
    total = sum(r["raised"] for r in rows)
    return [
        Metric("review_today", "review items raised today", total, url=_list("reviewitem", since)),
        *(
            Metric(
                f"review_rule_{r['kind']}",
                f"today: {labels.get(r['kind'], r['kind']).lower()}",
                r["raised"],
                display=f"{r['raised']} ({r['still_open']} open)",
                url=_list("reviewitem", f"kind__exact={r['kind']}&{since}"),
            )
            for r in rows
        ),
    ]

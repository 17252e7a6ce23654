"""Report data: daily rollups derived from the ledger, and provider reconciliation runs.

Rollups are a cache of sums over ledger entries (reports.rollups). `check_reports` recomputes
any day from the ledger and compares to the cent; the ledger stays the source of truth.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from wallet.models import MoneyField, ReviewItem

FIGURES = (
    "stakes",
    "payouts",
    "refunds",
    "rollbacks",
    "resettle_adjustments",
    "unsettle_adjustments",
    "staff_reversals",
    "staff_adjustments",
    "ggr",
    "open_liability",
    "new_debt",
)
COUNTS = ("bets_count", "unique_players")


class DailyRollup(models.Model):
    """Figures for one business day and one (provider, brand, origin, currency, money) key.

    Every amount is signed from the player's side ("to player" positive) except `stakes`,
    `ggr`, `open_liability` and `new_debt`, which are positive in the ordinary case; see
    docs/REPORTS.md for each definition. `open_liability` is NULL where it is not known (IGPX:
    its results name no bet, so its bets never close in our records), never a made-up 0.
    """

    class Money(models.TextChoices):
        REAL = "real", "Real money"
        BONUS = "bonus", "Bonus money"

    class Origin(models.TextChoices):
        PROVIDER = "provider", "Provider"
        STAFF = "staff", "Staff"

    day = models.DateField()
    provider = models.CharField(max_length=16)
    brand = models.CharField(max_length=64, blank=True, default="", help_text="Bet.brand; blank: none given.")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    currency = models.CharField(max_length=8)
    money = models.CharField(max_length=8, choices=Money.choices)
    bets_count = models.PositiveIntegerField(default=0)
    unique_players = models.PositiveIntegerField(default=0)
    stakes = MoneyField(default=Decimal(0))
    payouts = MoneyField(default=Decimal(0))
    refunds = MoneyField(default=Decimal(0))
    rollbacks = MoneyField(default=Decimal(0))
    resettle_adjustments = MoneyField(default=Decimal(0))
    unsettle_adjustments = MoneyField(default=Decimal(0))
    staff_reversals = MoneyField(default=Decimal(0))
    staff_adjustments = MoneyField(default=Decimal(0))
    ggr = MoneyField(default=Decimal(0))
    open_liability = MoneyField(null=True, blank=True, default=Decimal(0), help_text="NULL: not available.")
    new_debt = MoneyField(default=Decimal(0))

    class Meta:
        ordering = ["day", "provider", "brand", "origin", "currency", "money"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "brand", "origin", "currency", "money"],
                name="reports_rollup_one_row_per_key",
            )
        ]
        indexes = [models.Index(fields=["day", "currency"], name="reports_rollup_day_currency")]
        verbose_name = "daily rollup"
        verbose_name_plural = "money report"
        permissions = [
            ("view_reports", "Can view money reports"),
            ("view_statement", "Can view player statements"),
            ("reconcile", "Can run and resolve provider reconciliations"),
        ]


class PlayerActivity(models.Model):
    """The players who placed a bet on one business day, per (provider, brand, currency, money).

    Kept with the day's rollup; weeks, months and ranges count distinct players over it. One row
    per key holds the players' ids packed (`reports.rollups.pack_players`: sorted, 8 bytes each)
    rather than one row per player: a 90-day page then reads a few hundred rows, not a million
    player-days, and unions them in memory (docs/REPORTS.md, "Unique players").
    Stakes are always origin "provider", so there is no origin here. Besides "real" and "bonus",
    money "" (`ANY_MONEY`) holds the players of either: a line without a money filter is then
    one row per day to count, not a union to compute.
    """

    day = models.DateField()
    provider = models.CharField(max_length=16)
    brand = models.CharField(max_length=64, blank=True, default="")
    currency = models.CharField(max_length=8)
    money = models.CharField(max_length=8, blank=True, help_text='"real", "bonus", or "" for either.')
    players = models.BinaryField(help_text="Sorted player ids, little-endian signed 64-bit each.")

    class Meta:
        ordering = ["day", "provider", "brand", "currency", "money"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "brand", "currency", "money"], name="reports_activity_one_row_per_key"
            )
        ]
        verbose_name_plural = "player activity"

    @property
    def player_count(self) -> int:
        return len(self.players) // 8


class RollupDay(models.Model):
    """When a business day was last computed, and whether it is closed (final)."""

    day = models.DateField(unique=True)
    closed = models.BooleanField(default=False)
    computed_at = models.DateTimeField()
    last_transaction_id = models.BigIntegerField(default=0, help_text="Highest ledger transaction id counted.")
    transactions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (bad file)"

    provider = models.CharField(max_length=16)
    period_from = models.DateField()
    period_to = models.DateField()
    filename = models.CharField(max_length=255)
    stored_path = models.CharField(max_length=500, blank=True, help_text="The uploaded file (REPORT_UPLOAD_DIR).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    lines_total = models.PositiveIntegerField(default=0)
    lines_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the file was refused, naming the line.")
    matched = models.PositiveIntegerField(default=0)
    differences = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.provider} {self.period_from}..{self.period_to} #{self.pk}"

    @property
    def progress_percent(self) -> int:
        return 100 if not self.lines_total else min(100, self.lines_done * 100 // self.lines_total)


class ReconciliationDifference(models.Model):
    class Kind(models.TextChoices):
        MISSING_OURS = "missing_ours", "Missing on our side"
        MISSING_THEIRS = "missing_theirs", "Missing on theirs"
        AMOUNT = "amount", "Amount differs"
        CURRENCY = "currency", "Currency differs"
        TYPE = "type", "Type differs"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved with a note"
        REVIEW = "review", "Sent to the review queue"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="difference_rows")
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    transaction_id = models.CharField(max_length=128, help_text="The provider's transaction id.")
    line = models.PositiveIntegerField(null=True, blank=True, help_text="Line in the provider's file.")
    player = models.CharField(max_length=64, blank=True)
    their_type = models.CharField(max_length=32, blank=True)
    our_type = models.CharField(max_length=32, blank=True)
    their_currency = models.CharField(max_length=8, blank=True)
    our_currency = models.CharField(max_length=8, blank=True)
    their_amount = MoneyField(null=True, blank=True)
    our_amount = MoneyField(null=True, blank=True)
    note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    review_item = models.ForeignKey(ReviewItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["id"]

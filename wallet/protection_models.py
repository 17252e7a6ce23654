"""Player protection data: a wallet's spending limits with their counters, and the history of
every protection change (docs/PROTECTION.md). Imported by wallet.models.

The player-wide rules (date of birth, verification, jurisdiction, self-exclusion, time-out)
are columns of `Player`, read with the wallet on every bet; `Account.limited` says whether a
wallet has a `WalletLimits` row, so a wallet without limits costs its bets nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallet.currencies import LEDGER_MAX_DIGITS, LEDGER_SCALE

# The money and count limits a wallet can have, in the order staff read them.
LIMIT_FIELDS = (
    "stake_per_bet",
    "wager_day",
    "wager_week",
    "wager_month",
    "loss_day",
    "loss_week",
    "loss_month",
    "bets_day",
)


def _money(**kwargs):
    return models.DecimalField(max_digits=LEDGER_MAX_DIGITS, decimal_places=LEDGER_SCALE, **kwargs)


class WalletLimits(models.Model):
    """One wallet's limits in force and what this period has used of them.

    The bet path moves the usage with one UPDATE of this row in the stake's own posting
    statement, after the debit (wallet.limits), so concurrent bets cannot pass a limit. The
    usage columns belong to the calendar periods starting on `day_start`, `week_start` and
    `month_start` (operator time zone); a statement in a later period starts them from zero.
    A null limit is no limit.
    """

    account = models.OneToOneField("wallet.Account", on_delete=models.PROTECT, related_name="limits")
    player = models.ForeignKey("wallet.Player", on_delete=models.PROTECT, related_name="wallet_limits")
    currency = models.CharField(max_length=8)
    stake_per_bet = _money(null=True, blank=True)
    wager_day = _money(null=True, blank=True)
    wager_week = _money(null=True, blank=True)
    wager_month = _money(null=True, blank=True)
    loss_day = _money(null=True, blank=True, help_text="Net loss: stakes minus what came back.")
    loss_week = _money(null=True, blank=True)
    loss_month = _money(null=True, blank=True)
    bets_day = models.PositiveIntegerField(null=True, blank=True)
    day_start = models.DateField(null=True, blank=True)
    week_start = models.DateField(null=True, blank=True)
    month_start = models.DateField(null=True, blank=True)
    used_wager_day = _money(default=0)
    used_wager_week = _money(default=0)
    used_wager_month = _money(default=0)
    used_loss_day = _money(default=0)
    used_loss_week = _money(default=0)
    used_loss_month = _money(default=0)
    used_bets_day = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "wallet limits"

    def __str__(self) -> str:
        return f"limits of {self.account}"


class ProtectionChange(models.Model):
    """One change to a player's protection, requested and (now or later) applied.

    Tightening applies at once. Loosening (a higher limit, a removed one, an earlier end of a
    time-out or self-exclusion) waits `LIMIT_INCREASE_DELAY_HOURS` as `pending` and is applied
    at `effective_at`; lifting a self-exclusion early first waits for a second person's approval
    where the jurisdiction allows it at all.
    """

    class Field(models.TextChoices):
        STAKE_PER_BET = "stake_per_bet", "Stake per bet"
        WAGER_DAY = "wager_day", "Wager per day"
        WAGER_WEEK = "wager_week", "Wager per week"
        WAGER_MONTH = "wager_month", "Wager per month"
        LOSS_DAY = "loss_day", "Net loss per day"
        LOSS_WEEK = "loss_week", "Net loss per week"
        LOSS_MONTH = "loss_month", "Net loss per month"
        BETS_DAY = "bets_day", "Bets per day"
        TIME_OUT = "time_out", "Time-out until"
        SELF_EXCLUSION = "self_exclusion", "Self-exclusion until"
        VERIFICATION = "verification", "Verification"
        DATE_OF_BIRTH = "date_of_birth", "Date of birth"
        JURISDICTION = "jurisdiction", "Jurisdiction"

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        PENDING = "pending", "Pending (cooling period)"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting a second approval"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"

    player = models.ForeignKey("wallet.Player", on_delete=models.PROTECT, related_name="protection_changes")
    currency = models.CharField(max_length=8, blank=True, help_text="For money limits: the wallet's currency.")
    field = models.CharField(max_length=16, choices=Field.choices)
    old_value = models.CharField(max_length=64, blank=True, help_text="Blank: none.")
    new_value = models.CharField(max_length=64, blank=True, help_text="Blank: none (removed).")
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    effective_at = models.DateTimeField(help_text="When it takes (or took) effect.")
    applied_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=16, default="api", help_text="api, admin or system.")
    reference = models.CharField(max_length=128, blank=True, help_text="The operator API request's reference.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("manage_protection", "Can set and lift player protection"),
            ("approve_exclusion_lift", "Can approve lifting a self-exclusion early"),
        ]
        indexes = [models.Index(fields=["player", "field", "currency"], name="protection_change_player")]
        constraints = [
            models.UniqueConstraint(
                fields=["player", "field", "currency"],
                condition=Q(status__in=["pending", "awaiting_approval"]),
                name="protection_one_open_change_per_field",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_field_display()} {self.old_value or '-'} -> {self.new_value or '-'} ({self.status})"

"""The Fast Track outbox: one row per SPORTSBOOK event, written in the money transaction.

A row holds what must be frozen at the moment the money moved (balances, exchange rate, the
time, which bet/settlement/ledger transaction it reports) and points at the wallet rows it
describes; those are append-only, so the payload built from them at delivery time is the
same whenever it is built. The body actually sent is stored on first delivery, so a retry
sends the same bytes.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from wallet.models import Bet, LedgerTransaction, MoneyField, Player, Settlement


class OutboxEvent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending (claimed by a worker)"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead letter (blocks the player)"
        SKIPPED = "skipped", "Skipped by staff"

    class EventType(models.TextChoices):
        BET = "Bet", "Bet"
        SETTLEMENT = "Settlement", "Settlement"

    class EventStatus(models.TextChoices):
        APPROVED = "Approved", "Approved"
        ROLLBACK = "Rollback", "Rollback"

    # Rows in these states hold back every later row of the same player.
    OPEN_STATES = (Status.PENDING, Status.SENDING, Status.DEAD)

    activity_id = models.CharField(max_length=128)  # unique: Meta.constraints
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=8)
    event_type = models.CharField(max_length=16, choices=EventType.choices)
    event_status = models.CharField(max_length=16, choices=EventStatus.choices)
    source = models.CharField(max_length=32, help_text="The wallet event that produced this row.")
    # No index of their own (db_index=False): see Meta.indexes.
    bet = models.ForeignKey(Bet, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    settlement = models.ForeignKey(
        Settlement, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    transaction = models.ForeignKey(
        LedgerTransaction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="The ledger transaction this event reports (unlinked results are found by it).",
    )
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="On a Rollback: the Approved event it cancels. An event is rolled back at most once.",
    )
    unlinked = models.BooleanField(
        default=False, help_text="A settlement the provider did not tie to a bet (IGPX result): empty reference."
    )
    balance_before = MoneyField()
    balance_after = MoneyField()
    exchange_rate = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)
    occurred_at = models.DateTimeField(help_text="When the money moved: the event's timestamp.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claim_token = models.CharField(max_length=32, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="The exact JSON sent (frozen at the first attempt).")
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "Fast Track event"
        # Every index here is written on each insert (in the money transaction) and on each
        # delivery, whose two updates are not HOT (issue #18): keep only what a query uses.
        # Django's unique=True on a CharField adds a varchar_pattern_ops copy for LIKE, which
        # nothing runs; rows are found by settlement never, by bet only when they have one (an
        # unlinked result has none), by transaction only when unlinked, by `reverses` only when set.
        constraints = [
            models.UniqueConstraint(fields=["activity_id"], name="crm_outbox_activity_id_unique"),
            models.UniqueConstraint(
                fields=["reverses"], condition=Q(reverses__isnull=False), name="crm_outbox_rolled_back_once"
            ),
        ]
        indexes = [
            # crm/outbox.py: the export's own rows about a bet, read on each of its settlements.
            models.Index(fields=["bet"], condition=Q(bet__isnull=False), name="crm_outbox_by_bet"),
            # crm/outbox.py: the unlinked result a reversal cancels, by its ledger transaction.
            models.Index(fields=["transaction"], condition=Q(unlinked=True), name="crm_outbox_unlinked_by_txn"),
            # The claim's "is anything older of this player still open?" probe.
            models.Index(
                fields=["player", "id"],
                condition=Q(status__in=["pending", "sending", "dead"]),
                name="crm_outbox_open_per_player",
            ),
            # Claim candidates in id order, and the oldest open row for the lag figure.
            models.Index(fields=["id"], condition=Q(status__in=["pending", "sending", "dead"]), name="crm_outbox_open"),
        ]

    def __str__(self) -> str:
        return self.activity_id

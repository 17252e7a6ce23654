"""Wallet data: players, accounts, the double-entry ledger, bets and settlements.

Rows here are append-only where money is concerned: a correction is a new transaction that
points at what it reverses, never an edit. The only mutable money columns are the running
balances on player accounts, which change in the same database transaction as the entries
that justify them (see wallet/ledger.py). `manage.py check_ledger` proves they agree.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from wallet.currencies import LEDGER_MAX_DIGITS, LEDGER_SCALE


def MoneyField(**kwargs):  # noqa: N802 - reads like a field class
    kwargs.setdefault("max_digits", LEDGER_MAX_DIGITS)
    kwargs.setdefault("decimal_places", LEDGER_SCALE)
    return models.DecimalField(**kwargs)


class Player(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        BLOCKED = "blocked", "Blocked"
        SELF_EXCLUDED = "self_excluded", "Self-excluded"

    class Verification(models.TextChoices):
        UNVERIFIED = "unverified", "Unverified"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"

    external_id = models.CharField(max_length=64, unique=True, help_text="The casino platform's player id.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    is_test = models.BooleanField(default=False, help_text="Test players are excluded from CRM exports and reports.")
    nickname = models.CharField(max_length=64, blank=True)
    country = models.CharField(max_length=2, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Player protection (docs/PROTECTION.md). Read with the wallet on every bet, so the checks
    # cost no extra round trip; changed only through wallet.services.protection.
    date_of_birth = models.DateField(null=True, blank=True)
    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.UNVERIFIED, help_text="Identity (KYC)."
    )
    verified_at = models.DateTimeField(null=True, blank=True, help_text="When the verification status last changed.")
    verified_by = models.CharField(max_length=150, blank=True, help_text="Who set the verification status.")
    jurisdiction = models.CharField(
        max_length=16, blank=True, help_text="Licence/brand rules (PROTECTION_JURISDICTIONS); blank: the default."
    )
    self_excluded_until = models.DateTimeField(null=True, blank=True, help_text="Year 9999: indefinite.")
    timed_out_until = models.DateTimeField(null=True, blank=True, help_text="Time-out (cool-off) end.")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.external_id


class Account(models.Model):
    """A ledger account. Player accounts carry running balances; house accounts do not.

    A player has one account per currency with three buckets: real money, bonus money, and
    debt (what the player owes after a provider-forced correction found the funds gone; zero
    or negative). House accounts (a clearing account per provider and currency, cash for
    deposits and withdrawals, bonus funding) keep no running balance on the row: every bet
    touches the clearing account, and a single hot row would serialise all bets. Their balance
    is the sum of their entries (wallet.selectors.house_balances).
    """

    class Kind(models.TextChoices):
        PLAYER = "player", "Player wallet"
        CLEARING = "clearing", "Provider clearing"
        CASH = "cash", "Cash in/out"
        BONUS = "bonus", "Bonus funding"
        ADJUSTMENT = "adjustment", "Manual adjustments"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    player = models.ForeignKey(Player, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    provider = models.CharField(max_length=16, blank=True, help_text="Set on clearing accounts.")
    currency = models.CharField(max_length=8)
    balance = MoneyField(default=Decimal("0"), help_text="Real money (player accounts only).")
    bonus_balance = MoneyField(default=Decimal("0"))
    debt_balance = MoneyField(default=Decimal("0"), help_text="Zero or negative: what the player owes.")
    limited = models.BooleanField(
        default=False,
        help_text="Has spending limits (WalletLimits): its bets and results move the limit counters.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["player", "currency"], condition=Q(kind="player"), name="account_one_wallet_per_currency"
            ),
            models.UniqueConstraint(
                fields=["kind", "provider", "currency"],
                condition=Q(player__isnull=True),
                name="account_one_house_account",
            ),
            models.CheckConstraint(
                condition=Q(kind="player", player__isnull=False) | (~Q(kind="player") & Q(player__isnull=True)),
                name="account_player_kind_consistent",
            ),
            # The last line of defence: a bug in a service cannot make a player balance negative.
            models.CheckConstraint(
                condition=Q(balance__gte=0, bonus_balance__gte=0, debt_balance__lte=0) | ~Q(kind="player"),
                name="account_player_balances_in_range",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.PLAYER:
            return f"{self.player_id}:{self.currency}"
        return f"{self.kind}:{self.provider or '-'}:{self.currency}"


class LedgerTransaction(models.Model):
    """One money movement: its entries sum to zero. Never edited after commit."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        BET = "bet", "Bet stake"
        PAYOUT = "payout", "Bet payout"
        REVERSAL = "reversal", "Reversal"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    currency = models.CharField(max_length=8)
    player = models.ForeignKey(Player, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    provider = models.CharField(max_length=16, blank=True)
    external_id = models.CharField(max_length=128, blank=True, db_index=True, help_text="The provider's id.")
    bet = models.ForeignKey("Bet", null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        help_text="Set on a reversal: the transaction it compensates. One reversal per transaction.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.currency}"


class LedgerEntry(models.Model):
    class Bucket(models.TextChoices):
        REAL = "real", "Real money"
        BONUS = "bonus", "Bonus money"
        DEBT = "debt", "Debt"

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    bucket = models.CharField(max_length=8, choices=Bucket.choices, default=Bucket.REAL)
    amount = MoneyField(help_text="Signed: positive increases the account's bucket.")
    balance_after = MoneyField(null=True, blank=True, help_text="The bucket's balance right after (player accounts).")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "id"], name="entry_account_id")]
        verbose_name_plural = "ledger entries"


class Bet(models.Model):
    """A sportsbook bet as the provider reported it, with its current state.

    The state columns are a convenience for staff and exports; the truth is the history in
    `settlements` and the ledger transactions, which are only ever appended.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SETTLED = "settled", "Settled"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class BetType(models.TextChoices):
        SINGLE = "single", "Single"
        MULTI = "multi", "Multi"
        SYSTEM = "system", "System"

    provider = models.CharField(max_length=16)
    external_id = models.CharField(max_length=128, help_text="The provider's bet/transaction id.")
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="bets")
    # db_default too: raw INSERTs that predate the column (bench seeds, pgbench) still work.
    brand = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="The provider's sub-brand (Betsy's subPartnerId); blank when the provider names none (IGPX).",
    )
    currency = models.CharField(max_length=8)
    stake = MoneyField()
    stake_real = MoneyField()
    stake_bonus = MoneyField(default=Decimal("0"))
    payout = MoneyField(default=Decimal("0"), help_text="Currently credited for this bet.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    result = models.CharField(max_length=16, blank=True, help_text="won/lost/refund/cashout… as the provider said.")
    bet_type = models.CharField(max_length=8, choices=BetType.choices, default=BetType.SINGLE)
    odds = models.DecimalField(max_digits=16, decimal_places=6, null=True, blank=True)
    selections = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    placed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["provider", "external_id"], name="bet_unique_per_provider")]
        # Staff find a bet by its id without knowing the provider (the admin's search box).
        indexes = [models.Index(fields=["external_id"], name="bet_external_id")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_id}"


class Settlement(models.Model):
    """One step in a bet's result history: settle, resettle, unsettle, rollback, reversal.

    `amount` is the payout this step leaves in force (0 for a lost bet or after an unsettle);
    `transaction` is the ledger transaction that moved the difference (null when nothing moved).
    """

    class Kind(models.TextChoices):
        SETTLE = "settle", "Settle"
        RESETTLE = "resettle", "Re-settle"
        UNSETTLE = "unsettle", "Unsettle"
        ROLLBACK = "rollback", "Rollback"
        REVERSAL = "reversal", "Staff reversal"
        RESULT = "result", "Unlinked result"

    bet = models.ForeignKey(Bet, null=True, blank=True, on_delete=models.PROTECT, related_name="settlements")
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="settlements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    result = models.CharField(max_length=16, blank=True)
    amount = MoneyField()
    previous_amount = MoneyField(default=Decimal("0"))
    status_after = models.CharField(max_length=16, blank=True, help_text="The bet's status after this step.")
    external_id = models.CharField(max_length=128, blank=True)
    transaction = models.ForeignKey(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="settlements"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class IdempotencyRecord(models.Model):
    """The first answer to an external request, keyed by its natural key.

    The unique constraint is what makes a request apply once: two concurrent copies race on
    the insert and the loser reads the winner's stored response (byte for byte).
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "In progress"
        APPLIED = "applied", "Applied"
        DECLINED = "declined", "Declined"
        TOMBSTONE = "tombstone", "Tombstone (rolled back before it arrived)"

    provider = models.CharField(max_length=16)
    external_id = models.CharField(max_length=128)
    operation = models.CharField(max_length=16)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request's canonical content.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    status_code = models.PositiveSmallIntegerField(default=200)
    response = models.TextField(blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    transaction = models.ForeignKey(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id", "operation"], name="idempotency_natural_key")
        ]
        verbose_name = "provider request"

    def __str__(self) -> str:
        return f"{self.provider}:{self.operation}:{self.external_id}"


class IdempotencyConflict(models.Model):
    """A known key arrived with different content: refused, and kept here for staff."""

    provider = models.CharField(max_length=16)
    external_id = models.CharField(max_length=128)
    operation = models.CharField(max_length=16)
    first_fingerprint = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    request_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]


class Debt(models.Model):
    """A shortfall a provider-forced correction could not take from the player's funds."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COLLECTED = "collected", "Collected"
        WRITTEN_OFF = "written_off", "Written off"

    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="debts")
    currency = models.CharField(max_length=8)
    amount = MoneyField()
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="debts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class AuditLog(models.Model):
    """Who did what to money or limits, when and why. Written in the same transaction as the change."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        # A staff member's page lists their trail, newest first.
        indexes = [models.Index(fields=["actor", "-id"], name="audit_actor_id")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class ReviewItem(models.Model):
    """Something that needs a human: staff work through these in the settlement review queue."""

    class Kind(models.TextChoices):
        LARGE_WIN = "large_win", "Large win"
        RESETTLE = "resettle", "Re-settlement"
        UNSETTLE = "unsettle", "Unsettle"
        PAID_WIN_ROLLBACK = "paid_win_rollback", "Rollback of a paid win"
        DEBT = "debt", "Player debt"
        IDEMPOTENCY_CONFLICT = "idempotency_conflict", "Idempotency conflict"
        RESULT_MISMATCH = "result_mismatch", "Provider result disagrees with Betradar"
        ROUNDED_PAYOUT = "rounded_payout", "Payout finer than its currency, rounded up"
        ROLLBACK_MISMATCH = "rollback_mismatch", "Rollback disagrees with the transaction it undid"
        CALLBACK_REFUSED = "callback_refused", "Provider callback refused for good"
        RECONCILIATION = "reconciliation", "Provider reconciliation difference"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    player = models.ForeignKey(Player, null=True, blank=True, on_delete=models.PROTECT, related_name="review_items")
    bet = models.ForeignKey(Bet, null=True, blank=True, on_delete=models.PROTECT, related_name="review_items")
    settlement = models.ForeignKey(Settlement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    debt = models.ForeignKey(Debt, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    conflict = models.ForeignKey(IdempotencyConflict, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    summary = models.CharField(max_length=255)
    # Copied from the bet when raised so the queue sorts and filters without joins.
    provider = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    amount = MoneyField(null=True, blank=True, help_text="The money at stake for the player, in `currency`.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="review_status_id")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"


class StaffRequest(models.Model):
    """A staff request to move money: a settlement reversal or a manual balance adjustment.

    Requested by one person with a mandatory reason; above the four-eyes threshold it must be
    approved by a different person with approval rights. Approval applies it (compensating
    entries, audit row, CRM events) in one transaction.
    """

    class Kind(models.TextChoices):
        SETTLEMENT_REVERSAL = "settlement_reversal", "Settlement reversal"
        ADJUSTMENT = "adjustment", "Balance adjustment"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="staff_requests")
    currency = models.CharField(max_length=8)
    settlement = models.ForeignKey(Settlement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = MoneyField(help_text="Adjustment: signed amount. Reversal: the money it moves (for the threshold).")
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    transaction = models.ForeignKey(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("request_reversal", "Can request a settlement reversal"),
            ("approve_reversal", "Can approve a settlement reversal"),
            ("request_adjustment", "Can request a balance adjustment"),
            ("approve_adjustment", "Can approve a balance adjustment"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["settlement"], condition=Q(status="pending"), name="one_pending_request_per_settlement"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


class LedgerCheckRun(models.Model):
    """The outcome of one `check_ledger` run, for the dashboard and the on-call engineer."""

    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ok = models.BooleanField()
    violations = models.JSONField(default=list)
    stats = models.JSONField(default=dict)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]


from wallet.protection_models import ProtectionChange, WalletLimits  # noqa: E402,F401  (models of this app)

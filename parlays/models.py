"""ProphetX parlay book: reference data, line mappings, every message received, quotes,
confirmations, orders, exposure and P&L.

Money here is the parlay book's exposure and profit (Decimal, NUMERIC), not player wallets: the
bettor is ProphetX's customer, we are the counterparty. P&L is append-only (`BookEntry`; a
resettlement adds a correcting entry). Exposure reservations change state (reserved → released or
realised) and keep their history: a re-sized order releases its old rows and reserves new ones.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallet.models import MoneyField


class PxEvent(models.Model):
    """A ProphetX sport event as seeded from /partner/mm; `event_urn` maps it to a UOF event."""

    sport_event_id = models.BigIntegerField(unique=True)
    name = models.CharField(max_length=255, blank=True)
    tournament_id = models.BigIntegerField(null=True, blank=True)
    tournament_name = models.CharField(max_length=255, blank=True)
    sport_name = models.CharField(max_length=100, blank=True)
    scheduled = models.DateTimeField(null=True, blank=True)
    competitors = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=32, blank=True)
    event_urn = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The UOF event (sr:match:…) this is; blank = not mapped, its lines are never quoted.",
    )
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled", "sport_event_id"]
        verbose_name = "ProphetX event"

    def __str__(self) -> str:
        return f"{self.sport_event_id} {self.name}"


class PxLine(models.Model):
    """A selection of a ProphetX market (a `line_id`), as seeded from get_markets."""

    line_id = models.CharField(max_length=64, unique=True)
    sport_event_id = models.BigIntegerField(db_index=True)
    market_id = models.BigIntegerField()
    market_name = models.CharField(max_length=255, blank=True)
    market_type = models.CharField(max_length=64, blank=True)
    outcome_id = models.BigIntegerField()
    outcome_name = models.CharField(max_length=255, blank=True)
    line = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    competitor_id = models.BigIntegerField(null=True, blank=True)
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ProphetX line"

    def __str__(self) -> str:
        return f"{self.line_id} {self.market_name} {self.outcome_name}"


class LineMapping(models.Model):
    """A ProphetX line ↔ the UOF outcome that prices it. An unmapped leg means no quote."""

    class Source(models.TextChoices):
        AUTO = "auto", "Automatic"
        MANUAL = "manual", "Staff"

    line_id = models.CharField(max_length=64, unique=True)
    px_sport_event_id = models.BigIntegerField(null=True, blank=True)
    px_market_id = models.BigIntegerField(null=True, blank=True)
    px_outcome_id = models.BigIntegerField(null=True, blank=True)
    px_line = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    event_urn = models.CharField(max_length=64, db_index=True)
    market_id = models.IntegerField()
    specifiers = models.CharField(max_length=255, blank=True, help_text='Canonical "k=v|k=v", sorted by key.')
    outcome_id = models.CharField(max_length=64)
    correlation_class = models.CharField(
        max_length=64,
        blank=True,
        help_text="Leg class for same-game pricing (e.g. fav_runline, over). Blank: never in a same-game parlay.",
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    enabled = models.BooleanField(default=True)
    registered = models.BooleanField(default=False, help_text="Registered with ProphetX as a supported line.")
    registered_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["event_urn", "market_id", "specifiers", "outcome_id"]

    def __str__(self) -> str:
        return f"{self.line_id} → {self.event_urn} {self.market_id} [{self.specifiers}] {self.outcome_id}"


class CorrelationRule(models.Model):
    """Same-game factor M = P(A∧B)/(P(A)P(B)) for two leg classes; `blocked` pairs are declined."""

    class_a = models.CharField(max_length=64)
    class_b = models.CharField(max_length=64)
    factor = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("1"))
    blocked = models.BooleanField(default=False, help_text="Nested or mutually exclusive legs: never price.")
    note = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["class_a", "class_b"], name="parlays_correlation_pair_unique"),
            models.CheckConstraint(
                condition=Q(class_a__lte=models.F("class_b")), name="parlays_correlation_pair_sorted"
            ),
            models.CheckConstraint(condition=Q(factor__gt=0), name="parlays_correlation_factor_positive"),
        ]

    def save(self, *args, **kwargs):
        if self.class_a > self.class_b:
            self.class_a, self.class_b = self.class_b, self.class_a
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.class_a} + {self.class_b}: {'blocked' if self.blocked else self.factor}"


class InboundMessage(models.Model):
    """Every frame received on the parlay WebSocket, kept as received, with what became of it."""

    class Status(models.TextChoices):
        PROCESSED = "processed", "Processed"
        REJECTED = "rejected", "Rejected (invalid)"
        DUPLICATE = "duplicate", "Duplicate"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed (error)"

    topic = models.CharField(max_length=64, db_index=True)
    channel = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(db_index=True)
    parlay_id = models.CharField(max_length=64, blank=True, db_index=True)
    order_uuid = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    body = models.TextField()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.topic} {self.parlay_id or self.order_uuid} {self.status}"


class QuoteRequest(models.Model):
    """A price.ask.new and what we answered (offers) or why we declined."""

    class Status(models.TextChoices):
        QUOTED = "quoted", "Quoted"
        DECLINED = "declined", "Declined"
        POST_FAILED = "post_failed", "Offer not delivered"
        REFUSED = "refused", "Offer refused by ProphetX"

    parlay_id = models.CharField(max_length=64, unique=True)
    stake = MoneyField(help_text="The bettor's requested stake.")
    callback_url = models.URLField(max_length=2048)
    created_at_ns = models.BigIntegerField()
    received_at = models.DateTimeField(db_index=True)
    leg_count = models.PositiveSmallIntegerField()
    same_game = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    decline_reason = models.CharField(max_length=64, blank=True, db_index=True)
    decline_detail = models.CharField(max_length=255, blank=True)
    fair_probability = models.DecimalField(max_digits=20, decimal_places=18, null=True, blank=True)
    correlation_factor = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    post_status = models.IntegerField(null=True, blank=True)
    post_response = models.TextField(blank=True)
    latency_us = models.IntegerField(null=True, blank=True, help_text="Frame received → offer POST sent.")
    creator_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.parlay_id} {self.status}"


class QuoteLeg(models.Model):
    request = models.ForeignKey(QuoteRequest, on_delete=models.CASCADE, related_name="legs")
    position = models.PositiveSmallIntegerField()
    line_id = models.CharField(max_length=64)
    sport_event_id = models.BigIntegerField()
    px_market_id = models.BigIntegerField()
    px_outcome_id = models.BigIntegerField()
    px_line = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    event_urn = models.CharField(max_length=64, blank=True)
    market_id = models.IntegerField(null=True, blank=True)
    specifiers = models.CharField(max_length=255, blank=True)
    outcome_id = models.CharField(max_length=64, blank=True)
    correlation_class = models.CharField(max_length=64, blank=True)
    book_odds = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    fair_probability = models.DecimalField(max_digits=20, decimal_places=18, null=True, blank=True)
    odds_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "position"]
        constraints = [models.UniqueConstraint(fields=["request", "position"], name="parlays_quoteleg_position")]

    @property
    def outcome_key(self) -> str:
        return f"{self.event_urn}/{self.market_id}/{self.specifiers}/{self.outcome_id}"


class QuoteOffer(models.Model):
    request = models.ForeignKey(QuoteRequest, on_delete=models.CASCADE, related_name="offers")
    rung = models.PositiveSmallIntegerField()
    odds = models.IntegerField(help_text="Bettor-side American.")
    max_risk = MoneyField()
    valid_until_ns = models.BigIntegerField()
    estimated_price = models.JSONField(help_text="Bettor-side American odds per leg, in leg order.")
    margin_per_leg = models.DecimalField(max_digits=8, decimal_places=6)

    class Meta:
        ordering = ["request", "max_risk"]


class Confirmation(models.Model):
    """A price.confirm.new and our answer, kept as sent so a repeat gets the same answer."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"

    class Delivery(models.TextChoices):
        PENDING = "pending", "Not sent yet"
        DELIVERED = "delivered", "Delivered"
        REFUSED = "refused", "Refused by ProphetX"
        FAILED = "failed", "Delivery failed (ambiguous)"

    order_uuid = models.CharField(max_length=64, unique=True)
    parlay_id = models.CharField(max_length=64, db_index=True)
    request = models.ForeignKey(
        QuoteRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="confirmations"
    )
    callback_url = models.URLField(max_length=2048)
    sp_odds = models.IntegerField(help_text="SP-side American as received.")
    stake = MoneyField(null=True, blank=True, help_text="SP risk requested.")
    received_at = models.DateTimeField()
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.CharField(max_length=64, blank=True, db_index=True)
    detail = models.CharField(max_length=255, blank=True)
    confirmed_stake = MoneyField(null=True, blank=True)
    reprice_odds = models.IntegerField(null=True, blank=True, help_text="Our bettor-side price at confirm time.")
    response_body = models.TextField()
    delivery = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    post_status = models.IntegerField(null=True, blank=True)
    post_response = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.order_uuid} {self.action}"


class Order(models.Model):
    """An order we accepted (or that ProphetX says we hold), followed to settlement."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted (awaiting finalize)"
        FINALIZED = "finalized", "Finalized (live)"
        SETTLED = "settled", "Settled"
        REFUNDED = "refunded", "Refunded"
        NOT_BOOKED = "not_booked", "Not booked by ProphetX"

    order_uuid = models.CharField(max_length=64, unique=True)
    parlay_id = models.CharField(max_length=64, db_index=True)
    request = models.ForeignKey(QuoteRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    currency = models.CharField(max_length=8, default="USD")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    bettor_odds = models.IntegerField(help_text="Bettor-side American.")
    risk = MoneyField(help_text="Our liability: what we pay if the bettor wins.")
    bettor_stake = MoneyField(help_text="What we win if the bettor loses.")
    settlement_status = models.CharField(max_length=8, blank=True)
    px_profit = MoneyField(null=True, blank=True, help_text="profit as ProphetX sent it.")
    pnl = MoneyField(default=Decimal("0"), help_text="Realised P&L: the sum of this order's book entries.")
    accepted_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    needs_review = models.BooleanField(default=False, db_index=True)
    review_note = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.order_uuid} {self.status}"


class ExposureReservation(models.Model):
    """One order's liability counted against one limit (total, an event, an outcome)."""

    class Scope(models.TextChoices):
        TOTAL = "total", "Total"
        EVENT = "event", "Event"
        OUTCOME = "outcome", "Outcome"

    class State(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        RELEASED = "released", "Released"
        REALISED = "realised", "Realised"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="reservations")
    scope = models.CharField(max_length=8, choices=Scope.choices)
    key = models.CharField(max_length=400)
    amount = MoneyField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.RESERVED)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "scope", "key"], name="parlays_exposure_open")]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="parlays_exposure_amount_positive")]


class BookEntry(models.Model):
    """Append-only P&L: one row per realised result or correction; an order's P&L is their sum."""

    class Kind(models.TextChoices):
        SETTLEMENT = "settlement", "Settlement"
        RESETTLEMENT = "resettlement", "Resettlement correction"
        REFUND = "refund", "Refund reversal"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="book_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = MoneyField(help_text="Positive: we won.")
    currency = models.CharField(max_length=8, default="USD")
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "book entries"


class MatchedOrder(models.Model):
    """order.matched broadcasts: the market's last matched price and size (no money for us)."""

    parlay_id = models.CharField(max_length=64, db_index=True)
    matched_odds = models.IntegerField(help_text="As received (sign unreliable).")
    bettor_odds = models.IntegerField()
    matched_stake = MoneyField()
    matched_at_ns = models.BigIntegerField(null=True, blank=True)
    market_lines = models.JSONField(default=list)
    received_at = models.DateTimeField()
    ours = models.BooleanField(default=False, help_text="We quoted this parlay.")

    class Meta:
        ordering = ["-id"]


class ParlaySettlement(models.Model):
    parlay_id = models.CharField(max_length=64, unique=True)
    settlement_status = models.CharField(max_length=8)
    profit = MoneyField(null=True, blank=True)
    settled_at_ns = models.BigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()
    consistent = models.BooleanField(default=True, help_text="Agrees with the sum of our orders' P&L.")
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-id"]


class ReconciliationIssue(models.Model):
    """A difference between our book and ProphetX's, put in front of staff."""

    kind = models.CharField(max_length=32, db_index=True)
    order_uuid = models.CharField(max_length=64, blank=True, db_index=True)
    parlay_id = models.CharField(max_length=64, blank=True)
    detail = models.TextField()
    auto_resolved = models.BooleanField(default=False)
    resolved = models.BooleanField(default=False, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]


class BookLock(models.Model):
    """One row per currency, locked FOR UPDATE by every confirmation: exposure checks and
    reservations are serialised, so two confirms can never both fit under the same headroom."""

    currency = models.CharField(max_length=8, unique=True)


class ListenerState(models.Model):
    """The WebSocket listener's health, flushed every few seconds (health_check frames are counted
    here rather than stored one by one)."""

    name = models.CharField(max_length=32, unique=True, default="default")
    connected = models.BooleanField(default=False)
    socket_id = models.CharField(max_length=64, blank=True)
    channels = models.JSONField(default=list, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)
    last_health_check_at = models.DateTimeField(null=True, blank=True)
    last_confirm_at = models.DateTimeField(null=True, blank=True)
    health_checks = models.BigIntegerField(default=0)
    connections = models.IntegerField(default=0)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} {'connected' if self.connected else 'down'}"


class ExposureLimit(models.Model):
    """A limit Risk set on the book's liability, replacing the environment's default.

    A blank `key` replaces the scope's default (PROPHETX_MAX_EXPOSURE_*); a key names one event
    (its UOF urn) or one outcome (`urn/market/specifiers/outcome`, as reservations name it) and
    overrides the default for it alone. Amounts are in the book's currency (PROPHETX_CURRENCY).
    Rows change only through `parlays.services.limits`, which audits every change."""

    Scope = ExposureReservation.Scope

    scope = models.CharField(max_length=8, choices=Scope.choices)
    key = models.CharField(
        max_length=400, blank=True, help_text="Blank: the scope's default. Else an event urn or an outcome key."
    )
    amount = MoneyField()
    currency = models.CharField(max_length=8)
    reason = models.TextField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["scope", "key"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "scope", "key"], name="parlays_exposure_limit_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="parlays_exposure_limit_amount_positive"),
            models.CheckConstraint(
                condition=~Q(scope="total") | Q(key=""), name="parlays_exposure_limit_total_has_no_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.key or '(default)'}: {self.amount} {self.currency}"

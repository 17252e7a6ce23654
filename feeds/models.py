"""Feed state: producers and their recoveries, sport events, markets with odds, settlements,
cancels, their history, the raw-message journal and the cached market descriptions.

Timestamps from the feed are kept as the producer's ms-epoch integers (`*_ts`): they order
messages (older than applied = ignored), and converting them would lose nothing but invite
mistakes. Odds are decimal strings inside Market.outcomes (one JSON document per market line,
written with the market in one row: the feed rewrites a whole market at a time, and one row per
outcome would triple the writes on the hot path; see docs/uof.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import models
from django.db.models import Q

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_datetime(ms: int | None) -> datetime | None:
    """Producer ms-epoch timestamp -> aware UTC datetime (exact to the millisecond)."""
    if ms is None:
        return None
    return EPOCH + timedelta(milliseconds=ms)


class Producer(models.Model):
    class Status(models.TextChoices):
        UP = "up", "Up"
        DOWN = "down", "Down"
        RECOVERING = "recovering", "Recovering"

    id = models.PositiveSmallIntegerField(primary_key=True, help_text="UOF product id (1 LO, 3 Ctrl…).")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=128, blank=True)
    api_url = models.CharField(max_length=300, blank=True, help_text="Base for recovery requests (producers.xml).")
    active = models.BooleanField(default=True, help_text="producers.xml says we are entitled to it.")
    scope = models.CharField(max_length=64, blank=True)
    recovery_window_minutes = models.PositiveIntegerField(default=4320)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DOWN, db_index=True)
    status_reason = models.CharField(max_length=200, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    subscribed = models.BooleanField(default=False, help_text="From the last alive.")
    last_alive_at = models.DateTimeField(null=True, blank=True, help_text="When we received the last alive.")
    last_alive_ts = models.BigIntegerField(null=True, blank=True, help_text="Producer timestamp of the last alive.")
    # The `after` of the next recovery: the timestamp of the last alive received while up.
    # Persisted so a restart recovers from where we were, not from scratch.
    recover_after_ts = models.BigIntegerField(null=True, blank=True)
    recovery = models.ForeignKey(
        "RecoveryRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="In flight."
    )
    # Producer clock: the last alive before the recovery that brought the producer up. Every line
    # the producer holds was re-sent by that recovery, so a line whose odds are older than this
    # missed it (it is no longer offered): its odds are not current. See feeds.selectors.
    up_since_ts = models.BigIntegerField(
        null=True, blank=True, help_text="Start of the current uninterrupted period (producer clock)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class RecoveryRequest(models.Model):
    """Every recovery request we made. Its id is the request_id sent to Betradar, and the rows
    are what the rate limits are counted on, so throttling survives restarts."""

    class Kind(models.TextChoices):
        PRODUCER = "producer", "Producer"
        EVENT_ODDS = "event_odds", "Event odds"
        EVENT_STATEFUL = "event_stateful", "Event stateful messages"

    class Status(models.TextChoices):
        PENDING = "pending", "Being sent"
        ACCEPTED = "accepted", "Accepted"
        FAILED = "failed", "Failed"
        COMPLETED = "completed", "Completed"
        ABANDONED = "abandoned", "Abandoned"

    producer = models.ForeignKey(Producer, on_delete=models.PROTECT, related_name="recoveries")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRODUCER)
    event_urn = models.CharField(max_length=64, blank=True)
    after_ts = models.BigIntegerField(null=True, blank=True, help_text="None: full recovery.")
    node_id = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    response_code = models.CharField(max_length=32, blank=True)
    detail = models.TextField(blank=True)
    requested_at = models.DateTimeField(db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True, help_text="Last message carrying this request_id.")
    completed_at = models.DateTimeField(null=True, blank=True)
    # Partitioned consumers that applied this recovery's snapshot_complete: the producer is up
    # once every running consumer has (each has then applied its share of the recovery).
    snapshot_by = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"recovery {self.pk} ({self.producer_id}, {self.status})"


class SportEvent(models.Model):
    urn = models.CharField(max_length=64, unique=True)
    sport_id = models.IntegerField(null=True, blank=True, db_index=True)
    sport_name = models.CharField(max_length=64, blank=True)
    category_name = models.CharField(max_length=128, blank=True)
    tournament_urn = models.CharField(max_length=64, blank=True)
    tournament_name = models.CharField(max_length=200, blank=True)
    season_urn = models.CharField(max_length=64, blank=True)
    season_name = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=300, blank=True, help_text="'home vs. away' from the fixture.")
    competitors = models.JSONField(default=list, blank=True, help_text="[{id, name, qualifier, abbreviation}]")
    scheduled = models.DateTimeField(null=True, blank=True, db_index=True)
    start_time_tbd = models.BooleanField(default=False)
    fixture_status = models.CharField(max_length=32, blank=True)
    fixture_needed = models.BooleanField(default=True, db_index=True, help_text="Fetch (again) from the REST API.")
    fixture_fetched_at = models.DateTimeField(null=True, blank=True)
    fixture_error = models.CharField(max_length=300, blank=True)
    fixture_change_ts = models.BigIntegerField(null=True, blank=True)
    fixture_change_type = models.SmallIntegerField(null=True, blank=True)

    # From odds_change/sport_event_status.
    status = models.SmallIntegerField(
        null=True, blank=True, help_text="0 not started, 1 live, 2 suspended, 3 ended, 4 closed…"
    )
    match_status = models.IntegerField(null=True, blank=True)
    home_score = models.CharField(max_length=16, blank=True)
    away_score = models.CharField(max_length=16, blank=True)
    status_data = models.JSONField(default=dict, blank=True)
    status_ts = models.BigIntegerField(default=0)
    betting_status = models.SmallIntegerField(null=True, blank=True)
    betstop_reason = models.SmallIntegerField(null=True, blank=True)
    odds_ts = models.BigIntegerField(default=0, help_text="Newest odds_change <odds> element applied.")
    # Random per feed-state write: a consumer whose cached lines of this event carry the value it
    # wrote last knows nobody else changed them (feeds.services.store.MarketCache).
    writer_version = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.urn} {self.name}".strip()


class Market(models.Model):
    """One market line: (event, market id, canonical specifiers). Upserted, never deleted."""

    # No separate index on event: the unique (event, market_id, specifiers) index serves it.
    event = models.ForeignKey(SportEvent, on_delete=models.CASCADE, related_name="markets", db_index=False)
    market_id = models.PositiveIntegerField()
    specifiers = models.CharField(max_length=255, blank=True)
    extended_specifiers = models.CharField(max_length=255, blank=True)
    status = models.SmallIntegerField(
        help_text="1 active, 0 inactive, -1 suspended, -2 handed over, -3 settled, -4 cancelled"
    )
    producer = models.ForeignKey(Producer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # {outcome id: {"odds": "1.85"|None, "prob": "0.48"|None, "active": bool, "team": int|None}}
    outcomes = models.JSONField(default=dict, blank=True)
    favourite = models.BooleanField(default=False)
    cashout_status = models.SmallIntegerField(null=True, blank=True)
    next_betstop = models.BigIntegerField(null=True, blank=True)
    odds_ts = models.BigIntegerField(default=0, help_text="Timestamp of the message that produced the odds held.")
    last_ts = models.BigIntegerField(
        default=0, help_text="Newest odds_change/bet_stop applied: older ones are ignored."
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "market_id", "specifiers"], name="feeds_market_line_unique"),
        ]
        # Deliberately no index on status: it changes on most updates, and leaving it unindexed
        # lets PostgreSQL update lines in place (HOT, with the table's fillfactor) without
        # touching any index. See docs/benchmarks/feeds.md.
        indexes = [models.Index(fields=["market_id"])]

    def __str__(self) -> str:
        return f"{self.event_id}/{self.market_id}/{self.specifiers}"

    @property
    def odds_updated_at(self) -> datetime | None:
        return ms_to_datetime(self.odds_ts) if self.odds_ts else None


class MarketSettlement(models.Model):
    """A producer's current settlement of a market line (settlements are kept per producer: the
    live and prematch producers can settle the same line differently, e.g. correct score)."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="settlements")
    producer = models.ForeignKey(Producer, on_delete=models.PROTECT, related_name="+")
    certainty = models.SmallIntegerField(null=True, blank=True, help_text="1 live scouted, 2 confirmed")
    void_reason = models.SmallIntegerField(null=True, blank=True)
    # {outcome id: {"result": 1|0|-1, "void_factor": "0.5"|None, "dead_heat_factor": "0.5"|None}};
    # empty after a full rollback (the row stays: its message_ts keeps late settlements out).
    outcomes = models.JSONField(default=dict, blank=True)
    message_ts = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["market", "producer"], name="feeds_settlement_per_producer")]


class BetCancel(models.Model):
    """A cancel window on a market line (bets placed in it are void), matched by rollbacks on
    (market, producer, window). Rows are never deleted: a rollback clears `active`."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="cancels")
    producer = models.ForeignKey(Producer, on_delete=models.PROTECT, related_name="+")
    window_key = models.CharField(max_length=48, help_text="'<start ms>-<end ms>', empty parts when absent")
    start_ts = models.BigIntegerField(null=True, blank=True)
    end_ts = models.BigIntegerField(null=True, blank=True)
    void_reason = models.SmallIntegerField(null=True, blank=True)
    superceded_by = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True, db_index=True)
    cancel_ts = models.BigIntegerField(null=True, blank=True)
    rollback_ts = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "producer", "window_key"], name="feeds_cancel_window_unique")
        ]

    @property
    def start_time(self) -> datetime | None:
        return ms_to_datetime(self.start_ts)

    @property
    def end_time(self) -> datetime | None:
        return ms_to_datetime(self.end_ts)


class MarketChange(models.Model):
    """Append-only history of settlements, cancels and their rollbacks, with the producer's
    state before and after each change."""

    class Kind(models.TextChoices):
        SETTLEMENT = "settlement", "Settlement"
        SETTLEMENT_ROLLBACK = "settlement_rollback", "Settlement rollback"
        CANCEL = "cancel", "Cancel"
        CANCEL_ROLLBACK = "cancel_rollback", "Cancel rollback"

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="changes")
    producer = models.ForeignKey(Producer, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    message_ts = models.BigIntegerField()
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    journal = models.ForeignKey("FeedMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]


class FeedMessage(models.Model):
    """The raw-message journal: every message received, what became of it, and why."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        DUPLICATE = "duplicate", "Duplicate (no change)"
        STALE = "stale", "Older than applied state"
        IGNORED = "ignored", "Ignored"
        REJECTED = "rejected", "Rejected (malformed)"
        FAILED = "failed", "Failed (error while applying)"

    class Source(models.TextChoices):
        AMQP = "amqp", "AMQP"
        REPLAY = "replay", "Replay"
        FILE = "file", "File"
        SIMULATOR = "simulator", "Simulator (no broker)"

    routing_key = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=32, blank=True)
    product = models.SmallIntegerField(null=True, blank=True)
    event_urn = models.CharField(max_length=64, blank=True)
    message_ts = models.BigIntegerField(null=True, blank=True)
    request_id = models.BigIntegerField(null=True, blank=True)
    body = models.BinaryField(blank=True)
    body_size = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.AMQP)
    received_at = models.DateTimeField(db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # Indexed only where it is not 'applied' (the partial index below): what staff look for.
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["outcome", "id"], name="feeds_journal_outcome_idx", condition=~Q(outcome="applied"))
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind or '?'} {self.outcome}"


class FeedConsumer(models.Model):
    """A running uof_consume process and the share of the feed it takes. While one that should
    run is silent, part of the feed is missing: producers stay down and no recovery is asked
    (feeds.services.producers). A consumer stopped on purpose deletes its row."""

    name = models.CharField(max_length=100, unique=True)
    keys = models.TextField(blank=True, help_text="Binding keys, space separated.")
    share = models.CharField(max_length=16, blank=True, help_text="'k/N': events hashed to share k of N.")
    host = models.CharField(max_length=200, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(help_text="Last heartbeat.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CodeDescription(models.Model):
    """UOF code lists (match status, betting status, bet stop and void reasons) from the REST API."""

    kind = models.CharField(max_length=32, help_text="match_status, betting_status, betstop_reasons, void_reasons")
    code = models.IntegerField()
    lang = models.CharField(max_length=8, default="en")
    description = models.CharField(max_length=300)
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "code", "lang"], name="feeds_code_description_unique")]
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.kind} {self.code} {self.description}"


class MarketDescription(models.Model):
    market_id = models.PositiveIntegerField()
    variant = models.CharField(max_length=128, blank=True, help_text="'' for the market's base description")
    lang = models.CharField(max_length=8, default="en")
    name = models.CharField(max_length=300)
    groups = models.CharField(max_length=255, blank=True, help_text="'all|score|regular_play'")
    outcomes = models.JSONField(default=list, blank=True, help_text="[[id, name template], …]")
    specifiers = models.JSONField(default=list, blank=True, help_text="[[name, type], …]")
    outcome_type = models.CharField(max_length=32, blank=True)
    includes_outcomes_of_type = models.CharField(max_length=32, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market_id", "variant", "lang"], name="feeds_market_description_unique")
        ]
        ordering = ["market_id", "variant"]

    def __str__(self) -> str:
        return f"{self.market_id} {self.name}" + (f" [{self.variant}]" if self.variant else "")


class VariantDescription(models.Model):
    variant = models.CharField(max_length=128)
    lang = models.CharField(max_length=8, default="en")
    outcomes = models.JSONField(default=list, blank=True, help_text="[[id, name], …]")
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["variant", "lang"], name="feeds_variant_description_unique")]

"""Back-office views of the feed. Feed state is written only by the feed: everything here is
read-only, and the few actions (mark down, request recovery, re-fetch fixture, replay) call
services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config.admin_base import ReadOnlyAdmin, local_time
from config.admin_base import ReadOnlyInline as BaseReadOnlyInline
from feeds import conf
from feeds.models import (
    BetCancel,
    FeedMessage,
    Market,
    MarketChange,
    MarketDescription,
    MarketSettlement,
    Producer,
    RecoveryRequest,
    SportEvent,
    VariantDescription,
    ms_to_datetime,
)
from feeds.protocol.errors import UofError
from feeds.protocol.messages import MARKET_STATUSES, MESSAGE_TYPES
from feeds.protocol.names import render_name
from feeds.protocol.specifiers import parse_specifiers
from feeds.selectors import EVENT_STATUS_NAMES
from feeds.services import client_get, producers
from feeds.services.descriptions import NameContext, NameResolver
from feeds.services.ingest import Incoming, apply_batch


class ReadOnlyInline(BaseReadOnlyInline):
    max_num = 0


class OperatedAdmin(ReadOnlyAdmin):
    """Read-only pages whose few actions (recovery, re-fetch, replay) are for users who may
    change the model (Admin), not for every role that reads the feed."""

    def has_operate_permission(self, request: HttpRequest) -> bool:
        meta = self.model._meta
        return request.user.has_perm(f"{meta.app_label}.change_{meta.model_name}")


# UOF sport event statuses, for staff: the read API's names (feeds.selectors_state).
EVENT_STATUSES = EVENT_STATUS_NAMES


def _status_label(status: int | None) -> str:
    return MARKET_STATUSES.get(status, f"status {status}") if status is not None else "-"


# Producer timestamps (ms since the epoch) on a market's page, shown as local times instead.
MARKET_TIMES = {"odds_ts": "odds_time", "last_ts": "last_message_time", "next_betstop": "next_betstop_time"}
EVENT_TIMES = {"status_ts": "status_time", "fixture_change_ts": "fixture_change_time", "odds_ts": "odds_time"}


def _ts(ms: int | None) -> str:
    """A producer timestamp (ms since the epoch) as a local time with the zone."""
    return local_time(ms_to_datetime(ms)) if ms else "-"


class CodeFilter(admin.SimpleListFilter):
    """A filter on a small-integer code that shows its label (active, live…) instead of the code."""

    labels: dict[int, str] = {}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(code), label) for code, label in self.labels.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(**{self.parameter_name: int(value)})


class MarketStatusFilter(CodeFilter):
    title = "status"
    parameter_name = "status"
    labels = MARKET_STATUSES


class EventStatusFilter(CodeFilter):
    title = "status"
    parameter_name = "status"
    labels = EVENT_STATUSES


def event_name(event: SportEvent) -> str:
    """The fixture's name; until it is fetched, the competitors or the URN (never blank)."""
    if event.name:
        return event.name
    names = [c.get("name") for c in event.competitors or [] if c.get("name")]
    if len(names) >= 2:
        return f"{names[0]} vs. {names[1]}"
    return f"{event.urn} (fixture pending)"


def _ctx(event: SportEvent) -> NameContext:
    comps = {c.get("qualifier"): c.get("name") for c in event.competitors or []}
    return NameContext(competitor1=comps.get("home"), competitor2=comps.get("away"), event_name=event.name or None)


# --- producers --------------------------------------------------------------------------------------


class RecoveryInline(ReadOnlyInline):
    model = RecoveryRequest
    fk_name = "producer"
    fields = ["id", "kind", "event_urn", "after_ts", "status", "response_code", "requested_at", "completed_at"]
    readonly_fields = fields
    ordering = ["-id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).order_by("-id")


@admin.register(Producer)
class ProducerAdmin(OperatedAdmin):
    list_display = ["id", "producer_name", "health", "status", "subscribed", "alive_age", "status_reason", "recovery"]
    list_filter = ["status", "active", "subscribed"]
    search_fields = ["name", "description"]
    readonly_fields = ["id", "producer_name", "health", "alive_age"] + [
        {"last_alive_ts": "last_alive_time", "recover_after_ts": "after_time"}.get(f.name, f.name)
        for f in Producer._meta.fields
        if f.name not in ("id", "name")
    ]
    fields = readonly_fields
    inlines = [RecoveryInline]
    actions = ["mark_down", "request_recovery"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("recovery")

    @staticmethod
    def in_use(obj: Producer) -> bool:
        """Entitled and heard from: a producer we never received is not used, not down."""
        return obj.active and (obj.subscribed or obj.last_alive_at is not None)

    @admin.display(description="name", ordering="name")
    def producer_name(self, obj: Producer) -> str:
        if obj.name == f"producer {obj.pk}":  # seen in a message, unknown to producers.xml
            return format_html('<span class="tl-muted">unknown (id {}, not in producers.xml)</span>', obj.pk)
        return format_html("{}{}", obj.name, f" — {obj.description}" if obj.description else "")

    @admin.display(description="usable for pricing")
    def health(self, obj: Producer) -> str:
        if not self.in_use(obj):
            return mark_safe('<span class="tl-muted">not in use</span>')
        up = producers.producer_is_up(obj)
        return format_html('<span class="{}">{}</span>', "tl-ok" if up else "tl-bad", "yes" if up else "no")

    @admin.display(description="last alive", ordering="last_alive_at")
    def alive_age(self, obj: Producer) -> str:
        if obj.last_alive_at is None:
            return mark_safe('<span class="tl-muted">never</span>')
        age = (timezone.now() - obj.last_alive_at).total_seconds()
        return format_html('<span title="{}">{} s ago</span>', local_time(obj.last_alive_at), f"{age:.0f}")

    @admin.display(description="last alive (producer time)")
    def last_alive_time(self, obj: Producer) -> str:
        return _ts(obj.last_alive_ts)

    @admin.display(description="next recovery from")
    def after_time(self, obj: Producer) -> str:
        return _ts(obj.recover_after_ts) if obj.recover_after_ts else "full recovery"

    @admin.action(description="Mark down (a recovery follows once alives flow)", permissions=["operate"])
    def mark_down(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = producers.producers_mark_down(
            f"marked down by {request.user}", ids=list(queryset.values_list("id", flat=True))
        )
        self.message_user(request, f"{changed} producer(s) marked down")

    @admin.action(description="Request recovery now (if down, alive and within rate limits)", permissions=["operate"])
    def request_recovery(self, request: HttpRequest, queryset: QuerySet) -> None:
        client = client_get()
        for producer in queryset:
            made, why = producers.recovery_request(client, producer.pk)
            if made is not None:
                self.message_user(request, f"{producer}: recovery {made.pk} {made.status}")
            else:
                self.message_user(request, f"{producer}: {why}", level=messages.WARNING)


@admin.register(RecoveryRequest)
class RecoveryRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "producer",
        "kind",
        "event_urn",
        "after_ts",
        "status",
        "response_code",
        "requested_at",
        "completed_at",
    ]
    list_filter = ["status", "kind", "producer"]
    search_fields = ["event_urn", "detail"]
    date_hierarchy = "requested_at"


# --- events and markets ---------------------------------------------------------------------------


@admin.register(SportEvent)
class SportEventAdmin(OperatedAdmin):
    list_display = ["urn", "display_name", "sport_name", "tournament_name", "scheduled", "status_label", "score"]
    list_filter = [EventStatusFilter, "sport_name", "fixture_needed"]
    show_full_result_count = False
    search_fields = ["urn", "name", "tournament_name"]
    date_hierarchy = "scheduled"
    # What staff look for first (name, state, markets), then the fixture's details.
    readonly_fields = ["urn", "display_name", "status_label", "scheduled", "score", "lines"] + [
        EVENT_TIMES.get(f.name, f.name)
        for f in SportEvent._meta.fields
        if f.name not in ("id", "urn", "name", "status", "scheduled", "home_score", "away_score")
    ]
    fields = readonly_fields
    actions = ["refetch_fixture", "recover_odds"]

    @admin.display(description="status time")
    def status_time(self, obj: SportEvent) -> str:
        return _ts(obj.status_ts)

    @admin.display(description="fixture change time")
    def fixture_change_time(self, obj: SportEvent) -> str:
        return _ts(obj.fixture_change_ts)

    @admin.display(description="odds time")
    def odds_time(self, obj: SportEvent) -> str:
        return _ts(obj.odds_ts)

    @admin.display(description="name", ordering="name")
    def display_name(self, obj: SportEvent) -> str:
        return event_name(obj)

    @admin.display(description="status", ordering="status")
    def status_label(self, obj: SportEvent) -> str:
        return EVENT_STATUSES.get(obj.status, "-") if obj.status is not None else "-"

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        # An event shown without a name gets its fixture fetched by the next fixtures run.
        nameless = [e.pk for e in changelist.result_list if not e.name and not e.fixture_needed]
        if nameless:
            SportEvent.objects.filter(pk__in=nameless).update(fixture_needed=True)
        return changelist

    @admin.display(description="score")
    def score(self, obj: SportEvent) -> str:
        return f"{obj.home_score}:{obj.away_score}" if obj.home_score or obj.away_score else ""

    @admin.display(description="markets")
    def lines(self, obj: SportEvent) -> str:
        markets = list(obj.markets.order_by("market_id", "specifiers")[:500])
        names = NameResolver({m.market_id for m in markets})
        ctx = _ctx(obj)
        rows = []
        for mk in markets:
            url = reverse("admin:feeds_market_change", args=[mk.pk])
            odds = ", ".join(
                f"{names.outcome_name(mk.market_id, mk.specifiers, oid, ctx)} {s.get('odds') or '-'}{'' if s.get('active') else ' (off)'}"
                for oid, s in mk.outcomes.items()
            )
            rows.append((url, names.market_name(mk.market_id, mk.specifiers, ctx), _status_label(mk.status), odds))
        return format_html(
            '<table class="tl-table"><thead><tr><th>market</th><th>status</th><th>outcomes and odds</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>', rows),
        )

    @admin.action(description="Re-fetch fixture from the API", permissions=["operate"])
    def refetch_fixture(self, request: HttpRequest, queryset: QuerySet) -> None:
        updated = queryset.update(fixture_needed=True)
        self.message_user(request, f"{updated} event(s) will be re-fetched by the next fixtures run")

    @admin.action(description="Recover this event's odds (event recovery request)", permissions=["operate"])
    def recover_odds(self, request: HttpRequest, queryset: QuerySet) -> None:
        client = client_get()
        if client is None:
            self.message_user(request, "UOF_API_URL is not set", level=messages.ERROR)
            return
        for event in queryset:
            producer_id = event.markets.exclude(producer=None).values_list("producer_id", flat=True).first()
            if producer_id is None:
                self.message_user(request, f"{event.urn}: no producer has priced it", level=messages.WARNING)
                continue
            try:
                made = producers.event_recovery_request(client, producer_id, event.urn)
                self.message_user(request, f"{event.urn}: request {made.pk} {made.status}")
            except UofError as exc:
                self.message_user(request, f"{event.urn}: {exc}", level=messages.ERROR)


class SettlementInline(ReadOnlyInline):
    model = MarketSettlement
    fields = ["producer", "certainty", "void_reason", "outcomes", "message_ts", "updated_at"]
    readonly_fields = fields
    show_change_link = False


class CancelInline(ReadOnlyInline):
    model = BetCancel
    fields = [
        "producer",
        "start_time",
        "end_time",
        "void_reason",
        "superceded_by",
        "active",
        "cancel_ts",
        "rollback_ts",
    ]
    readonly_fields = fields
    show_change_link = False


class ChangeInline(ReadOnlyInline):
    model = MarketChange
    fields = ["created_at", "producer", "kind", "message_ts", "before", "after", "journal"]
    readonly_fields = fields
    show_change_link = False


@admin.register(Market)
class MarketAdmin(ReadOnlyAdmin):
    list_display = ["market_event", "name", "status_label", "odds", "producer", "odds_time"]
    list_filter = [MarketStatusFilter, "producer"]
    search_fields = ["event__urn", "event__name", "=market_id"]
    list_select_related = ["event", "producer"]
    show_full_result_count = False
    readonly_fields = [
        MARKET_TIMES.get(f.name, f.name) for f in Market._meta.fields if f.name not in ("outcomes", "status")
    ] + ["status_label", "name", "outcome_table"]
    fields = readonly_fields
    inlines = [SettlementInline, CancelInline, ChangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        template = MarketDescription.objects.filter(market_id=OuterRef("market_id"), variant="", lang=conf.LANG).values(
            "name"
        )[:1]
        return super().get_queryset(request).annotate(name_template=Subquery(template))

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        # One description lookup for the page, shared by every row's outcome names.
        names = NameResolver({m.market_id for m in changelist.result_list})
        for market in changelist.result_list:
            market._names = names
        return changelist

    @admin.display(description="event", ordering="event__name")
    def market_event(self, obj: Market) -> str:
        return event_name(obj.event)

    @admin.display(description="odds time", ordering="odds_ts")
    def odds_time(self, obj: Market) -> str:
        return _ts(obj.odds_ts)

    @admin.display(description="last message")
    def last_message_time(self, obj: Market) -> str:
        return _ts(obj.last_ts)

    @admin.display(description="next bet stop")
    def next_betstop_time(self, obj: Market) -> str:
        return _ts(obj.next_betstop)

    @admin.display(description="name")
    def name(self, obj: Market) -> str:
        template = getattr(obj, "name_template", None)
        if not template:
            return f"market {obj.market_id}"
        ctx = _ctx(obj.event)
        return render_name(
            template, parse_specifiers(obj.specifiers), competitor1=ctx.competitor1, competitor2=ctx.competitor2
        )

    @admin.display(description="status", ordering="status")
    def status_label(self, obj: Market) -> str:
        return _status_label(obj.status)

    @admin.display(description="odds")
    def odds(self, obj: Market) -> str:
        names = getattr(obj, "_names", None) or NameResolver([obj.market_id])
        ctx = _ctx(obj.event)
        shown = [
            (names.outcome_name(obj.market_id, obj.specifiers, oid, ctx), s.get("odds") or "-")
            for oid, s in obj.outcomes.items()
            if s.get("active")
        ]
        if not shown:
            return "-"
        return format_html_join(mark_safe("<br>"), '<span class="tl-nowrap">{} <b>{}</b></span>', shown)

    @admin.display(description="outcomes")
    def outcome_table(self, obj: Market) -> str:
        names = NameResolver([obj.market_id])
        ctx = _ctx(obj.event)
        rows = [
            (
                oid,
                names.outcome_name(obj.market_id, obj.specifiers, oid, ctx),
                s.get("odds") or "-",
                s.get("prob") or "",
                "yes" if s.get("active") else "no",
            )
            for oid, s in obj.outcomes.items()
        ]
        return format_html(
            '<table class="tl-table"><thead><tr><th>id</th><th>name</th><th>odds</th><th>probability</th>'
            "<th>active</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )


@admin.register(MarketChange)
class MarketChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "market", "producer", "kind", "message_ts", "journal"]
    list_filter = ["kind", "producer"]
    search_fields = ["market__event__urn"]
    list_select_related = ["market", "producer"]


@admin.register(BetCancel)
class BetCancelAdmin(ReadOnlyAdmin):
    list_display = ["id", "market", "producer", "start_time", "end_time", "void_reason", "active", "updated_at"]
    list_filter = ["active", "producer", "void_reason"]
    search_fields = ["market__event__urn"]
    list_select_related = ["market", "producer"]


# --- journal -------------------------------------------------------------------------------------


class KindFilter(admin.SimpleListFilter):
    """Fixed choices: a DISTINCT over the journal (millions of rows) would be slow."""

    title = "message type"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(k, k) for k in MESSAGE_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(kind=value)


class ProductFilter(admin.SimpleListFilter):
    title = "producer"
    parameter_name = "product"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(p.pk), str(p)) for p in Producer.objects.all()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(product=int(value))


@admin.register(FeedMessage)
class FeedMessageAdmin(OperatedAdmin):
    list_display = [
        "id",
        "received_at",
        "kind",
        "product",
        "event_urn",
        "outcome",
        "short_reason",
        "source",
        "body_size",
    ]
    list_filter = ["outcome", KindFilter, "source", ProductFilter]
    show_full_result_count = False
    search_fields = ["event_urn", "routing_key", "=request_id"]
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in FeedMessage._meta.fields if f.name != "body"] + ["body_text"]
    exclude = ["body"]
    actions = ["replay"]

    @admin.display(description="reason")
    def short_reason(self, obj: FeedMessage) -> str:
        return obj.reason[:120]

    @admin.display(description="body")
    def body_text(self, obj: FeedMessage) -> str:
        body = bytes(obj.body or b"")
        if not body:
            return "(not kept)"
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>", body.decode("utf-8", errors="replace")[:200_000]
        )

    @admin.action(
        description="Replay through the apply pipeline (stale/duplicate ones are no-ops)", permissions=["operate"]
    )
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        rows = list(queryset.exclude(body=b"").order_by("id").values_list("id", "routing_key", "body")[:5000])
        items = [
            Incoming(body=bytes(body), routing_key=key, source=FeedMessage.Source.REPLAY, replay_of=pk)
            for pk, key, body in rows
        ]
        if not items:
            self.message_user(request, "no stored bodies to replay", level=messages.WARNING)
            return
        result = apply_batch(items)
        counts: dict[str, int] = {}
        for o in result.outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        self.message_user(request, f"replayed {len(items)}: {counts}")


@admin.register(MarketDescription)
class MarketDescriptionAdmin(ReadOnlyAdmin):
    list_display = ["market_id", "variant", "name", "groups", "lang", "fetched_at"]
    search_fields = ["name", "=market_id", "variant"]
    list_filter = ["lang"]


@admin.register(VariantDescription)
class VariantDescriptionAdmin(ReadOnlyAdmin):
    list_display = ["variant", "lang", "fetched_at"]
    search_fields = ["variant"]

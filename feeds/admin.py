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

from config.admin_base import ReadOnlyAdmin
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
from feeds.services import client_get, producers
from feeds.services.descriptions import NameContext, NameResolver
from feeds.services.ingest import Incoming, apply_batch


class ReadOnlyInline(BaseReadOnlyInline):
    max_num = 0


def _status_label(status: int | None) -> str:
    return f"{status} {MARKET_STATUSES.get(status, '')}".strip() if status is not None else "-"


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
class ProducerAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "name",
        "health",
        "status",
        "subscribed",
        "alive_age",
        "status_reason",
        "recovery",
        "active",
        "scope",
    ]
    list_filter = ["status", "active", "subscribed"]
    search_fields = ["name", "description"]
    readonly_fields = [f.name for f in Producer._meta.fields] + ["health", "alive_age", "after_time"]
    inlines = [RecoveryInline]
    actions = ["mark_down", "request_recovery"]

    @admin.display(description="usable for pricing")
    def health(self, obj: Producer) -> str:
        up = producers.producer_is_up(obj)
        return format_html('<b style="color:{}">{}</b>', "green" if up else "#c00", "yes" if up else "no")

    @admin.display(description="last alive")
    def alive_age(self, obj: Producer) -> str:
        if obj.last_alive_at is None:
            return "never"
        return f"{(timezone.now() - obj.last_alive_at).total_seconds():.0f}s ago"

    @admin.display(description="next recovery from")
    def after_time(self, obj: Producer) -> str:
        return str(ms_to_datetime(obj.recover_after_ts)) if obj.recover_after_ts else "full recovery"

    @admin.action(description="Mark down (a recovery follows once alives flow)")
    def mark_down(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = producers.producers_mark_down(
            f"marked down by {request.user}", ids=list(queryset.values_list("id", flat=True))
        )
        self.message_user(request, f"{changed} producer(s) marked down")

    @admin.action(description="Request recovery now (if down, alive and within rate limits)")
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
class SportEventAdmin(ReadOnlyAdmin):
    list_display = [
        "urn",
        "name",
        "sport_name",
        "tournament_name",
        "scheduled",
        "status",
        "score",
        "fixture_needed",
        "updated_at",
    ]
    list_filter = ["status", "sport_name", "fixture_needed"]
    search_fields = ["urn", "name", "tournament_name"]
    date_hierarchy = "scheduled"
    readonly_fields = [f.name for f in SportEvent._meta.fields] + ["lines"]
    actions = ["refetch_fixture", "recover_odds"]

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
            rows.append(
                (
                    url,
                    names.market_name(mk.market_id, mk.specifiers, ctx),
                    mk.specifiers,
                    _status_label(mk.status),
                    odds,
                )
            )
        return format_html(
            "<table><tr><th>market</th><th>specifiers</th><th>status</th><th>outcomes</th></tr>{}</table>",
            format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>', rows),
        )

    @admin.action(description="Re-fetch fixture from the API")
    def refetch_fixture(self, request: HttpRequest, queryset: QuerySet) -> None:
        updated = queryset.update(fixture_needed=True)
        self.message_user(request, f"{updated} event(s) will be re-fetched by the next fixtures run")

    @admin.action(description="Recover this event's odds (event recovery request)")
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
    list_display = ["event", "market_id", "name", "specifiers", "status_label", "producer", "odds_updated_at", "odds"]
    list_filter = ["status", "producer"]
    search_fields = ["event__urn", "event__name", "=market_id"]
    list_select_related = ["event", "producer"]
    readonly_fields = [f.name for f in Market._meta.fields if f.name != "outcomes"] + [
        "name",
        "outcome_table",
        "odds_updated_at",
    ]
    exclude = ["outcomes"]
    inlines = [SettlementInline, CancelInline, ChangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        template = MarketDescription.objects.filter(market_id=OuterRef("market_id"), variant="", lang=conf.LANG).values(
            "name"
        )[:1]
        return super().get_queryset(request).annotate(name_template=Subquery(template))

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
        return " / ".join(f"{oid}:{s.get('odds') or '-'}" for oid, s in obj.outcomes.items() if s.get("active"))

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
            "<table><tr><th>id</th><th>name</th><th>odds</th><th>probability</th><th>active</th></tr>{}</table>",
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
class FeedMessageAdmin(ReadOnlyAdmin):
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

    @admin.action(description="Replay through the apply pipeline (stale/duplicate ones are no-ops)")
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

"""Back office for the ProphetX parlay book.

Editable: event mappings (PxEvent.event_urn), line mappings, correlation rules, and exposure
limits (parlays/admin_limits.py, through their service). Everything
received or decided (messages, quotes, confirmations, orders, exposure, P&L) is read-only;
staff act on it through actions (resolve a reconciliation issue, clear a review flag), which
are audited in the admin log.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from config.admin_base import ReadOnlyAdmin, money_column
from config.admin_base import ReadOnlyInline as BaseReadOnlyInline
from parlays import admin_limits, conf  # noqa: F401 - admin_limits: the exposure limits pages
from parlays.models import (
    BookEntry,
    Confirmation,
    CorrelationRule,
    ExposureReservation,
    InboundMessage,
    LineMapping,
    ListenerState,
    MatchedOrder,
    Order,
    ParlaySettlement,
    PxEvent,
    PxLine,
    QuoteLeg,
    QuoteOffer,
    QuoteRequest,
    ReconciliationIssue,
)
from wallet.money import format_money
from wallet.templatetags.money import money_span


class ReadOnlyInline(BaseReadOnlyInline):
    show_change_link = False


def book_currency(_row=None) -> str:
    """The book's currency (PROPHETX_CURRENCY): rows without a currency of their own use it."""
    return conf.get().currency


# --- reference data and mappings (editable) ------------------------------------------------------


@admin.register(PxEvent)
class PxEventAdmin(admin.ModelAdmin):
    list_display = ["sport_event_id", "name", "tournament_name", "scheduled", "event_urn", "status"]
    list_editable = ["event_urn"]
    list_filter = ["tournament_name", "sport_name"]
    search_fields = ["sport_event_id", "name", "event_urn"]
    readonly_fields = [
        "sport_event_id",
        "name",
        "tournament_id",
        "tournament_name",
        "sport_name",
        "scheduled",
        "competitors",
        "status",
        "seen_at",
    ]


@admin.register(PxLine)
class PxLineAdmin(ReadOnlyAdmin):
    list_display = [
        "line_id",
        "sport_event_id",
        "market_id",
        "market_name",
        "outcome_id",
        "outcome_name",
        "line",
        "mapped",
    ]
    search_fields = ["line_id", "market_name", "outcome_name", "sport_event_id"]
    list_filter = ["market_type"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PxLine]:
        enabled = LineMapping.objects.filter(line_id=OuterRef("line_id"), enabled=True)
        return super().get_queryset(request).annotate(is_mapped=Exists(enabled))

    @admin.display(boolean=True, ordering="is_mapped")
    def mapped(self, line: PxLine) -> bool:
        return line.is_mapped


@admin.register(LineMapping)
class LineMappingAdmin(admin.ModelAdmin):
    list_display = [
        "line_id",
        "event_urn",
        "market_id",
        "specifiers",
        "outcome_id",
        "correlation_class",
        "source",
        "enabled",
        "registered",
    ]
    list_filter = ["source", "enabled", "registered", "market_id"]
    search_fields = ["line_id", "event_urn", "correlation_class"]
    list_editable = ["enabled", "correlation_class"]
    readonly_fields = ["registered", "registered_at", "updated_at"]
    actions = ["enable", "disable"]

    def save_model(self, request: HttpRequest, obj: LineMapping, form, change: bool) -> None:
        from parlays.prices import canonical_specifiers

        obj.specifiers = canonical_specifiers(obj.specifiers)
        if change:
            obj.source = LineMapping.Source.MANUAL
        super().save_model(request, obj, form, change)

    @admin.action(description="Enable (quote and register as supported)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.update(enabled=True, updated_at=timezone.now())
        self.message_user(request, f"{count} line(s) enabled; they are registered with ProphetX on the next sync.")

    @admin.action(description="Disable (stop quoting, unregister)", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.update(enabled=False, updated_at=timezone.now())
        self.message_user(request, f"{count} line(s) disabled; they are removed from ProphetX on the next sync.")


@admin.register(CorrelationRule)
class CorrelationRuleAdmin(admin.ModelAdmin):
    list_display = ["class_a", "class_b", "factor", "blocked", "note", "updated_at"]
    list_editable = ["factor", "blocked"]
    search_fields = ["class_a", "class_b"]


# --- what we received and answered (read-only) ------------------------------------------------------


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "topic", "status", "parlay_id", "order_uuid", "short_error"]
    list_filter = ["topic", "status"]
    search_fields = ["parlay_id", "order_uuid"]
    date_hierarchy = "received_at"

    @admin.display(description="error")
    def short_error(self, row: InboundMessage) -> str:
        return row.error[:80]


class QuoteLegInline(ReadOnlyInline):
    model = QuoteLeg
    fields = [
        "position",
        "line_id",
        "event_urn",
        "market_id",
        "specifiers",
        "outcome_id",
        "book_odds",
        "fair_probability",
        "odds_updated_at",
    ]
    readonly_fields = fields


class QuoteOfferInline(ReadOnlyInline):
    model = QuoteOffer
    fields = ["rung", "odds", "max_risk_col", "valid_until_ns", "estimated_price", "margin_per_leg"]
    readonly_fields = fields

    max_risk_col = money_column("max_risk", currency=book_currency, description="max risk")


@admin.register(QuoteRequest)
class QuoteRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "parlay_id",
        "received_at",
        "leg_count",
        "same_game",
        "status",
        "decline_reason",
        "best_odds",
        "latency_us",
        "pnl",
    ]
    list_filter = ["status", "decline_reason", "same_game"]
    search_fields = ["parlay_id"]
    date_hierarchy = "received_at"
    inlines = [QuoteLegInline, QuoteOfferInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[QuoteRequest]:
        # One query for the page's offers and one sum per row in SQL, not two queries per row.
        pnl = Order.objects.filter(request=OuterRef("pk")).values("request").annotate(s=Sum("pnl")).values("s")
        return super().get_queryset(request).prefetch_related("offers").annotate(pnl_total=Subquery(pnl))

    @admin.display(description="best offer")
    def best_odds(self, request: QuoteRequest) -> str:
        offer = min(request.offers.all(), key=lambda o: o.max_risk, default=None)
        return f"+{offer.odds} up to {format_money(offer.max_risk, book_currency())}" if offer else "-"

    @admin.display(description="P&L")
    def pnl(self, request: QuoteRequest) -> str:
        total = getattr(request, "pnl_total", None)
        if total is None and not hasattr(request, "pnl_total"):
            total = request.orders.aggregate(s=Sum("pnl"))["s"]
        return money_span(total or Decimal(0), book_currency(), signed=True)


@admin.register(Confirmation)
class ConfirmationAdmin(ReadOnlyAdmin):
    list_display = [
        "order_uuid",
        "parlay_id",
        "received_at",
        "action",
        "reason",
        "sp_odds",
        "stake_col",
        "confirmed_col",
        "delivery",
        "post_status",
    ]
    list_filter = ["action", "reason", "delivery"]
    search_fields = ["order_uuid", "parlay_id"]

    stake_col = money_column("stake", currency=book_currency)
    confirmed_col = money_column("confirmed_stake", currency=book_currency, description="confirmed stake")


class ReservationInline(ReadOnlyInline):
    model = ExposureReservation
    fields = ["scope", "key", "amount_col", "state", "created_at", "closed_at"]
    readonly_fields = fields

    amount_col = money_column("amount", currency="order__currency")


class BookEntryInline(ReadOnlyInline):
    model = BookEntry
    fields = ["kind", "amount_col", "note", "created_at"]
    readonly_fields = fields

    amount_col = money_column("amount", signed=True)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "order_uuid",
        "parlay_id",
        "status",
        "bettor_odds_display",
        "risk_col",
        "stake_col",
        "settlement_status",
        "pnl_col",
        "needs_review",
    ]
    risk_col = money_column("risk")
    stake_col = money_column("bettor_stake", description="bettor stake")
    pnl_col = money_column("pnl", description="P&L", signed=True)
    list_filter = ["status", "settlement_status", "needs_review"]
    search_fields = ["order_uuid", "parlay_id"]
    inlines = [ReservationInline, BookEntryInline]
    actions = ["mark_reviewed"]

    @admin.display(description="odds")
    def bettor_odds_display(self, order: Order) -> str:
        return f"+{order.bettor_odds}" if order.bettor_odds > 0 else str(order.bettor_odds)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # For the review action only (Risk, Admin); every field is read-only.
        return request.user.has_perm("parlays.change_order")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        money = {"risk": "risk_col", "bettor_stake": "stake_col", "pnl": "pnl_col", "px_profit": "px_profit_col"}
        return [money.get(f.name, f.name) for f in Order._meta.fields]

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return self.get_readonly_fields(request, obj)

    px_profit_col = money_column("px_profit", description="profit (as ProphetX sent it)", signed=True)

    @admin.action(description="Mark reviewed (clears the review flag)", permissions=["change"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet) -> None:
        for order in queryset.filter(needs_review=True):
            order.needs_review = False
            order.review_note += f"\nreviewed by {request.user} at {timezone.now():%Y-%m-%d %H:%M}"
            order.save(update_fields=["needs_review", "review_note", "updated_at"])
            self.log_change(request, order, "marked reviewed")
        self.message_user(request, "Review flags cleared.", messages.SUCCESS)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        from parlays.services.exposure import book_totals

        totals = Order.objects.aggregate(pnl=Sum("pnl"))
        extra_context = extra_context or {}
        currency = book_currency()
        extra_context["title"] = format_html(
            "Parlay orders: realised P&L {} · open risk {}",
            format_money(totals["pnl"] or Decimal(0), currency, signed=True),
            format_money(book_totals()["open_risk"], currency),
        )
        return super().changelist_view(request, extra_context)


@admin.register(ExposureReservation)
class ExposureReservationAdmin(ReadOnlyAdmin):
    list_display = ["order", "scope", "key", "amount_col", "state", "created_at", "closed_at"]
    list_filter = ["state", "scope"]
    search_fields = ["key", "order__order_uuid"]
    list_select_related = ["order"]

    amount_col = money_column("amount", currency="order__currency")


@admin.register(BookEntry)
class BookEntryAdmin(ReadOnlyAdmin):
    list_display = ["order", "kind", "amount_col", "note", "created_at"]
    list_filter = ["kind", "currency"]
    list_select_related = ["order"]

    amount_col = money_column("amount", signed=True)


@admin.register(MatchedOrder)
class MatchedOrderAdmin(ReadOnlyAdmin):
    list_display = ["parlay_id", "bettor_odds", "matched_odds", "stake_col", "ours", "received_at"]

    stake_col = money_column("matched_stake", currency=book_currency, description="matched stake")
    list_filter = ["ours"]
    search_fields = ["parlay_id"]


@admin.register(ParlaySettlement)
class ParlaySettlementAdmin(ReadOnlyAdmin):
    list_display = ["parlay_id", "settlement_status", "profit_col", "consistent", "note", "received_at"]

    profit_col = money_column("profit", currency=book_currency, signed=True)
    list_filter = ["settlement_status", "consistent"]
    search_fields = ["parlay_id"]


@admin.register(ReconciliationIssue)
class ReconciliationIssueAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "order_uuid",
        "parlay_id",
        "detail",
        "auto_resolved",
        "resolved",
        "resolved_by",
    ]
    list_filter = ["resolved", "auto_resolved", "kind"]
    search_fields = ["order_uuid", "parlay_id"]
    actions = ["resolve"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("parlays.change_reconciliationissue")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [f.name for f in ReconciliationIssue._meta.fields]

    @admin.action(description="Mark resolved", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.filter(resolved=False).update(
            resolved=True, resolved_by=request.user, resolved_at=timezone.now()
        )
        self.message_user(request, f"{count} issue(s) resolved.")


@admin.register(ListenerState)
class ListenerStateAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "connected",
        "socket_id",
        "connected_at",
        "last_health_check_at",
        "last_confirm_at",
        "health_checks",
        "connections",
        "last_error",
    ]

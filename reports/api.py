"""Operator API: the money reports and player statements as JSON (scope "reports").

Amounts are strings at the currency's precision, each with its currency. Thin: parse the query,
call the domain (reports.tables, reports.statement), page and render.
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, Paginator
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.schema import error
from reports.rollups import business_day
from reports.statement import StatementError, statement_build
from reports.tables import COLUMNS, COUNT_COLUMNS, FilterError, Line, build_report, parse_filter
from wallet.errors import InvalidRequest, PlayerNotFound
from wallet.money import format_amount

MAX_PAGE_SIZE = 500


def _page(request: Request, items: list) -> tuple[list, dict]:
    try:
        size = min(max(int(request.query_params.get("page_size", 100)), 1), MAX_PAGE_SIZE)
        number = max(int(request.query_params.get("page", 1)), 1)
    except ValueError:
        raise InvalidRequest("page and page_size must be whole numbers") from None
    paginator = Paginator(items, size)
    try:
        page = paginator.page(number)
    except EmptyPage:
        page = None
    meta = {"count": paginator.count, "page": number, "pages": paginator.num_pages, "page_size": size}
    return (list(page.object_list) if page else []), meta


def _line(line: Line) -> dict:
    out: dict[str, object] = {
        "period": line.period.isoformat() if line.period else None,
        "label": line.label,
        "provider": line.provider,
        "brand": line.brand,
        "currency": line.currency,
        "converted": line.converted,
    }
    for name, _ in COLUMNS:
        value = line.cell_value(name)
        if name in COUNT_COLUMNS:
            out[name] = value
        elif name == "hold":
            out["hold_percent"] = None if value is None else str(value)
        elif value is None:  # open liability not available (IGPX): null, never a made-up 0
            out[name] = None
        else:
            out[name] = format_amount(value, line.currency)
    return out


class ReportLineOut(serializers.Serializer):
    period = serializers.DateField(allow_null=True, help_text="First day of the day/week/month")
    label = serializers.CharField()
    provider = serializers.CharField()
    brand = serializers.CharField(
        allow_blank=True, help_text="The provider's sub-brand (Betsy's subPartnerId); empty: none; 'all' on totals"
    )
    currency = serializers.CharField()
    converted = serializers.BooleanField(help_text="True on the total converted to REPORT_CURRENCY")
    bets_count = serializers.IntegerField()
    stakes = serializers.CharField()
    payouts = serializers.CharField()
    refunds = serializers.CharField()
    rollbacks = serializers.CharField()
    resettle_adjustments = serializers.CharField()
    unsettle_adjustments = serializers.CharField()
    staff_reversals = serializers.CharField()
    staff_adjustments = serializers.CharField()
    ggr = serializers.CharField()
    hold_percent = serializers.CharField(allow_null=True)
    unique_players = serializers.IntegerField(help_text="Distinct players who placed a bet in the line's period")
    open_liability = serializers.CharField(
        allow_null=True,
        help_text="null: not available (IGPX results name no bet, so its open bets are unknown; also on a total"
        " that includes IGPX)",
    )
    new_debt = serializers.CharField()


class ReportOut(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    page_size = serializers.IntegerField()
    results = ReportLineOut(many=True)
    totals = ReportLineOut(many=True, help_text="Per currency, over the whole filtered range")
    converted = ReportLineOut(allow_null=True)
    conversion_note = serializers.CharField()


class StatementLineOut(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    posted_at = serializers.DateTimeField()
    kind = serializers.CharField()
    provider = serializers.CharField()
    reference = serializers.CharField()
    bet = serializers.CharField()
    real = serializers.CharField()
    bonus = serializers.CharField()
    debt = serializers.CharField()
    amount = serializers.CharField()
    balance = serializers.CharField()


class StatementOut(serializers.Serializer):
    player = serializers.CharField()
    currency = serializers.CharField()
    opening_balance = serializers.CharField()
    closing_balance = serializers.CharField()
    truncated = serializers.BooleanField()
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    page_size = serializers.IntegerField()
    results = StatementLineOut(many=True)


def _params(*names: str) -> list[OpenApiParameter]:
    help_ = {
        "from": "First business day (YYYY-MM-DD)",
        "to": "Last business day (YYYY-MM-DD)",
        "period": "day, week or month",
        "provider": "igpx, betsy, staff…",
        "brand": "a sub-brand (Betsy's subPartnerId), or (none) for bets with no brand",
        "origin": "provider or staff",
        "currency": "ISO code",
        "money": "real or bonus",
        "page": "Page number, from 1",
        "page_size": f"Lines per page (max {MAX_PAGE_SIZE})",
    }
    return [OpenApiParameter(n, OpenApiTypes.STR, OpenApiParameter.QUERY, description=help_[n]) for n in names]


class DailyReport(APIView):
    required_scope = "reports"

    @extend_schema(
        parameters=_params(
            "from", "to", "period", "provider", "brand", "origin", "currency", "money", "page", "page_size"
        ),
        responses={200: ReportOut, 400: error("a filter is invalid (dates, period, page)")},
        summary="Money report by day, week or month (GGR, stakes, payouts… per provider and currency)",
    )
    def get(self, request: Request) -> Response:
        try:
            flt = parse_filter(request.query_params, today=business_day(timezone.now()))
        except FilterError as exc:
            raise InvalidRequest(str(exc)) from None
        report = build_report(flt)
        lines, meta = _page(request, report.lines)
        return Response(
            {
                **meta,
                "results": [_line(line) for line in lines],
                "totals": [_line(line) for line in report.totals],
                "converted": _line(report.converted) if report.converted else None,
                "conversion_note": report.conversion_note,
            }
        )


class PlayerStatement(APIView):
    required_scope = "reports"

    @extend_schema(
        parameters=[
            OpenApiParameter("currency", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True),
            *_params("from", "to", "page", "page_size"),
        ],
        responses={
            200: StatementOut,
            400: error("a filter is invalid, or the player has no wallet in that currency"),
            404: error("unknown player"),
        },
        summary="A player's money movements with running balance",
    )
    def get(self, request: Request, external_id: str) -> Response:
        try:
            flt = parse_filter(request.query_params, today=business_day(timezone.now()))
            statement = statement_build(
                player_external_id=external_id,
                currency=(request.query_params.get("currency") or "").upper(),
                first=flt.first,
                last=flt.last,
            )
        except StatementError as exc:
            if str(exc).startswith("no player"):
                raise PlayerNotFound(str(exc)) from None
            raise InvalidRequest(str(exc)) from None
        except FilterError as exc:
            raise InvalidRequest(str(exc)) from None
        lines, meta = _page(request, statement.lines)
        cur = statement.currency
        return Response(
            {
                "player": statement.player.external_id,
                "currency": cur,
                "opening_balance": format_amount(statement.opening, cur),
                "closing_balance": format_amount(statement.closing, cur),
                "truncated": statement.truncated,
                **meta,
                "results": [
                    {
                        "transaction_id": line.transaction_id,
                        "posted_at": line.posted_at,
                        "kind": line.kind,
                        "provider": line.provider,
                        "reference": line.reference,
                        "bet": line.bet,
                        "real": format_amount(line.real, cur),
                        "bonus": format_amount(line.bonus, cur),
                        "debt": format_amount(line.debt, cur),
                        "amount": format_amount(line.amount, cur),
                        "balance": format_amount(line.balance, cur),
                    }
                    for line in lines
                ],
            }
        )

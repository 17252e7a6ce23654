"""Transport: report pages, player statements and reconciliation runs in the admin.

Thin: parse the request, call reports.tables / statement / reconciliation.services, render.
Finance and Admin read reports and reconcile; Support reads player statements.
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from reports import charts, exports, tables
from reports.models import DailyRollup, ReconciliationDifference, ReconciliationRun
from reports.reconciliation import csvfile
from reports.reconciliation import services as reconciliation
from reports.rollups import business_day
from reports.statement import StatementError, statement_build
from wallet.currencies import CURRENCIES
from wallet.errors import WalletError

VIEW_REPORTS, VIEW_STATEMENT, RECONCILE = "reports.view_reports", "reports.view_statement", "reports.reconcile"


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"needs the permission {permission}")


def _choices(field: str) -> list[str]:
    return list(DailyRollup.objects.order_by(field).values_list(field, flat=True).distinct())


def _tbody(rows: list[tuple[str, object]], texts: list[list[str]]) -> str:
    """The table body in one pass: a 90-day page has ten thousand cells, too slow as template
    tags or `format_html` (reports/templates/admin/reports/report.html keeps the rest)."""
    esc = html.escape  # what django.utils.html.escape does, without a SafeString per cell
    out = []
    for (css, _), text in zip(rows, texts, strict=True):
        # Period, provider, brand (the provider's own text) and currency are escaped; the figures
        # are ours (format_money, counts, "not available") and escaping them changes nothing.
        cells = "".join(
            [
                *(f'<td class="">{esc(cell)}</td>' for cell in text[:4]),
                *(f'<td class="num">{cell}</td>' for cell in text[4:]),
            ]
        )
        out.append(f'<tr class="{esc(css)}">{cells}</tr>')
    return mark_safe("\n".join(out))  # noqa: S308 - every piece above is escaped


@admin.register(DailyRollup)
class ReportAdmin(admin.ModelAdmin):
    """The money report replaces the changelist; exports and statements hang off it."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_REPORTS) or request.user.has_perm(VIEW_STATEMENT)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_view), {"fmt": "csv"}, name="reports_export_csv"),
            path("export.xlsx", wrap(self.export_view), {"fmt": "xlsx"}, name="reports_export_xlsx"),
            path("statement/", wrap(self.statement_view), name="reports_statement"),
            *super().get_urls(),
        ]

    def _report(self, request: HttpRequest) -> tuple[tables.Report | None, str]:
        try:
            flt = tables.parse_filter(request.GET, today=business_day(timezone.now()))
        except tables.FilterError as exc:
            return None, str(exc)
        return tables.build_report(flt), ""

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not request.user.has_perm(VIEW_REPORTS):
            if request.user.has_perm(VIEW_STATEMENT):
                return HttpResponseRedirect(reverse("admin:reports_statement"))
            raise PermissionDenied
        report, error = self._report(request)
        if error:
            messages.error(request, error)
            report = tables.build_report(tables.parse_filter({}, today=business_day(timezone.now())))
        query = report.filter.as_query()
        rows = [("", line) for line in report.lines] + [("total", line) for line in report.totals]
        if report.converted:
            rows.append(("total converted", report.converted))
        context = {
            **self.admin_site.each_context(request),
            "title": "Money report",
            "opts": self.model._meta,
            "report": report,
            "header": report.header(),
            "tbody": _tbody(rows, report.text_rows()),
            "notes": tables.NOTES,
            "chart": charts.svg(report.chart, report.chart_currency),
            "query": query,
            "querystring": urlencode({k: v for k, v in query.items() if v}),
            "periods": tables.PERIODS,
            "providers": _choices("provider"),
            "brands": [b or tables.NO_BRAND for b in _choices("brand")],
            "currencies": _choices("currency"),
            "origins": [c for c, _ in DailyRollup.Origin.choices],
            "monies": [c for c, _ in DailyRollup.Money.choices],
            "can_statement": request.user.has_perm(VIEW_STATEMENT),
        }
        return TemplateResponse(request, "admin/reports/report.html", context)

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        _require(request, VIEW_REPORTS)
        report, error = self._report(request)
        if report is None:
            return HttpResponse(error, status=400, content_type="text/plain")
        return exports.report_csv(report) if fmt == "csv" else exports.report_xlsx(report)

    def statement_view(self, request: HttpRequest) -> HttpResponse:
        _require(request, VIEW_STATEMENT)
        today = business_day(timezone.now())
        params = {
            "player": (request.GET.get("player") or "").strip(),
            "currency": (request.GET.get("currency") or "").strip().upper(),
            "from": request.GET.get("from") or (today - timedelta(days=30)).isoformat(),
            "to": request.GET.get("to") or today.isoformat(),
        }
        statement, error = None, ""
        if params["player"]:
            try:
                first, last = date.fromisoformat(params["from"]), date.fromisoformat(params["to"])
                statement = statement_build(
                    player_external_id=params["player"], currency=params["currency"], first=first, last=last
                )
            except ValueError as exc:  # StatementError is a ValueError too
                error = str(exc) if isinstance(exc, StatementError) else "dates must be YYYY-MM-DD"
        if statement is not None and request.GET.get("format") == "csv":
            return exports.statement_csv(statement)
        context = {
            **self.admin_site.each_context(request),
            "title": "Player statement",
            "opts": self.model._meta,
            "params": params,
            "statement": statement,
            "error": error,
            "header": exports.statement_header(),
            "rows": exports.statement_rows(statement) if statement else [],
            "currencies": sorted(CURRENCIES),
            "querystring": urlencode(params),
        }
        return TemplateResponse(request, "admin/reports/statement.html", context)


class UploadForm(forms.Form):
    provider = forms.ChoiceField()
    period_from = forms.DateField(label="From (business day)", widget=forms.DateInput(attrs={"type": "date"}))
    period_to = forms.DateField(label="To (business day)", widget=forms.DateInput(attrs={"type": "date"}))
    file = forms.FileField(help_text="The provider's transaction export, CSV, UTF-8.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [(p, p) for p in csvfile.providers()]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "period_from",
        "period_to",
        "filename",
        "status",
        "progress",
        "matched",
        "differences",
        "created_by",
        "created_at",
    )
    list_filter = ("provider", "status")

    @admin.display(description="progress")
    def progress(self, run: ReconciliationRun) -> str:
        return f"{run.progress_percent}% ({run.lines_done:,}/{run.lines_total:,})"

    def _may(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECONCILE)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        _require(request, RECONCILE)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            from reports.tasks import reconciliation_start

            upload = form.cleaned_data["file"]
            try:
                run = reconciliation.run_create(
                    provider=form.cleaned_data["provider"],
                    period_from=form.cleaned_data["period_from"],
                    period_to=form.cleaned_data["period_to"],
                    filename=upload.name,
                    chunks=upload.chunks(),
                    actor=request.user,
                )
            except WalletError as exc:
                messages.error(request, exc.message)
            else:
                reconciliation_start(run.pk)
                return HttpResponseRedirect(reverse("admin:reports_reconciliationrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Reconcile a provider export",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/reports/reconciliation_upload.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None) -> HttpResponse:
        _require(request, RECONCILE)
        run = get_object_or_404(ReconciliationRun, pk=object_id)
        if request.method == "POST":
            diff_id = int(request.POST.get("difference", "0") or 0)
            note = request.POST.get("note", "")
            try:
                if request.POST.get("action") == "review":
                    reconciliation.difference_to_review(diff_id=diff_id, actor=request.user, note=note)
                    messages.success(request, f"Difference #{diff_id} sent to the review queue.")
                else:
                    reconciliation.difference_resolve(diff_id=diff_id, actor=request.user, note=note)
                    messages.success(request, f"Difference #{diff_id} resolved.")
            except WalletError as exc:
                messages.error(request, exc.message)
            return HttpResponseRedirect(request.get_full_path())
        diffs = run.difference_rows.all()
        kind, status = request.GET.get("kind", ""), request.GET.get("status", "")
        if kind:
            diffs = diffs.filter(kind=kind)
        if status:
            diffs = diffs.filter(status=status)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reconciliation #{run.pk}: {run.provider} {run.period_from} – {run.period_to}",
            "opts": self.model._meta,
            "run": run,
            "running": run.status in (ReconciliationRun.Status.PENDING, ReconciliationRun.Status.RUNNING),
            "diffs": diffs.select_related("resolved_by")[:1000],
            "kinds": ReconciliationDifference.Kind.choices,
            "statuses": ReconciliationDifference.Status.choices,
            "kind": kind,
            "status": status,
        }
        return TemplateResponse(request, "admin/reports/reconciliation_run.html", context)

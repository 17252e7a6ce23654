"""Back office for the book's exposure limits: the defaults in force, each limit Risk set beside
the exposure it governs and the headroom left, and a form that asks for a typed reason. Every
change goes through parlays.services.limits, which enforces the role and audits. Hooked in by
one import in parlays/admin.py.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from config.admin_base import local_time, money_column
from parlays import conf
from parlays.models import ExposureLimit, PxEvent
from parlays.services import limits
from wallet import money
from wallet.admin_staff import bulk_action_with_reason, staff_form_view
from wallet.errors import InvalidRequest
from wallet.money import format_money
from wallet.templatetags.money import money_span

Scope = ExposureLimit.Scope


class LimitForm(forms.Form):
    scope = forms.ChoiceField(choices=Scope.choices)
    key = forms.CharField(
        required=False,
        max_length=400,
        help_text="Total: blank. Event: blank for the default of every event, or a UOF urn (sr:match:43000001)."
        " Outcome: blank for the default of every outcome, or urn/market/specifiers/outcome"
        " (sr:match:43000001/18/total=2.5/12).",
    )
    amount = forms.CharField(max_length=40)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=5,
        help_text="Mandatory; kept with the limit and in the audit log.",
    )

    def __init__(self, *args: Any, currency: str, fixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].help_text = f"Our largest liability, in {currency} at its precision; 0 stops quoting."
        if fixed:  # a row's scope and key are what it is; another key is another limit
            self.fields["scope"].disabled = self.fields["key"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The service checks all this again; here each error lands on its own field.
        try:
            if "scope" in data:
                data["key"] = limits.parse_key(data["scope"], data.get("key", ""))
        except InvalidRequest as error:
            self.add_error("key", error.message)
        try:
            if "amount" in data:
                data["amount"] = money.parse_amount(data["amount"].strip(), self.currency, allow_zero=True)
        except InvalidRequest as error:
            self.add_error("amount", error.message)
        return data


def event_names(keys: list[str]) -> dict[str, str]:
    """The event name behind each event or outcome key: ProphetX's name for a mapped event, else
    the feed's fixture name."""
    urns = {key.split("/", 1)[0] for key in keys if key}
    names = dict(PxEvent.objects.filter(event_urn__in=urns).exclude(name="").values_list("event_urn", "name"))
    missing = urns - set(names)
    if missing:
        try:
            from feeds.models import SportEvent
        except ImportError:  # the feeds app is optional for the parlay book
            return names
        names.update(SportEvent.objects.filter(urn__in=missing).exclude(name="").values_list("urn", "name"))
    return names


class LimitChangeList(ChangeList):
    """Puts each row of the page beside its exposure and event name (two queries for the page)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        usage = limits.limits_usage(rows)
        names = event_names([row.key for row in rows])
        for row in rows:
            row.usage = usage.get(row.pk)
            row.event_name = names.get(row.key.split("/", 1)[0], "")
        self.result_list = rows


def _key_html(key: str, name: str) -> str:
    if not key:
        return mark_safe("<em>default</em>")
    return format_html("{}<br><small>{}</small>", key, name) if name else key


@admin.register(ExposureLimit)
class ExposureLimitAdmin(admin.ModelAdmin):
    # The amount carries its currency; who and when share a column so the reason fits at 1,366 px.
    list_display = ["scope", "key_col", "amount_col", "exposure_col", "headroom_col", "set_by", "reason_col"]
    list_display_links = ["scope", "key_col"]
    list_filter = ["scope", "currency"]
    search_fields = ["key", "reason"]
    list_select_related = ["updated_by"]
    actions = ["remove_limits"]
    change_list_template = "admin/parlays/exposurelimit/change_list.html"
    readonly_fields = ["scope", "key", "amount_col", "currency", "reason", "updated_by", "updated_at"]
    fields = readonly_fields

    amount_col = money_column("amount", description="limit")

    @admin.display(description="key", ordering="key")
    def key_col(self, row: ExposureLimit) -> str:
        return _key_html(row.key, getattr(row, "event_name", ""))

    @admin.display(description="open exposure")
    def exposure_col(self, row: ExposureLimit) -> str:
        usage = getattr(row, "usage", None)
        if usage is None:
            return f"not in force ({conf.get().currency} book)"
        text = money_span(usage.exposure, row.currency)
        return format_html("{}<br><small>most: {}</small>", text, usage.key) if usage.key else text

    @admin.display(description="headroom")
    def headroom_col(self, row: ExposureLimit) -> str:
        usage = getattr(row, "usage", None)
        return "-" if usage is None else money_span(usage.headroom, row.currency)

    @admin.display(description="set by", ordering="updated_at")
    def set_by(self, row: ExposureLimit) -> str:
        return format_html("{}<br><small>{}</small>", row.updated_by, local_time(row.updated_at))

    @admin.display(description="reason")
    def reason_col(self, row: ExposureLimit) -> str:
        return row.reason if len(row.reason) <= 80 else row.reason[:79] + "…"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LimitChangeList

    def has_change_permission(self, request: HttpRequest, obj: ExposureLimit | None = None) -> bool:
        # A row left from an earlier PROPHETX_CURRENCY is not in force: it can only be removed.
        if obj is not None and obj.currency != conf.get().currency:
            return False
        return super().has_change_permission(request, obj)

    # Removal asks for a reason (the action below); Django's delete does not.
    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_remove_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(limits.REMOVE)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "defaults": limits.defaults_in_force(),
            "may_change": request.user.has_perm(limits.CHANGE),
            "book_currency": conf.get().currency,
        }
        return super().changelist_view(request, extra_context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {name: request.GET[name] for name in ("scope", "key") if name in request.GET}
        return self._limit_form(request, None, initial, "Set an exposure limit")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        row = self.get_object(request, object_id)
        if row is None or not self.has_change_permission(request, row):
            return super().change_view(request, object_id, form_url, extra_context)  # read-only page, or 404
        name = event_names([row.key]).get(row.key.split("/", 1)[0], "")
        initial = {"scope": row.scope, "key": row.key, "amount": money.format_amount(row.amount, row.currency)}
        title = f"Change the {row.get_scope_display().lower()} limit {row.key or '(default)'}"
        return self._limit_form(request, row, initial, f"{title} {name}".strip())

    def _limit_form(self, request: HttpRequest, row: ExposureLimit | None, initial: dict, title: str) -> HttpResponse:
        currency = row.currency if row is not None else conf.get().currency

        class Form(LimitForm):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, currency=currency, fixed=row is not None, **kwargs)

        def action(data: dict[str, Any]) -> str:
            saved = limits.set_exposure_limit(
                actor=request.user, scope=data["scope"], key=data["key"], amount=data["amount"], reason=data["reason"]
            )
            self.message_user(
                request,
                f"{saved.get_scope_display()} limit {saved.key or '(default)'} is now"
                f" {format_money(saved.amount, saved.currency)}.",
                messages.SUCCESS,
            )
            return reverse("admin:parlays_exposurelimit_changelist")

        return staff_form_view(
            request,
            model_admin=self,
            title=title,
            form_class=Form,
            submit_label="Save limit",
            action=action,
            cancel_url=reverse("admin:parlays_exposurelimit_changelist"),
            initial=initial,
            context_html=_row_context(row),
        )

    @admin.action(description="Remove selected limits (back to the default)…", permissions=["remove"])
    def remove_limits(self, request: HttpRequest, queryset):
        def apply(rows: list[ExposureLimit], reason: str) -> str:
            for row in rows:
                limits.remove_exposure_limit(
                    actor=request.user, scope=row.scope, key=row.key, reason=reason, currency=row.currency
                )
            return f"{len(rows)} limit(s) removed; their keys fall back to the default."

        return bulk_action_with_reason(
            self,
            request,
            queryset,
            action_name="remove_limits",
            title="Remove exposure limits: why?",
            submit_label="Remove",
            apply=apply,
        )


def _row_context(row: ExposureLimit | None) -> str:
    if row is None:
        return ""
    usage = limits.limits_usage([row]).get(row.pk)
    now = (
        format_html(
            " Open exposure {}, headroom {}.",
            money_span(usage.exposure, row.currency),
            money_span(usage.headroom, row.currency),
        )
        if usage is not None
        else ""
    )
    return format_html(
        "Now {}: set by {} at {} ({}).{}",
        money_span(row.amount, row.currency),
        row.updated_by,
        local_time(row.updated_at),
        row.reason,
        now,
    )

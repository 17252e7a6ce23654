"""Back office for what the book quotes: event mappings, line mappings and same-game correlation
rules. Adding, changing, enabling, disabling and deleting each ask for a typed reason and go
through parlays.services.mappings, which enforces the role and audits every object changed.
Hooked in by one import in parlays/admin.py.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from config.admin_base import local_time
from parlays.models import CorrelationRule, LineMapping, PxEvent
from parlays.services import mappings
from wallet.admin_staff import bulk_action_with_reason, staff_form_view
from wallet.models import AuditLog


def _reason_field() -> forms.CharField:
    return forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=5,
        help_text="Mandatory; kept in the audit log with what changed.",
    )


def _form(model: type[models.Model], fields: tuple[str, ...]) -> type[forms.Form]:
    """A plain form of the model's fields and a reason: the service validates and saves."""
    return type(
        f"{model.__name__}Form",
        (forms.Form,),
        {**forms.fields_for_model(model, fields=fields), "reason": _reason_field()},
    )


LineMappingForm = _form(LineMapping, mappings.LINE_FIELDS)
CorrelationRuleForm = _form(CorrelationRule, mappings.RULE_FIELDS)
EventMappingForm = _form(PxEvent, ("event_urn",))


def _audit_trail(row: models.Model) -> str:
    from wallet.admin import audit_table  # the wallet's admin registers its own models on import

    label = row._meta.label
    rows = AuditLog.objects.filter(object_type=label, object_id=str(row.pk)).select_related("actor")
    everything = reverse("admin:wallet_auditlog_changelist") + f"?q={row.pk}"
    return audit_table(rows.order_by("-id")[:10], everything, "All audit rows with this id")


class AuditedAdmin(admin.ModelAdmin):
    """Add and change through a reasoned form calling the service; Django's delete replaced by
    an action that asks for a reason. A user without the change permission gets Django's
    read-only page."""

    form_class: type[forms.Form]
    fields_of: tuple[str, ...]
    fixed_fields: tuple[str, ...] = ()  # shown but not editable on a change (what the row is)
    noun = ""

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_remove_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.delete_{self.opts.model_name}")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._reasoned_form(request, None, {"enabled": True}, f"Add {self.noun}")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        row = self.get_object(request, object_id)
        if row is None or not self.has_change_permission(request, row):
            return super().change_view(request, object_id, form_url, extra_context)  # read-only page, or 404
        initial = {name: getattr(row, name) for name in self.fields_of}
        return self._reasoned_form(request, row, initial, f"Change {self.noun} {row}")

    def _reasoned_form(self, request: HttpRequest, row: Any, initial: dict, title: str) -> HttpResponse:
        fixed = self.fixed_fields if row is not None else ()

        class Form(self.form_class):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                for name in fixed:
                    self.fields[name].disabled = True

        def action(data: dict[str, Any]) -> str:
            values = {name: data[name] for name in self.fields_of if name in data}
            saved = self.save_through_service(request.user, row, values, data["reason"])
            self.message_user(request, f"Saved {self.noun} {saved}.", messages.SUCCESS)
            return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

        changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return staff_form_view(
            request,
            model_admin=self,
            title=title,
            form_class=Form,
            submit_label="Save",
            action=action,
            cancel_url=changelist,
            initial=initial,
            context_html=self.row_context(row) if row is not None else "",
        )

    def save_through_service(self, actor, row: Any, values: dict[str, Any], reason: str) -> Any:
        raise NotImplementedError

    def row_context(self, row: Any) -> str:
        return _audit_trail(row)

    def _delete_with_reason(self, request: HttpRequest, queryset: QuerySet, delete) -> HttpResponse | None:
        def apply(rows: list[Any], reason: str) -> str:
            with transaction.atomic():  # all of them or none (a refused row names itself)
                for row in rows:
                    delete(actor=request.user, pk=row.pk, reason=reason)
            return f"{len(rows)} {self.opts.verbose_name_plural} deleted."

        return bulk_action_with_reason(
            self,
            request,
            queryset,
            action_name="delete_with_reason",
            title=f"Delete {self.opts.verbose_name_plural}: why?",
            submit_label="Delete",
            apply=apply,
        )


@admin.register(PxEvent)
class PxEventAdmin(AuditedAdmin):
    """ProphetX seeds the events; staff only map (or unmap) each to its UOF event."""

    list_display = ["sport_event_id", "name", "tournament_name", "scheduled", "event_urn", "status"]
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
        "event_urn",
        "seen_at",
    ]
    form_class = EventMappingForm
    fields_of = ("event_urn",)
    noun = "the mapping of"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_through_service(self, actor, row: PxEvent, values: dict[str, Any], reason: str) -> PxEvent:
        return mappings.map_event(actor=actor, px_event_id=row.pk, event_urn=values["event_urn"], reason=reason)

    def row_context(self, row: PxEvent) -> str:
        return format_html(
            "<p>{} · {} · {} · ProphetX status {}. Blank unmaps it: its lines are then mapped only by"
            " their own line mappings.</p>{}",
            row.name or "-",
            row.tournament_name or "-",
            local_time(row.scheduled) if row.scheduled else "no start time",
            row.status or "-",
            _audit_trail(row),
        )


@admin.register(LineMapping)
class LineMappingAdmin(AuditedAdmin):
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
    readonly_fields = [f.name for f in LineMapping._meta.fields if f.name != "id"]
    actions = ["enable", "disable", "delete_with_reason"]
    form_class = LineMappingForm
    fields_of = mappings.LINE_FIELDS
    fixed_fields = ("line_id",)
    noun = "line mapping"

    def save_through_service(self, actor, row: LineMapping | None, values: dict[str, Any], reason: str) -> LineMapping:
        if row is None:
            return mappings.create_line_mapping(actor=actor, values=values, reason=reason)
        return mappings.update_line_mapping(actor=actor, line_mapping_id=row.pk, values=values, reason=reason)

    def row_context(self, row: LineMapping) -> str:
        registered = f"registered with ProphetX since {local_time(row.registered_at)}" if row.registered else ""
        return format_html(
            "<p>{} mapping, {}; {}. Last changed {}.</p>{}",
            row.get_source_display(),
            "enabled" if row.enabled else "disabled",
            registered or "not registered with ProphetX",
            local_time(row.updated_at),
            _audit_trail(row),
        )

    def _toggle(self, request: HttpRequest, queryset: QuerySet, enabled: bool) -> HttpResponse | None:
        service = mappings.enable_line_mappings if enabled else mappings.disable_line_mappings
        verb = "enable" if enabled else "disable"

        def apply(rows: list[LineMapping], reason: str) -> str:
            count = service(actor=request.user, line_mapping_ids=[row.pk for row in rows], reason=reason)
            sync = "registered with" if enabled else "removed from"
            return f"{count} line(s) {verb}d; they are {sync} ProphetX on the next sync."

        return bulk_action_with_reason(
            self,
            request,
            queryset,
            action_name=verb,
            title=f"{verb.capitalize()} line mappings: why?",
            submit_label=verb.capitalize(),
            apply=apply,
        )

    @admin.action(description="Enable (quote and register as supported)…", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._toggle(request, queryset, True)

    @admin.action(description="Disable (stop quoting, unregister)…", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._toggle(request, queryset, False)

    @admin.action(description="Delete selected line mappings (not registered)…", permissions=["remove"])
    def delete_with_reason(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        def delete(*, actor, pk: int, reason: str) -> None:
            mappings.delete_line_mapping(actor=actor, line_mapping_id=pk, reason=reason)

        return self._delete_with_reason(request, queryset, delete)


@admin.register(CorrelationRule)
class CorrelationRuleAdmin(AuditedAdmin):
    list_display = ["class_a", "class_b", "factor", "blocked", "note", "updated_at"]
    search_fields = ["class_a", "class_b"]
    readonly_fields = ["class_a", "class_b", "factor", "blocked", "note", "updated_at"]
    actions = ["delete_with_reason"]
    form_class = CorrelationRuleForm
    fields_of = mappings.RULE_FIELDS
    noun = "correlation rule"

    def save_through_service(
        self, actor, row: CorrelationRule | None, values: dict[str, Any], reason: str
    ) -> CorrelationRule:
        if row is None:
            return mappings.create_correlation_rule(actor=actor, values=values, reason=reason)
        return mappings.update_correlation_rule(actor=actor, correlation_rule_id=row.pk, values=values, reason=reason)

    @admin.action(description="Delete selected correlation rules…", permissions=["remove"])
    def delete_with_reason(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        def delete(*, actor, pk: int, reason: str) -> None:
            mappings.delete_correlation_rule(actor=actor, correlation_rule_id=pk, reason=reason)

        return self._delete_with_reason(request, queryset, delete)

"""Back office for the Fast Track outbox: status, attempts, last error and payload of every
event; retry and skip actions (audited); the lag figure above the list."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from config.admin_base import local_time, money_column
from config.search import ExactIdSearch
from crm.models import OutboxEvent
from crm.selectors import outbox_stats
from crm.services import MappingError, PayloadBuilder, outbox_retry, outbox_skip
from wallet import money
from wallet.admin_staff import bulk_action_with_reason
from wallet.templatetags.money import money_span

# The list's status column is narrow; the filter and the event's page keep the long labels.
_SHORT_STATUS = {OutboxEvent.Status.SENDING: "Sending", OutboxEvent.Status.DEAD: "Dead letter"}


def _pretty(payload: object) -> str:
    return json.dumps(payload, indent=2, default=str, ensure_ascii=False)


@admin.register(OutboxEvent)
class OutboxEventAdmin(ExactIdSearch, admin.ModelAdmin):
    list_display = [
        "id",
        "activity_id",
        "player",
        "event",
        "amount",
        "state",
        "short_error",
        "occurred_at",
        "delivered_after",
    ]
    list_filter = ["status", "event_type", "event_status", "source", "unlinked", "currency"]
    exact_search = ("activity_id", "player__external_id", "bet__external_id")
    search_help_text = "An activity id, a player id or a bet id, exactly as written."
    list_select_related = ["player"]
    show_full_result_count = False
    date_hierarchy = "occurred_at"
    actions = ["retry_events", "skip_events"]
    fields = [
        "activity_id",
        "player",
        "currency",
        "event_type",
        "event_status",
        "source",
        "unlinked",
        "bet",
        "settlement",
        "transaction",
        "reverses",
        "amount",
        "before",
        "after",
        "exchange_rate",
        "occurred_at",
        "status",
        "attempts",
        "next_attempt_at",
        "leased_until",
        "last_error",
        "delivered_at",
        "payload",
    ]
    readonly_fields = fields

    # Rows change only through delivery and the audited actions: no add, no delete, and the
    # change form is view-only (change permission is still needed to run the actions).
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request)

    before = money_column("balance_before", description="balance before")
    after = money_column("balance_after", description="balance after")

    @admin.display(description="amount")
    def amount(self, row: OutboxEvent) -> str:
        """What the event did to the player's balance."""
        return money_span(row.balance_after - row.balance_before, row.currency, signed=True)

    # The list fits 1,366 px beside the filters: type and rollback in one column, the attempts
    # beside the status, and the delivery as its delay (the exact time is on the event's page).
    @admin.display(description="event", ordering="event_type")
    def event(self, row: OutboxEvent) -> str:
        if row.event_status == OutboxEvent.EventStatus.ROLLBACK:
            return f"{row.get_event_type_display()} rollback"
        return row.get_event_type_display()

    @admin.display(description="status", ordering="status")
    def state(self, row: OutboxEvent) -> str:
        label = _SHORT_STATUS.get(row.status) or row.get_status_display()
        # A delivered row shows its attempts only when it took more than one.
        if row.attempts > 1 or (row.attempts and row.status != OutboxEvent.Status.DELIVERED):
            return f"{label} ({row.attempts} attempt{'s' * (row.attempts > 1)})"
        return label

    @admin.display(description="delivered", ordering="delivered_at")
    def delivered_after(self, row: OutboxEvent) -> str:
        if row.delivered_at is None:
            return "-"
        seconds = max((row.delivered_at - row.occurred_at).total_seconds(), 0.0)
        if seconds < 60:
            delay = f"{seconds:.1f} s"
        elif seconds < 3600:
            delay = f"{seconds / 60:.0f} min"
        else:
            delay = f"{seconds / 3600:.1f} h"
        return format_html('<span title="{}">after {}</span>', local_time(row.delivered_at), delay)

    @admin.display(description="last error")
    def short_error(self, row: OutboxEvent) -> str:
        return (row.last_error[:80] + "…") if len(row.last_error) > 80 else row.last_error

    @admin.display(description="payload")
    def payload(self, row: OutboxEvent) -> str:
        if row.body:
            text, note = _pretty(money.loads(row.body)), "as sent"
        else:
            try:
                text, note = _pretty(PayloadBuilder([row]).payload(row)), "preview: not sent yet"
            except MappingError as exc:
                text, note = str(exc), "cannot be built"
        return format_html("<p>{}</p><pre style='white-space: pre-wrap'>{}</pre>", note, text)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "outbox_stats": outbox_stats()}
        return super().changelist_view(request, extra_context=extra_context)

    def _act(self, request: HttpRequest, queryset: QuerySet[OutboxEvent], action, verb: str, name: str):
        def apply(rows: list[OutboxEvent], reason: str) -> str:
            result = action(event_ids=[r.pk for r in rows], actor_id=request.user.pk, reason=reason)
            if result.refused:
                self.message_user(
                    request,
                    f"{len(result.refused)} event(s) left alone: not in a state that allows it",
                    messages.WARNING,
                )
            return f"{len(result.changed)} event(s) {verb}"

        return bulk_action_with_reason(
            self,
            request,
            queryset,
            action_name=name,
            title=f"{verb.capitalize()}: why?",
            submit_label=name.split("_")[0].capitalize(),
            apply=apply,
        )

    @admin.action(description="Retry selected events (send again)…", permissions=["change"])
    def retry_events(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]):
        return self._act(request, queryset, outbox_retry, "queued for delivery", "retry_events")

    @admin.action(description="Skip selected events (never send; unblocks the player)…", permissions=["change"])
    def skip_events(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]):
        return self._act(request, queryset, outbox_skip, "skipped", "skip_events")

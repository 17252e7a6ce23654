"""The pieces of the wallet back office that staff act through: small forms (each calls one
service), the intermediate page of a bulk action that asks for a typed reason, and the bet
history table every money page shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from config.admin_base import local_time
from wallet.currencies import CURRENCIES
from wallet.errors import WalletError
from wallet.models import Bet, Player
from wallet.money import format_money
from wallet.services import backoffice


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=5,
        help_text="Mandatory; kept in the audit log.",
    )


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False)


class AdjustmentForm(forms.Form):
    currency = forms.ChoiceField(choices=[(c, c) for c in sorted(CURRENCIES)])
    amount = forms.DecimalField(max_digits=30, decimal_places=8, help_text="Negative takes money from the player.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), min_length=5)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Player.Status.choices)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=5,
        help_text="Mandatory; kept in the audit log and shown on the player's history.",
    )


def staff_form_view(
    request: HttpRequest,
    *,
    model_admin: admin.ModelAdmin,
    title: str,
    form_class: type[forms.Form],
    submit_label: str,
    cancel_url: str,
    action: Callable[[dict[str, Any]], str],
    context_html: str = "",
    initial: dict[str, Any] | None = None,
) -> HttpResponse:
    """Render a small form; on submit run `action(cleaned_data)` (a service call) and redirect
    to what it returns. A refusal from the service is shown on the form, nothing is applied."""
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            target = action(form.cleaned_data)
        except WalletError as error:
            form.add_error(None, error.message)
        else:
            return redirect(target)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "submit_label": submit_label,
        "cancel_url": cancel_url,
        "context_html": context_html,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/wallet/action_form.html", context)


def bulk_action_with_reason(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action_name: str,
    title: str,
    submit_label: str,
    apply: Callable[[list[Any], str], str],
    form_class: type[forms.Form] = ReasonForm,
) -> HttpResponse | None:
    """An admin action that first asks for a typed reason (one for all selected rows).

    The first call (from the action menu) renders the form; its submit comes back to the same
    action with the reason, which `apply(rows, reason)` passes to the service; what it returns
    is shown as a success message."""
    form = form_class(request.POST if "_confirm" in request.POST else None)
    if "_confirm" in request.POST and form.is_valid():
        try:
            done = apply(list(queryset), form.cleaned_data["reason"])
        except WalletError as error:
            model_admin.message_user(request, error.message, messages.ERROR)
        else:
            model_admin.message_user(request, done, messages.SUCCESS)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "rows": queryset,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/wallet/bulk_reason_form.html", context)


def bet_history_html(bet: Bet | None, user=None, *, reversal_links: bool = True) -> str:
    """The bet and every step of its result history, each linked to its settlement and ledger
    transaction; the latest step offers *Request reversal* to a user who may ask for one."""
    if bet is None:
        return "-"
    steps = list(bet.settlements.select_related("transaction").order_by("id"))
    cur = bet.currency
    may_request = user is not None and user.has_perm("wallet.request_reversal")
    rows = []
    for step in steps:
        moved = step.amount - step.previous_amount
        action = ""
        if reversal_links and may_request and backoffice.reversal_refusal(step) is None:
            action = format_html(
                '<a class="button" id="request-reversal-{}" href="{}">Request reversal</a>',
                step.pk,
                reverse("admin:wallet_settlement_reverse", args=[step.pk]),
            )
        rows.append(
            (
                reverse("admin:wallet_settlement_change", args=[step.pk]),
                step.pk,
                step.get_kind_display(),
                local_time(step.created_at),
                step.result or "-",
                format_money(step.previous_amount, cur),
                format_money(step.amount, cur),
                format_money(moved, cur, signed=True) if moved else "—",
                _txn_link(step),
                action,
            )
        )
    body = format_html_join(
        "",
        '<tr><td><a href="{}">#{} {}</a></td><td class="wrap">{}</td><td>{}</td><td class="num">{}</td>'
        '<td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>',
        rows,
    )
    return format_html(
        '<p>Bet <a href="{}"><b>{}</b></a> ({}) stake {} — {}, payout in force {}</p>'
        '<table class="tl-table"><thead><tr><th>step</th><th>when</th><th>result</th><th>payout before</th>'
        "<th>payout after</th><th>player moved</th><th>ledger txn</th><th></th></tr></thead><tbody>{}</tbody></table>",
        reverse("admin:wallet_bet_change", args=[bet.pk]),
        bet.external_id,
        bet.provider,
        format_money(bet.stake, cur),
        bet.get_status_display().lower(),
        format_money(bet.payout, cur),
        body,
    )


def _txn_link(step) -> str:
    if step.transaction_id is None:
        return "—"
    return format_html(
        '<a href="{}" title="ledger transaction">#{}</a>',
        reverse("admin:wallet_ledgertransaction_change", args=[step.transaction_id]),
        step.transaction_id,
    )

"""Back office: a player's protection panel (limits in force, usage this period, pending
changes, history) where Risk sets and lifts protection with a reason, and a second Risk person
approves lifting a self-exclusion early. Every change goes through wallet.services.protection,
which enforces the permissions and the cooling rule. Hooked in by one import in wallet/admin.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from config.admin_base import ReadOnlyAdmin
from wallet import conf, money
from wallet.errors import WalletError
from wallet.models import Player, ProtectionChange
from wallet.protection_models import LIMIT_FIELDS
from wallet.services import protection

Field = ProtectionChange.Field


class ChangeForm(forms.Form):
    field = forms.ChoiceField(choices=Field.choices)
    value = forms.CharField(
        required=False,
        help_text="Blank removes (a limit) or ends (a time-out). Money: 50.00. Bets: 10. Time-out and"
        ' self-exclusion: 2026-12-31T18:00 (operator time) or "indefinite". Date of birth: YYYY-MM-DD.'
        " Verification: unverified, verified or failed. Jurisdiction: a code.",
    )
    currency = forms.CharField(required=False, max_length=8, help_text="For money limits: the wallet.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), min_length=5)

    def changes(self) -> dict[str, Any]:
        field, text = self.cleaned_data["field"], self.cleaned_data["value"].strip()
        if field == Field.BETS_DAY:
            value: Any = int(text) if text.isdigit() else (None if text == "" else text)
        elif field == Field.JURISDICTION:
            value = text
        else:
            value = text or None
        return protection.parse_changes({field: value}, self.cleaned_data["currency"].strip().upper())


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), min_length=5)


def _show(text: str | None, field: str, currency: str) -> str:
    if text is None:
        return "—"
    return text if field == "bets_day" else money.format_money(Decimal(text), currency)


def _limit_rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for wallet in state["wallets"]:
        currency = wallet["currency"]
        for field in LIMIT_FIELDS:
            entry = wallet["limits"][field]
            rows.append(
                {
                    "currency": currency,
                    "label": Field(field).label,
                    "limit": _show(entry["limit"], field, currency) if entry["limit"] is not None else "no limit",
                    "used": _show(entry["used"], field, currency),
                }
            )
    return rows


@admin.register(ProtectionChange)
class ProtectionChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "requested_at", "player", "field", "currency", "old_value", "new_value", "status"]
    list_filter = ["status", "field", "source", "requested_at"]
    search_fields = ["player__external_id", "reason", "reference"]
    list_select_related = ["player"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("player/<int:pk>/", view(self.panel_view), name="wallet_protection_panel"),
            path("<int:pk>/decide/", view(self.decide_view), name="wallet_protection_decide"),
            *super().get_urls(),
        ]

    def panel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not (request.user.has_perm("wallet.view_protectionchange") or request.user.has_perm("wallet.view_player")):
            raise DjangoPermissionDenied
        player = get_object_or_404(Player, pk=pk)
        change_form = ChangeForm(request.POST if request.POST.get("do") == "change" else None)
        lift_form = ReasonForm(request.POST if request.POST.get("do") == "lift" else None, prefix="lift")
        if request.method == "POST":
            try:
                if request.POST.get("do") == "change" and change_form.is_valid():
                    made = protection.protection_change(
                        player=player,
                        changes=change_form.changes(),
                        currency=change_form.cleaned_data["currency"].strip().upper(),
                        reason=change_form.cleaned_data["reason"],
                        actor=request.user,
                        source="admin",
                    )
                    self.message_user(request, _summary(made), messages.SUCCESS)
                    return redirect(request.path)
                if request.POST.get("do") == "lift" and lift_form.is_valid():
                    protection.exclusion_lift_request(
                        player=player, reason=lift_form.cleaned_data["reason"], actor=request.user
                    )
                    self.message_user(request, "Early lift requested: a second person must approve it.")
                    return redirect(request.path)
            except WalletError as error:
                self.message_user(request, error.message, messages.ERROR)
        state = protection.protection_state(player)
        rules = conf.jurisdiction(player.jurisdiction)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Protection of {player.external_id}",
            "opts": Player._meta,
            "player": player,
            "state": state,
            "limit_rows": _limit_rows(state),
            "changes": ProtectionChange.objects.filter(player=player).select_related("requested_by", "approved_by")[
                :50
            ],
            "change_form": change_form,
            "lift_form": lift_form,
            "can_lift": state["self_excluded_until"] is not None and rules.early_lift == "four_eyes",
            "can_manage": request.user.has_perm(protection.MANAGE),
            "can_approve": request.user.has_perm(protection.APPROVE_LIFT),
        }
        return TemplateResponse(request, "admin/wallet/protection_panel.html", context)

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(ProtectionChange, pk=pk)
        if request.method == "POST":
            try:
                protection.exclusion_lift_decide(
                    change_id=pk,
                    approve=request.POST.get("approve") == "1",
                    note=request.POST.get("note", ""),
                    actor=request.user,
                )
                self.message_user(request, "Decision recorded.", messages.SUCCESS)
            except WalletError as error:
                self.message_user(request, error.message, messages.ERROR)
        return redirect(reverse("admin:wallet_protection_panel", args=[change.player_id]))


def _summary(made: list[ProtectionChange]) -> str:
    if not made:
        return "Nothing changed."
    return "; ".join(
        f"{c.get_field_display()}: {c.new_value or 'none'} "
        + ("applied" if c.status == ProtectionChange.Status.APPLIED else f"from {c.effective_at:%Y-%m-%d %H:%M} UTC")
        for c in made
    )

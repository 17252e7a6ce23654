"""Back-office views of the wallet. Money records are read-only here: corrections go through
services (reversals, adjustments) that write compensating entries and an audit row."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from config.admin_base import ReadOnlyAdmin, ReadOnlyInline
from wallet import admin_protection  # noqa: F401  (registers the player protection panel)
from wallet.currencies import CURRENCIES
from wallet.errors import WalletError
from wallet.models import (
    Account,
    AuditLog,
    Bet,
    Debt,
    IdempotencyConflict,
    IdempotencyRecord,
    LedgerEntry,
    LedgerTransaction,
    Player,
    ReviewItem,
    Settlement,
    StaffRequest,
)
from wallet.services import backoffice, reviews
from wallet.services.players import player_set_status


class AccountInline(ReadOnlyInline):
    model = Account
    fields = ["currency", "balance", "bonus_balance", "debt_balance", "ledger_link"]
    readonly_fields = fields

    @admin.display(description="ledger")
    def ledger_link(self, account: Account) -> str:
        url = reverse("admin:wallet_ledgerentry_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">entries</a>', url)


class BetInline(ReadOnlyInline):
    model = Bet
    fields = ["provider", "external_id", "currency", "stake", "payout", "status", "result", "placed_at"]
    readonly_fields = fields
    ordering = ["-id"]
    max_num = 20


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "status", "is_test", "balances", "created_at"]
    list_filter = ["status", "is_test", "created_at"]
    search_fields = ["external_id", "nickname"]
    readonly_fields = ["external_id", "status", "created_at", "updated_at"]
    fields = ["external_id", "status", "is_test", "nickname", "country", "created_at", "updated_at"]
    inlines = [AccountInline, BetInline]
    actions = ["block_players", "unblock_players"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Player]:
        return super().get_queryset(request).prefetch_related("accounts")

    @admin.display(description="balances (real / bonus)")
    def balances(self, player: Player) -> str:
        return ", ".join(f"{a.currency} {a.balance:.2f} / {a.bonus_balance:.2f}" for a in player.accounts.all())

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_view)
        return [path("<int:pk>/adjust/", adjust, name="wallet_player_adjust"), *super().get_urls()]

    def adjust_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _player_adjust_view(self, request, pk)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Player], status: str) -> None:
        for player in queryset:
            player_set_status(
                player=player, status=status, reason=f"admin action by {request.user}", actor_id=request.user.pk
            )
        self.message_user(request, f"{queryset.count()} player(s) set to {status}", messages.SUCCESS)

    @admin.action(description="Block selected players", permissions=["change"])
    def block_players(self, request: HttpRequest, queryset: QuerySet[Player]) -> None:
        self._set_status(request, queryset, Player.Status.BLOCKED)

    @admin.action(description="Unblock selected players", permissions=["change"])
    def unblock_players(self, request: HttpRequest, queryset: QuerySet[Player]) -> None:
        self._set_status(request, queryset, Player.Status.ACTIVE)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "player", "provider", "currency", "balance", "bonus_balance", "debt_balance"]
    list_filter = ["kind", "currency", "provider"]
    search_fields = ["player__external_id"]
    list_select_related = ["player"]


class EntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["account", "bucket", "amount", "balance_after"]
    readonly_fields = fields
    show_change_link = False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "player", "currency", "provider", "external_id", "bet", "reverses", "created_at"]
    list_filter = ["kind", "provider", "currency", "created_at"]
    search_fields = ["external_id", "player__external_id", "bet__external_id", "=id"]
    list_select_related = ["player", "bet"]
    date_hierarchy = "created_at"
    inlines = [EntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "bucket", "amount", "balance_after"]
    list_filter = ["bucket", "account__kind", "account__currency"]
    search_fields = ["account__player__external_id", "transaction__external_id"]
    list_select_related = ["transaction", "account"]


class SettlementInline(ReadOnlyInline):
    model = Settlement
    fields = ["kind", "result", "previous_amount", "amount", "external_id", "transaction", "created_at", "created_by"]
    readonly_fields = fields
    show_change_link = False


@admin.register(Bet)
class BetAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "provider",
        "external_id",
        "player",
        "currency",
        "stake",
        "payout",
        "status",
        "result",
        "placed_at",
    ]
    list_filter = ["provider", "status", "bet_type", "currency", "placed_at"]
    search_fields = ["external_id", "player__external_id"]
    list_select_related = ["player"]
    date_hierarchy = "placed_at"
    inlines = [SettlementInline]


class SettlementAdmin(ReadOnlyAdmin):
    list_display = ["id", "bet", "player", "kind", "result", "previous_amount", "amount", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["bet__external_id", "player__external_id", "external_id"]
    list_select_related = ["bet", "player"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "provider", "operation", "external_id", "outcome", "error_code", "transaction", "created_at"]
    list_filter = ["provider", "operation", "outcome", "created_at"]
    search_fields = ["external_id"]


@admin.register(IdempotencyConflict)
class IdempotencyConflictAdmin(ReadOnlyAdmin):
    list_display = ["id", "provider", "operation", "external_id", "resolved", "created_at"]
    list_filter = ["provider", "resolved", "created_at"]
    search_fields = ["external_id"]


@admin.register(Debt)
class DebtAdmin(ReadOnlyAdmin):
    list_display = ["id", "player", "currency", "amount", "status", "transaction", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["player__external_id"]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor", "action", "object_type", "object_id", "reason"]
    list_filter = ["action", "created_at"]
    search_fields = ["object_id", "reason", "actor__username"]
    date_hierarchy = "created_at"


# --- Staff actions on money -----------------------------------------------------------------


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


def staff_form_view(
    request, *, model_admin, title, form_class, submit_label, cancel_url, action, context_html="", initial=None
) -> HttpResponse:
    """Render a small form; on submit run `action(cleaned_data)` (a service call) and report."""
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            target = action(form.cleaned_data)
        except WalletError as error:
            form.add_error(None, error.message)
            model_admin.message_user(request, error.message, messages.ERROR)
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


def _bet_history_html(bet: Bet | None) -> str:
    if bet is None:
        return ""
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (s.created_at.strftime("%Y-%m-%d %H:%M:%S"), s.get_kind_display(), s.result, s.previous_amount, s.amount)
            for s in bet.settlements.all()
        ),
    )
    return format_html(
        "<p>Bet <b>{}</b> ({}) stake {} {} — status {}, payout {}</p>"
        "<table><tr><th>when</th><th>step</th><th>result</th><th>from</th><th>to</th></tr>{}</table>",
        bet.external_id,
        bet.provider,
        bet.stake,
        bet.currency,
        bet.status,
        bet.payout,
        rows,
    )


@admin.register(Settlement)
class SettlementReviewAdmin(SettlementAdmin):
    def get_urls(self):
        return [
            path("<int:pk>/reverse/", self.admin_site.admin_view(self.reverse_view), name="wallet_settlement_reverse"),
            *super().get_urls(),
        ]

    def reverse_view(self, request, pk: int):
        step = get_object_or_404(Settlement.objects.select_related("bet", "player"), pk=pk)

        def action(data):
            created = backoffice.reversal_request(settlement_id=step.pk, reason=data["reason"], actor=request.user)
            self.message_user(request, f"Reversal request #{created.pk} is waiting for approval.", messages.SUCCESS)
            return reverse("admin:wallet_staffrequest_change", args=[created.pk])

        return staff_form_view(
            request,
            model_admin=self,
            title=f"Request reversal of {step.get_kind_display().lower()} #{step.pk}",
            form_class=ReasonForm,
            submit_label="Request reversal",
            action=action,
            cancel_url=reverse("admin:wallet_settlement_change", args=[step.pk]),
            context_html=_bet_history_html(step.bet),
        )


@admin.register(StaffRequest)
class StaffRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "player",
        "currency",
        "amount",
        "requested_by",
        "requested_at",
        "decided_by",
    ]
    list_filter = ["status", "kind", "requested_at"]
    search_fields = ["player__external_id", "reason"]
    list_select_related = ["player", "requested_by", "decided_by"]
    readonly_fields = [
        "kind",
        "status",
        "player",
        "currency",
        "settlement",
        "amount",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "transaction",
        "history",
    ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None:
            perm = "approve_reversal" if obj.kind == StaffRequest.Kind.SETTLEMENT_REVERSAL else "approve_adjustment"
            extra_context = {**(extra_context or {}), "can_decide": request.user.has_perm(f"wallet.{perm}")}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="bet history")
    def history(self, obj: StaffRequest) -> str:
        return _bet_history_html(obj.settlement.bet if obj.settlement_id else None)

    def get_urls(self):
        return [
            path(
                "<int:pk>/approve/", self.admin_site.admin_view(self.approve_view), name="wallet_staffrequest_approve"
            ),
            path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view), name="wallet_staffrequest_reject"),
            *super().get_urls(),
        ]

    def _decide(self, request, pk: int, *, approve: bool):
        staff_request = get_object_or_404(StaffRequest, pk=pk)
        back = reverse("admin:wallet_staffrequest_change", args=[pk])

        def action(data):
            if approve:
                backoffice.staff_request_approve(request_id=pk, actor=request.user, note=data["note"])
                self.message_user(request, f"Request #{pk} approved and applied.", messages.SUCCESS)
            else:
                backoffice.staff_request_reject(request_id=pk, actor=request.user, note=data["note"])
                self.message_user(request, f"Request #{pk} rejected.", messages.SUCCESS)
            return back

        verb = "Approve and apply" if approve else "Reject"
        return staff_form_view(
            request,
            model_admin=self,
            title=f"{verb} {staff_request}",
            form_class=NoteForm if approve else ReasonForm,
            submit_label=verb,
            cancel_url=back,
            action=action if approve else (lambda d: action({"note": d["reason"]})),
            context_html=format_html(
                "<p>{}: {} {} — {}</p>",
                staff_request.get_kind_display(),
                staff_request.amount,
                staff_request.currency,
                staff_request.reason,
            ),
        )

    def approve_view(self, request, pk: int):
        return self._decide(request, pk, approve=True)

    def reject_view(self, request, pk: int):
        return self._decide(request, pk, approve=False)


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kind", "status", "player", "summary"]
    list_filter = ["status", "kind", "created_at"]
    search_fields = ["summary", "player__external_id", "bet__external_id"]
    list_select_related = ["player"]
    readonly_fields = [
        "kind",
        "status",
        "player",
        "bet",
        "settlement",
        "debt",
        "conflict",
        "summary",
        "created_at",
        "resolved_by",
        "resolved_at",
        "resolution",
        "history",
        "postings",
        "balances",
    ]

    @admin.display(description="bet history")
    def history(self, item: ReviewItem) -> str:
        return _bet_history_html(item.bet)

    @admin.display(description="ledger postings")
    def postings(self, item: ReviewItem) -> str:
        if item.bet_id is None:
            return "-"
        entries = LedgerEntry.objects.filter(transaction__bet_id=item.bet_id).select_related("transaction", "account")
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((e.transaction_id, e.transaction.kind, e.account, e.bucket, e.amount) for e in entries),
            ),
        )

    @admin.display(description="player balances")
    def balances(self, item: ReviewItem) -> str:
        if item.player_id is None:
            return "-"
        return ", ".join(
            f"{a.currency}: {a.balance} real, {a.bonus_balance} bonus, {-a.debt_balance} owed"
            for a in Account.objects.filter(player_id=item.player_id, kind=Account.Kind.PLAYER)
        )

    def get_urls(self):
        return [
            path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_view), name="wallet_reviewitem_resolve"),
            *super().get_urls(),
        ]

    def resolve_view(self, request, pk: int):
        back = reverse("admin:wallet_reviewitem_changelist")

        def action(data):
            reviews.review_item_resolve(item_id=pk, actor=request.user, resolution=data["reason"])
            self.message_user(request, f"Review item #{pk} resolved.", messages.SUCCESS)
            return back

        return staff_form_view(
            request,
            model_admin=self,
            title=f"Resolve review item #{pk}",
            form_class=ReasonForm,
            submit_label="Resolve",
            cancel_url=back,
            action=action,
        )


def _player_adjust_view(model_admin: PlayerAdmin, request, pk: int):
    player = get_object_or_404(Player, pk=pk)

    def action(data):
        created = backoffice.adjustment_request(
            player_external_id=player.external_id,
            currency=data["currency"],
            amount=Decimal(data["amount"]),
            reason=data["reason"],
            actor=request.user,
        )
        model_admin.message_user(
            request, f"Adjustment request #{created.pk} is waiting for approval.", messages.SUCCESS
        )
        return reverse("admin:wallet_staffrequest_change", args=[created.pk])

    return staff_form_view(
        request,
        model_admin=model_admin,
        title=f"Request a balance adjustment for {player}",
        form_class=AdjustmentForm,
        submit_label="Request adjustment",
        action=action,
        cancel_url=reverse("admin:wallet_player_change", args=[pk]),
    )


admin.site.site_header = "Touchline back office"
admin.site.site_title = "Touchline"

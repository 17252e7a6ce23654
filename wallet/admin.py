"""Back-office views of the wallet. Money records are read-only here: corrections go through
services (reversals, adjustments) that write compensating entries and an audit row. Every
amount is shown through the money formatter, with its currency.

Bets, settlements, staff requests and the review queue are in wallet/admin_money.py, the
staff forms and bulk-action pages in wallet/admin_staff.py, the staff users list in
wallet/admin_users.py."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config.admin_base import ReadOnlyAdmin, ReadOnlyInline, local_time, money_column
from config.search import ExactIdSearch
from wallet import admin_money, admin_protection, admin_users  # noqa: F401 - money pages; protection panel; staff
from wallet.admin_filters import AccountCurrencyFilter, CurrencyFilter, ProviderFilter
from wallet.admin_staff import (
    AdjustmentForm,
    StatusForm,
    bulk_action_with_reason,
    staff_form_view,
)
from wallet.currencies import CURRENCIES
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
)
from wallet.money import format_money
from wallet.services import backoffice
from wallet.services.players import player_create, player_set_status
from wallet.templatetags.money import money_span

# --- Players ------------------------------------------------------------------------------------


class AccountInline(ReadOnlyInline):
    model = Account
    fields = ["currency", "real", "bonus", "owed", "ledger_link"]
    readonly_fields = fields
    show_change_link = False

    real = money_column("balance", description="real money")
    bonus = money_column("bonus_balance", description="bonus")
    owed = money_column("debt_balance", description="debt")

    @admin.display(description="ledger")
    def ledger_link(self, account: Account) -> str:
        url = reverse("admin:wallet_ledgerentry_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">entries</a>', url)


RECENT_BETS = 20


class PlayerAddForm(forms.ModelForm):
    """The admin's *Add player*: the same checks and service as the operator API."""

    currencies = forms.MultipleChoiceField(
        choices=[(c, c) for c in sorted(CURRENCIES)],
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="One wallet is opened per currency.",
    )

    class Meta:
        model = Player
        fields = ["external_id", "nickname", "country", "is_test"]


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "nickname", "status", "is_test", "balances", "created_at"]
    list_filter = ["status", "is_test"]
    search_fields = ["=external_id", "nickname"]
    fields = ["external_id", "status", "is_test", "nickname", "country", "created_at", "updated_at"] + [
        "recent_bets",
        "audit",
    ]
    inlines = [AccountInline]
    readonly_fields = ["external_id", "status", "created_at", "updated_at", "recent_bets", "audit"]
    actions = ["block_players", "unblock_players"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Player]:
        return super().get_queryset(request).prefetch_related("accounts")

    @admin.display(description="balances (real; bonus)")
    def balances(self, player: Player) -> str:
        parts = []
        for account in sorted(player.accounts.all(), key=lambda a: a.currency):
            text = money_span(account.balance, account.currency)
            if account.bonus_balance:
                text = format_html("{}; {} bonus", text, money_span(account.bonus_balance, account.currency))
            parts.append(text)
        return format_html_join(mark_safe("<br>"), "{}", ((p,) for p in parts)) or "-"

    @admin.display(description="recent bets")
    def recent_bets(self, player: Player) -> str:
        """The latest bets (an inline would render every bet a player ever placed)."""
        bets = list(Bet.objects.filter(player=player).order_by("-id")[:RECENT_BETS])
        if not bets:
            return "No bets."
        everything = reverse("admin:wallet_bet_changelist") + f"?player__id__exact={player.pk}"
        return format_html(
            '<table class="tl-table" id="recent-bets"><thead><tr><th>bet</th><th>provider</th><th>stake</th>'
            "<th>payout</th><th>status</th><th>result</th><th>placed</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All bets of {}</a></p>',
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="num">{}</td><td class="num">{}</td>'
                "<td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        reverse("admin:wallet_bet_change", args=[b.pk]),
                        b.external_id,
                        b.provider,
                        money_span(b.stake, b.currency),
                        money_span(b.payout, b.currency),
                        b.get_status_display(),
                        b.result or "-",
                        local_time(b.placed_at),
                    )
                    for b in bets
                ),
            ),
            everything,
            player.external_id,
        )

    @admin.display(description="audit (status changes and their reasons)")
    def audit(self, player: Player) -> str:
        rows = AuditLog.objects.filter(object_type="wallet.Player", object_id=str(player.pk)).select_related("actor")
        everything = reverse("admin:wallet_auditlog_changelist") + f"?object_type=wallet.Player&q={player.pk}"
        return audit_table(rows.order_by("-id")[:20], everything, "All audit rows of this player")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = PlayerAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["external_id", "currencies", "nickname", "country", "is_test"]
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Player, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = player_create(
            external_id=obj.external_id,
            currencies=form.cleaned_data["currencies"],
            is_test=obj.is_test,
            nickname=obj.nickname,
            country=obj.country,
            actor_id=request.user.pk,
        )
        obj.pk = created.pk
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/adjust/", wrap(self.adjust_view), name="wallet_player_adjust"),
            path("<int:pk>/status/", wrap(self.status_view), name="wallet_player_status"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "may_adjust": request.user.has_perm("wallet.request_adjustment"),
            "may_change_status": request.user.has_perm("wallet.change_player"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def adjust_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        player = get_object_or_404(Player, pk=pk)

        def action(data):
            created = backoffice.adjustment_request(
                player_external_id=player.external_id,
                currency=data["currency"],
                amount=Decimal(data["amount"]),
                reason=data["reason"],
                actor=request.user,
            )
            self.message_user(
                request,
                f"Adjustment request #{created.pk} of {format_money(created.amount, created.currency, signed=True)}"
                " is waiting for approval.",
                messages.SUCCESS,
            )
            return reverse("admin:wallet_staffrequest_change", args=[created.pk])

        currencies = list(player.accounts.filter(kind=Account.Kind.PLAYER).values_list("currency", flat=True))
        return staff_form_view(
            request,
            model_admin=self,
            title=f"Request a balance adjustment for {player}",
            form_class=AdjustmentForm,
            submit_label="Request adjustment",
            action=action,
            cancel_url=reverse("admin:wallet_player_change", args=[pk]),
            initial={"currency": currencies[0] if currencies else None},
            context_html=format_html(
                "<p>Balances: {}. Above {} a second person must approve.</p>",
                ", ".join(format_money(a.balance, a.currency) for a in player.accounts.all()),
                backoffice.conf.FOUR_EYES_AMOUNT,
            ),
        )

    def status_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        player = get_object_or_404(Player, pk=pk)
        back = reverse("admin:wallet_player_change", args=[pk])
        if not request.user.has_perm("wallet.change_player"):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied

        def action(data):
            player_set_status(player=player, status=data["status"], reason=data["reason"], actor_id=request.user.pk)
            self.message_user(request, f"{player} is now {Player.Status(data['status']).label}.", messages.SUCCESS)
            return back

        return staff_form_view(
            request,
            model_admin=self,
            title=f"Change the status of {player} (now {player.get_status_display().lower()})",
            form_class=StatusForm,
            submit_label="Change status",
            action=action,
            cancel_url=back,
            initial={"status": player.status},
        )

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Player], status: str, verb: str):
        def apply(players: list[Player], reason: str) -> str:
            for player in players:
                player_set_status(player=player, status=status, reason=reason, actor_id=request.user.pk)
            return f"{len(players)} player(s) {verb}."

        return bulk_action_with_reason(
            self,
            request,
            queryset,
            action_name=f"{verb.split()[0]}_players",
            title=f"{verb.split()[0].capitalize()} players: why?",
            submit_label=verb.split()[0].capitalize(),
            apply=apply,
        )

    @admin.action(description="Block selected players…", permissions=["change"])
    def block_players(self, request: HttpRequest, queryset: QuerySet[Player]):
        return self._set_status(request, queryset, Player.Status.BLOCKED, "block")

    @admin.action(description="Unblock selected players…", permissions=["change"])
    def unblock_players(self, request: HttpRequest, queryset: QuerySet[Player]):
        return self._set_status(request, queryset, Player.Status.ACTIVE, "unblock")


# --- Ledger ---------------------------------------------------------------------------------------


def _house_balance(account: Account) -> Decimal:
    """House accounts keep no running balance (one hot row would serialise every bet): the sum
    of their entries is their balance."""
    return LedgerEntry.objects.filter(account_id=account.pk, bucket=LedgerEntry.Bucket.REAL).aggregate(s=Sum("amount"))[
        "s"
    ] or Decimal(0)


@admin.register(Account)
class AccountAdmin(ExactIdSearch, ReadOnlyAdmin):
    list_display = ["id", "kind", "player", "provider", "currency", "real", "bonus", "owed"]
    list_filter = ["kind", CurrencyFilter, ProviderFilter]
    exact_search = ("player__external_id",)
    search_help_text = "A player id, exactly as written."
    list_select_related = ["player"]
    readonly_fields = ["kind", "player", "provider", "currency", "real", "bonus", "owed", "created_at"]
    fields = readonly_fields
    show_full_result_count = False

    @admin.display(description="real money (house: sum of entries)", ordering="balance")
    def real(self, account: Account) -> str:
        if account.kind == Account.Kind.PLAYER:
            return money_span(account.balance, account.currency)
        return money_span(_house_balance(account), account.currency)

    @admin.display(description="bonus", ordering="bonus_balance")
    def bonus(self, account: Account) -> str:
        return money_span(account.bonus_balance, account.currency) if account.kind == Account.Kind.PLAYER else "—"

    @admin.display(description="debt", ordering="debt_balance")
    def owed(self, account: Account) -> str:
        return money_span(account.debt_balance, account.currency) if account.kind == Account.Kind.PLAYER else "—"


class EntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["account", "bucket", "amount_col", "after"]
    readonly_fields = fields
    show_change_link = False

    amount_col = money_column("amount", currency="account__currency", signed=True)
    after = money_column("balance_after", currency="account__currency", description="balance after")

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEntry]:
        return super().get_queryset(request).select_related("account")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ExactIdSearch, ReadOnlyAdmin):
    list_display = ["id", "kind", "player", "player_amount", "provider", "external_id", "bet", "created_at"]
    list_filter = ["kind", ProviderFilter, CurrencyFilter]
    exact_search = ("external_id", "player__external_id", "bet__external_id", "id")
    search_help_text = "A provider transaction id, a player id, a bet id or a transaction number, exactly as written."
    list_select_related = ["player", "bet"]
    show_full_result_count = False
    inlines = [EntryInline]

    @admin.display(description="player amount")
    def player_amount(self, txn: LedgerTransaction) -> str:
        """What the transaction did to the player's money (house-only movements: their size)."""
        entries = list(txn.entries.all())
        mine = [e.amount for e in entries if e.account.kind == Account.Kind.PLAYER]
        if mine:
            return money_span(sum(mine, Decimal(0)), txn.currency, signed=True)
        moved = sum((e.amount for e in entries if e.amount > 0), Decimal(0))
        return money_span(moved, txn.currency)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerTransaction]:
        return super().get_queryset(request).prefetch_related("entries__account")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ExactIdSearch, ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "bucket", "amount_col", "after"]
    list_filter = ["bucket", "account__kind", AccountCurrencyFilter]
    exact_search = ("account__player__external_id", "transaction__external_id")
    search_help_text = "A player id or a provider transaction id, exactly as written."
    list_select_related = ["transaction", "account"]
    show_full_result_count = False

    amount_col = money_column("amount", currency="account__currency", signed=True)
    after = money_column("balance_after", currency="account__currency", description="balance after")
    readonly_fields = ["transaction", "account", "bucket", "amount_col", "after"]
    fields = readonly_fields


# --- Provider requests, debts, audit ----------------------------------------------------------------


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ExactIdSearch, ReadOnlyAdmin):
    list_display = ["id", "provider", "operation", "external_id", "outcome", "error_code", "transaction", "created_at"]
    list_filter = [ProviderFilter, "operation", "outcome"]
    exact_search = ("external_id",)
    show_full_result_count = False


@admin.register(IdempotencyConflict)
class IdempotencyConflictAdmin(ExactIdSearch, ReadOnlyAdmin):
    list_display = ["id", "provider", "operation", "external_id", "resolved", "created_at"]
    list_filter = [ProviderFilter, "resolved"]
    exact_search = ("external_id",)


@admin.register(Debt)
class DebtAdmin(ExactIdSearch, ReadOnlyAdmin):
    list_display = ["id", "player", "amount_col", "status", "transaction", "created_at"]
    list_filter = ["status", CurrencyFilter]
    exact_search = ("player__external_id",)
    search_help_text = "A player id, exactly as written."
    list_select_related = ["player", "transaction"]

    amount_col = money_column("amount", description="owed")


def audit_object_link(row: AuditLog) -> str:
    """The audited object's admin page, when it has one."""
    if not row.object_type or not row.object_id:
        return "-"
    try:
        model = apps.get_model(row.object_type)
        meta = model._meta
        meta.pk.to_python(row.object_id)  # a user name in place of an id (login lockouts): no link
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.object_id])
    except (LookupError, ValueError, ValidationError, NoReverseMatch):
        return f"{row.object_type}:{row.object_id}"
    return format_html('<a href="{}">{} #{}</a>', url, meta.verbose_name, row.object_id)


def audit_table(rows, more_url: str, more_label: str, *, show_actor: bool = True) -> str:
    """Audit rows as a table (newest first), each linked to its object, and a link to the rest."""
    rows = list(rows)
    if not rows:
        return "No audited actions."
    return format_html(
        '<table class="tl-table" id="audit-trail"><thead><tr><th>when</th>{}<th>action</th><th>object</th>'
        '<th>reason</th></tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
        mark_safe("<th>who</th>") if show_actor else "",
        format_html_join(
            "",
            '<tr><td>{}</td>{}<td>{}</td><td>{}</td><td class="wrap">{}</td></tr>',
            (
                (
                    local_time(r.created_at),
                    format_html("<td>{}</td>", r.actor or "system") if show_actor else "",
                    r.action,
                    audit_object_link(r),
                    r.reason[:200],
                )
                for r in rows
            ),
        ),
        more_url,
        more_label,
    )


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor", "action", "object_link", "reason"]
    list_filter = ["action"]
    search_fields = ["=object_id", "reason", "=actor__username"]
    list_select_related = ["actor"]
    show_full_result_count = False
    readonly_fields = ["created_at", "actor", "action", "object_link", "reason", "data"]
    fields = readonly_fields

    @admin.display(description="object")
    def object_link(self, row: AuditLog) -> str:
        return audit_object_link(row)


admin.site.site_header = "Touchline back office"
admin.site.site_title = "Touchline"
admin.site.site_url = "/admin/dashboard/"  # "View site": the live dashboard, not the API root

# The apps in the order staff use them: money first, then the feed, parlays and the CRM.
APP_ORDER = {"wallet": 0, "feeds": 1, "parlays": 2, "crm": 3}
_app_list = admin.site.get_app_list


def _ordered_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict]:
    return sorted(_app_list(request, app_label), key=lambda app: APP_ORDER.get(app["app_label"], len(APP_ORDER)))


admin.site.get_app_list = _ordered_app_list

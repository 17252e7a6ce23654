"""Back-office views of the wallet. Money records are read-only here: corrections go through
services (reversals, adjustments) that write compensating entries and an audit row."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

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
    Settlement,
)
from wallet.services.players import player_set_status


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible to staff, never editable or deletable through the admin."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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


@admin.register(Settlement)
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


admin.site.site_header = "Touchline back office"
admin.site.site_title = "Touchline"

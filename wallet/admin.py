"""Back-office views of the wallet. Money records are read-only here: corrections go through
services (reversals, adjustments) that write compensating entries and an audit row. Every
amount is shown through the money formatter, with its currency.

The staff forms and bulk-action pages are in wallet/admin_staff.py, the staff users list in
wallet/admin_users.py."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config.admin_base import ReadOnlyAdmin, ReadOnlyInline, admin_link, local_time, money_column
from wallet import admin_users  # noqa: F401 - registers the staff users list with roles
from wallet.admin_staff import (
    AdjustmentForm,
    NoteForm,
    ReasonForm,
    StatusForm,
    bet_history_html,
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
    ReviewItem,
    Settlement,
    StaffRequest,
)
from wallet.money import format_money
from wallet.services import backoffice, reviews
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


class BetInline(ReadOnlyInline):
    model = Bet
    fields = ["external_id", "provider", "stake_col", "payout_col", "status", "result", "placed"]
    readonly_fields = fields
    ordering = ["-id"]
    max_num = 20

    stake_col = money_column("stake")
    payout_col = money_column("payout")

    @admin.display(description="placed")
    def placed(self, bet: Bet) -> str:
        return local_time(bet.placed_at)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bet]:
        return super().get_queryset(request).order_by("-id")


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
    readonly_fields = ["external_id", "status", "created_at", "updated_at"]
    fields = ["external_id", "status", "is_test", "nickname", "country", "created_at", "updated_at"]
    inlines = [AccountInline, BetInline]
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
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "player", "provider", "currency", "real", "bonus", "owed"]
    list_filter = ["kind", "currency", "provider"]
    search_fields = ["player__external_id"]
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
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "player", "player_amount", "provider", "external_id", "bet", "created_at"]
    list_filter = ["kind", "provider", "currency"]
    search_fields = ["external_id", "=player__external_id", "=bet__external_id", "=id"]
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
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "bucket", "amount_col", "after"]
    list_filter = ["bucket", "account__kind", "account__currency"]
    search_fields = ["=account__player__external_id", "=transaction__external_id"]
    list_select_related = ["transaction", "account"]
    show_full_result_count = False

    amount_col = money_column("amount", currency="account__currency", signed=True)
    after = money_column("balance_after", currency="account__currency", description="balance after")
    readonly_fields = ["transaction", "account", "bucket", "amount_col", "after"]
    fields = readonly_fields


# --- Bets and their history -------------------------------------------------------------------------


@admin.register(Bet)
class BetAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "provider",
        "external_id",
        "player",
        "stake_col",
        "payout_col",
        "status",
        "result",
        "placed_at",
    ]
    list_filter = ["provider", "status", "bet_type", "currency"]
    search_fields = ["=external_id", "=player__external_id"]
    list_select_related = ["player"]
    show_full_result_count = False
    readonly_fields = ["player", "provider", "external_id", "bet_type", "odds", "stake_col", "payout_col"] + [
        "status",
        "result",
        "placed_at",
        "settled_at",
        "legs",
        "history",
    ]
    fields = readonly_fields

    stake_col = money_column("stake")
    payout_col = money_column("payout")

    @admin.display(description="result history")
    def history(self, bet: Bet) -> str:
        return bet_history_html(bet, getattr(bet, "_viewer", None))

    @admin.display(description="selections")
    def legs(self, bet: Bet) -> str:
        if not bet.selections:
            return "-"
        return format_html(
            '<table class="tl-table"><thead><tr><th>event</th><th>market</th><th>outcome</th><th>odds</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        leg.get("event") or leg.get("event_id") or "-",
                        leg.get("market") or leg.get("market_id") or "-",
                        leg.get("outcome") or leg.get("outcome_id") or "-",
                        leg.get("odds") or "-",
                    )
                    for leg in bet.selections
                    if isinstance(leg, dict)
                ),
            ),
        )

    def get_object(self, request, object_id, from_field=None):
        # The history column offers *Request reversal* only to a user who may: readonly
        # columns get the object alone, and model admins are shared between threads.
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user
        return obj


def _history_for(obj) -> str:
    """The history of the bet behind a settlement or review item, for the user viewing it."""
    return bet_history_html(getattr(obj, "bet", None), getattr(obj, "_viewer", None))


@admin.register(Settlement)
class SettlementAdmin(ReadOnlyAdmin):
    list_display = ["id", "bet", "player", "kind", "result", "before", "after", "created_at"]
    list_filter = ["kind"]
    search_fields = ["=bet__external_id", "=player__external_id", "=external_id"]
    list_select_related = ["bet", "player"]
    ordering = ["-id"]
    show_full_result_count = False
    readonly_fields = ["bet", "player", "kind", "result", "before", "after", "status_after", "external_id"] + [
        "transaction",
        "created_at",
        "created_by",
        "history",
    ]
    fields = readonly_fields

    before = money_column("previous_amount", currency="bet__currency", description="payout before")
    after = money_column("amount", currency="bet__currency", description="payout after")

    @admin.display(description="bet history")
    def history(self, step: Settlement) -> str:
        return _history_for(step)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        step = self.get_object(request, object_id)
        refusal = backoffice.reversal_refusal(step) if step else None
        extra_context = {
            **(extra_context or {}),
            "may_reverse": step is not None and refusal is None and request.user.has_perm("wallet.request_reversal"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

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
            cancel_url=reverse("admin:wallet_bet_change", args=[step.bet_id])
            if step.bet_id
            else reverse("admin:wallet_settlement_change", args=[step.pk]),
            context_html=_reversal_summary(step) + bet_history_html(step.bet, reversal_links=False),
        )


def _reversal_summary(step: Settlement) -> str:
    refusal = backoffice.reversal_refusal(step)
    if refusal:
        return format_html('<p class="errornote">This step cannot be reversed: {}.</p>', refusal)
    preview = backoffice.reversal_preview(step)
    cur = preview.currency
    if preview.player_change:
        moves = format_html(
            "<b>{}</b> {} the player",
            format_money(abs(preview.player_change), cur),
            "to" if preview.player_change > 0 else "from",
        )
    else:
        moves = mark_safe("<b>no money</b> (the bet only reopens)")
    shortfall = (
        format_html(" The player is short by {}: it is recorded as debt.", format_money(preview.shortfall, cur))
        if preview.shortfall
        else ""
    )
    approver = (
        format_html(
            "<b>A second person</b> with approval rights must approve (more than {}).", backoffice.conf.FOUR_EYES_AMOUNT
        )
        if preview.second_approver
        else "Anyone with approval rights may approve it, you included."
    )
    return format_html(
        '<div id="reversal-summary"><p>Approving this request moves {}: real balance {} → {}.{}</p><p>{}</p></div>',
        moves,
        format_money(preview.balance_before, cur),
        format_money(preview.balance_after, cur),
        shortfall,
        approver,
    )


# --- Staff requests, review queue -------------------------------------------------------------


@admin.register(StaffRequest)
class StaffRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "player", "amount_col", "requested_by", "requested_at", "decided_by"]
    list_filter = ["status", "kind"]
    search_fields = ["=player__external_id", "reason"]
    list_select_related = ["player", "requested_by", "decided_by"]
    readonly_fields = [
        "kind",
        "status",
        "player",
        "amount_col",
        "settlement",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "transaction",
        "approval",
        "history",
    ]
    fields = readonly_fields

    amount_col = money_column("amount", description="amount")

    @admin.display(description="approval")
    def approval(self, obj: StaffRequest) -> str:
        if backoffice.needs_second_approver(obj.amount):
            return f"A second person must approve (more than {backoffice.conf.FOUR_EYES_AMOUNT})."
        return "Anyone with approval rights may approve."

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context = {**(extra_context or {}), "can_decide": backoffice.may_decide(obj, request.user)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="bet history")
    def history(self, obj: StaffRequest) -> str:
        return bet_history_html(obj.settlement.bet if obj.settlement_id else None, reversal_links=False)

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
                "<p>{}: {} — {}</p>",
                staff_request.get_kind_display(),
                format_money(staff_request.amount, staff_request.currency),
                staff_request.reason,
            ),
        )

    def approve_view(self, request, pk: int):
        return self._decide(request, pk, approve=True)

    def reject_view(self, request, pk: int):
        return self._decide(request, pk, approve=False)


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        from django.contrib.auth import get_user_model

        staff = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")[:50]
        return [("me", "Assigned to me"), ("none", "Unassigned"), *((str(u.pk), u.username) for u in staff)]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "me":
            return queryset.filter(assignee=request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value:
            return queryset.filter(assignee_id=value)
        return queryset


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "player",
        "provider",
        "bet_link",
        "amount_col",
        "age",
        "assignee",
        "summary",
    ]
    list_display_links = ["id"]
    list_filter = ["status", "kind", "provider", "currency", AssigneeFilter]
    search_fields = ["summary", "=player__external_id", "=bet__external_id"]
    list_select_related = ["player", "bet", "assignee"]
    show_full_result_count = False
    actions = ["resolve_items", "assign_to_me"]
    readonly_fields = [
        "kind",
        "status",
        "summary",
        "amount_col",
        "player",
        "bet",
        "settlement",
        "debt",
        "conflict",
        "assignee",
        "created_at",
        "resolved_by",
        "resolved_at",
        "resolution",
        "history",
        "postings",
        "balances",
    ]
    fields = readonly_fields

    amount_col = money_column("amount", description="amount")

    @admin.display(description="bet", ordering="bet_id")
    def bet_link(self, item: ReviewItem) -> str:
        return admin_link(item.bet, item.bet.external_id) if item.bet_id else "-"

    @admin.display(description="age", ordering="created_at")
    def age(self, item: ReviewItem) -> str:
        end = item.resolved_at or timezone.now()
        minutes = int((end - item.created_at).total_seconds() // 60)
        if minutes < 60:
            return f"{minutes} min"
        if minutes < 48 * 60:
            return f"{minutes // 60} h {minutes % 60} min"
        return f"{minutes // 1440} days"

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("wallet.change_reviewitem")

    @admin.action(description="Resolve selected items (one note)…", permissions=["resolve"])
    def resolve_items(self, request: HttpRequest, queryset: QuerySet[ReviewItem]):
        def apply(items: list[ReviewItem], note: str) -> str:
            reviews.review_items_resolve(item_ids=[i.pk for i in items], actor=request.user, resolution=note)
            return f"{len(items)} review item(s) resolved."

        return bulk_action_with_reason(
            self,
            request,
            queryset,
            action_name="resolve_items",
            title="Resolve review items",
            submit_label="Resolve",
            apply=apply,
        )

    @admin.action(description="Assign selected items to me", permissions=["resolve"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[ReviewItem]) -> None:
        changed = reviews.review_items_assign(item_ids=list(queryset.values_list("id", flat=True)), actor=request.user)
        self.message_user(request, f"{changed} item(s) assigned to you.", messages.SUCCESS)

    @admin.display(description="bet history")
    def history(self, item: ReviewItem) -> str:
        return _history_for(item)

    @admin.display(description="ledger postings")
    def postings(self, item: ReviewItem) -> str:
        if item.bet_id is None:
            return "-"
        entries = LedgerEntry.objects.filter(transaction__bet_id=item.bet_id).select_related("transaction", "account")
        return format_html(
            '<table class="tl-table"><thead><tr><th>transaction</th><th>kind</th><th>account</th><th>bucket</th>'
            "<th>amount</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td></tr>',
                (
                    (
                        reverse("admin:wallet_ledgertransaction_change", args=[e.transaction_id]),
                        e.transaction_id,
                        e.transaction.get_kind_display(),
                        e.account,
                        e.get_bucket_display(),
                        money_span(e.amount, e.account.currency, signed=True),
                    )
                    for e in entries
                ),
            ),
        )

    @admin.display(description="player balances")
    def balances(self, item: ReviewItem) -> str:
        if item.player_id is None:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{}: {} real, {} bonus, {} owed",
            (
                (a.currency, format_money(a.balance, a.currency), format_money(a.bonus_balance, a.currency))
                + (format_money(-a.debt_balance, a.currency),)
                for a in Account.objects.filter(player_id=item.player_id, kind=Account.Kind.PLAYER)
            ),
        )

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        item = self.get_object(request, object_id)
        step = item.settlement if item is not None and item.settlement_id else None
        extra_context = {
            **(extra_context or {}),
            "may_resolve": request.user.has_perm("wallet.change_reviewitem"),
            "may_reverse": step is not None
            and request.user.has_perm("wallet.request_reversal")
            and backoffice.reversal_refusal(step) is None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

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


# --- Provider requests, debts, audit ----------------------------------------------------------------


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "provider", "operation", "external_id", "outcome", "error_code", "transaction", "created_at"]
    list_filter = ["provider", "operation", "outcome"]
    search_fields = ["=external_id"]
    show_full_result_count = False


@admin.register(IdempotencyConflict)
class IdempotencyConflictAdmin(ReadOnlyAdmin):
    list_display = ["id", "provider", "operation", "external_id", "resolved", "created_at"]
    list_filter = ["provider", "resolved"]
    search_fields = ["=external_id"]


@admin.register(Debt)
class DebtAdmin(ReadOnlyAdmin):
    list_display = ["id", "player", "amount_col", "status", "transaction", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["=player__external_id"]
    list_select_related = ["player", "transaction"]

    amount_col = money_column("amount", description="owed")


def audit_object_link(row: AuditLog) -> str:
    """The audited object's admin page, when it has one."""
    if not row.object_type or not row.object_id:
        return "-"
    try:
        model = apps.get_model(row.object_type)
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.object_id])
    except (LookupError, ValueError, NoReverseMatch):
        return f"{row.object_type}:{row.object_id}"
    return format_html('<a href="{}">{} #{}</a>', url, meta.verbose_name, row.object_id)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "actor", "action", "object_link", "reason"]
    list_filter = ["action", "object_type"]
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
admin.site.site_url = "/admin/dashboard/"

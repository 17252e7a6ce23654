"""Back-office pages where money is corrected: a bet and its result history, settlements and
the reversal request form, staff requests (four eyes) and the settlement review queue. Every
button is shown only to a user whose role allows it; the services check again."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config.admin_base import ReadOnlyAdmin, admin_link, money_column
from config.search import ExactIdSearch
from wallet.admin_filters import CurrencyFilter, ProviderFilter
from wallet.admin_staff import (
    NoteForm,
    ReasonForm,
    bet_history_html,
    bulk_action_with_reason,
    staff_form_view,
)
from wallet.models import (
    Account,
    Bet,
    LedgerEntry,
    ReviewItem,
    Settlement,
    StaffRequest,
)
from wallet.money import format_money
from wallet.services import backoffice, reviews
from wallet.templatetags.money import money_span

# --- Bets and their history -------------------------------------------------------------------------


class ViewerMixin:
    """Keeps the viewing user on the object: the history column offers *Request reversal* only
    to a user who may, readonly columns get the object alone, and model admins are shared
    between threads."""

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user
        return obj


def _history_for(obj) -> str:
    """The history of the bet behind a settlement or review item, for the user viewing it."""
    return bet_history_html(getattr(obj, "bet", None), getattr(obj, "_viewer", None))


@admin.register(Bet)
class BetAdmin(ExactIdSearch, ViewerMixin, ReadOnlyAdmin):
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
    list_filter = [ProviderFilter, "status", "bet_type", CurrencyFilter]
    exact_search = ("external_id", "player__external_id")
    search_help_text = "A bet id or a player id, exactly as written."
    list_select_related = ["player"]
    show_full_result_count = False
    # The history (with its reversal buttons) comes right after what identifies the bet.
    readonly_fields = ["player", "provider", "external_id", "stake_col", "payout_col", "status", "result"] + [
        "history",
        "legs",
        "bet_type",
        "odds",
        "placed_at",
        "settled_at",
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


@admin.register(Settlement)
class SettlementAdmin(ExactIdSearch, ViewerMixin, ReadOnlyAdmin):
    list_display = ["id", "bet", "player", "kind", "result", "before", "after", "created_at"]
    list_filter = ["kind"]
    exact_search = ("bet__external_id", "player__external_id", "external_id")
    search_help_text = "A bet id, a player id or a provider transaction id, exactly as written."
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
class ReviewItemAdmin(ViewerMixin, ReadOnlyAdmin):
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
    list_filter = ["status", "kind", ProviderFilter, CurrencyFilter, AssigneeFilter]
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
        entries = LedgerEntry.objects.filter(transaction__bet_id=item.bet_id).select_related(
            "transaction", "account__player"
        )
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
                        f"player {e.account.player} ({e.account.currency})" if e.account.player else e.account,
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

"""Staff actions on money: settlement reversals and balance adjustments (four eyes), the
review queue, and the roles that may do each. Permissions are enforced here, not only in
the admin, so every door (admin, API, shell) obeys them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from wallet import conf, ledger
from wallet.errors import InvalidRequest, NotReversible, PermissionDenied
from wallet.ledger import REAL, Leg
from wallet.models import Account, LedgerTransaction, Settlement, StaffRequest
from wallet.permissions import audited_refusals
from wallet.permissions import reason_required as _reason
from wallet.permissions import require as _require
from wallet.selectors import wallet_get
from wallet.services.audit import audit_record
from wallet.services.postings import settlement_reverse_apply

# Role -> permissions (app_label.codename; "app.view_*" means every view permission of the app,
# so a model added later is covered). Support reads every app; Risk also manages limits,
# mappings, correlation rules and player status; Finance also approves money and reads reports.
ROLES: dict[str, list[str]] = {
    "Support": [
        "wallet.view_*",
        "feeds.view_*",
        "parlays.view_*",
        "crm.view_*",
    ],
    "Risk": [
        "wallet.request_reversal",
        "wallet.request_adjustment",
        "wallet.change_reviewitem",
        "wallet.change_player",
        # ProphetX line mappings, event mappings and same-game correlation rules
        # (parlays.services.mappings: each change audited with its reason).
        "parlays.add_linemapping",
        "parlays.change_linemapping",
        "parlays.delete_linemapping",
        "parlays.change_pxevent",
        "parlays.add_correlationrule",
        "parlays.change_correlationrule",
        "parlays.delete_correlationrule",
        "parlays.change_order",
        "parlays.change_reconciliationissue",
    ],
    "Finance": [
        "wallet.request_reversal",
        "wallet.approve_reversal",
        "wallet.request_adjustment",
        "wallet.approve_adjustment",
        "wallet.change_reviewitem",
        "reports.view_*",
    ],
}
ROLE_INCLUDES = {"Risk": ["Support"], "Finance": ["Support"]}
ROLE_ORDER = ["Support", "Risk", "Finance", "Admin"]
# Apps add their own role permissions (e.g. exposure or player-protection limits to Risk) here,
# from their AppConfig.ready().
EXTRA_ROLE_PERMISSIONS: dict[str, list[str]] = {}


def role_permission_names(role: str) -> set[str]:
    """The permission names (with wildcards) a role is granted, its included roles' too."""
    names = set(ROLES.get(role, [])) | set(EXTRA_ROLE_PERMISSIONS.get(role, []))
    for included in ROLE_INCLUDES.get(role, []):
        names |= role_permission_names(included)
    return names


def _permissions(names: set[str]) -> list[Permission]:
    perms: dict[int, Permission] = {}
    for name in sorted(names):
        app_label, codename = name.split(".")
        found = Permission.objects.filter(content_type__app_label=app_label)
        if codename.endswith("*"):
            found = found.filter(codename__startswith=codename[:-1])
        else:
            found = found.filter(codename=codename)
        perms.update({p.pk: p for p in found})
    return list(perms.values())


def roles_ensure() -> None:
    """Create or update the staff groups. Runs after every migrate; safe to run again."""
    for role in ROLE_ORDER:
        group, _ = Group.objects.get_or_create(name=role)
        if role == "Admin":
            group.permissions.set(Permission.objects.all())
            continue
        group.permissions.set(_permissions(role_permission_names(role)))


# --- Requests ---------------------------------------------------------------------------------


@audited_refusals("reversal.request")
@transaction.atomic
def reversal_request(*, settlement_id: int, reason: str, actor) -> StaffRequest:
    _require(actor, "wallet.request_reversal")
    reason = _reason(reason)
    step = Settlement.objects.select_related("bet").get(pk=settlement_id)
    if step.bet_id is None:
        raise NotReversible("this result is not linked to a bet")
    latest = Settlement.objects.filter(bet_id=step.bet_id).order_by("-id").first()
    if latest.pk != step.pk or step.kind in (Settlement.Kind.ROLLBACK, Settlement.Kind.REVERSAL):
        raise NotReversible("only the bet's latest settle, re-settle or unsettle can be reversed")
    if StaffRequest.objects.filter(settlement=step, status=StaffRequest.Status.PENDING).exists():
        raise InvalidRequest("a reversal of this settlement is already waiting for approval")
    request = StaffRequest.objects.create(
        kind=StaffRequest.Kind.SETTLEMENT_REVERSAL,
        player_id=step.player_id,
        currency=step.bet.currency,
        settlement=step,
        amount=abs(step.amount - step.previous_amount),
        reason=reason,
        requested_by=actor,
    )
    audit_record(
        actor_id=actor.pk,
        action="reversal.request",
        obj=request,
        reason=reason,
        data={"settlement": step.pk, "bet": step.bet_id, "amount": request.amount},
    )
    return request


@audited_refusals("adjustment.request")
@transaction.atomic
def adjustment_request(*, player_external_id: str, currency: str, amount: Decimal, reason: str, actor) -> StaffRequest:
    _require(actor, "wallet.request_adjustment")
    reason = _reason(reason)
    if amount == 0:
        raise InvalidRequest("an adjustment must move money")
    wallet = wallet_get(external_id=player_external_id, currency=currency)
    request = StaffRequest.objects.create(
        kind=StaffRequest.Kind.ADJUSTMENT,
        player_id=wallet.player_id,
        currency=currency,
        amount=amount,
        reason=reason,
        requested_by=actor,
    )
    audit_record(
        actor_id=actor.pk,
        action="adjustment.request",
        obj=request,
        reason=reason,
        data={"player": player_external_id, "currency": currency, "amount": amount},
    )
    return request


# --- Decisions --------------------------------------------------------------------------------


def _lock_pending(request_id: int) -> StaffRequest:
    request = StaffRequest.objects.select_for_update(no_key=True).get(pk=request_id)
    if request.status != StaffRequest.Status.PENDING:
        raise InvalidRequest(f"request #{request.pk} is already {request.status}")
    return request


@audited_refusals("request.approve")
@transaction.atomic(durable=True)
def staff_request_approve(*, request_id: int, actor, note: str = "") -> StaffRequest:
    """Approve and apply a request, in one transaction with its entries and audit row. The
    row lock makes concurrent approvals of one request apply it once."""
    request = _lock_pending(request_id)
    reversal = request.kind == StaffRequest.Kind.SETTLEMENT_REVERSAL
    _require(actor, "wallet.approve_reversal" if reversal else "wallet.approve_adjustment")
    if abs(request.amount) > conf.FOUR_EYES_AMOUNT and request.requested_by_id == actor.pk:
        raise PermissionDenied(
            f"requests above {conf.FOUR_EYES_AMOUNT} need a second person: you cannot approve your own request"
        )
    if reversal:
        result = settlement_reverse_apply(settlement_id=request.settlement_id, actor_id=actor.pk, reason=request.reason)
        request.transaction_id = result.transaction_ids[-1] if result.transaction_ids else None
    else:
        request.transaction_id = _adjust(request, actor)
    request.status = StaffRequest.Status.APPLIED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["transaction", "status", "decided_by", "decided_at", "decision_note"])
    audit_record(
        actor_id=actor.pk,
        action=f"{'reversal' if reversal else 'adjustment'}.approve",
        obj=request,
        reason=note or request.reason,
        data={"transaction": request.transaction_id, "amount": request.amount},
    )
    return request


def _adjust(request: StaffRequest, actor) -> int:
    wallet = wallet_get(external_id=request.player.external_id, currency=request.currency)
    posted = ledger.post(
        kind=LedgerTransaction.Kind.ADJUSTMENT,
        currency=request.currency,
        player_id=wallet.player_id,
        provider="staff",
        external_id=f"staff-request-{request.pk}",
        created_by_id=actor.pk,
        reason=request.reason,
        legs=[
            Leg(wallet.account_id, request.amount, REAL, tracked=True),
            Leg(ledger.adjustment_account_id(request.currency), -request.amount),
        ],
    )
    return posted.transaction_id


@audited_refusals("request.reject")
@transaction.atomic
def staff_request_reject(*, request_id: int, actor, note: str) -> StaffRequest:
    request = _lock_pending(request_id)
    reversal = request.kind == StaffRequest.Kind.SETTLEMENT_REVERSAL
    _require(actor, "wallet.approve_reversal" if reversal else "wallet.approve_adjustment")
    request.status = StaffRequest.Status.REJECTED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = _reason(note)
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(actor_id=actor.pk, action="request.reject", obj=request, reason=request.decision_note)
    return request


# --- What the screens show before anyone acts ---------------------------------------------------


def needs_second_approver(amount: Decimal) -> bool:
    return abs(amount) > conf.FOUR_EYES_AMOUNT


def may_decide(staff_request: StaffRequest, user) -> bool:
    """Whether `user` could approve or reject this request now (the service checks again)."""
    if staff_request.status != StaffRequest.Status.PENDING or not user.is_active:
        return False
    reversal = staff_request.kind == StaffRequest.Kind.SETTLEMENT_REVERSAL
    if not user.has_perm("wallet.approve_reversal" if reversal else "wallet.approve_adjustment"):
        return False
    return not (needs_second_approver(staff_request.amount) and staff_request.requested_by_id == user.pk)


def reversal_refusal(step: Settlement) -> str | None:
    """Why this step cannot be reversed now, or None if a request may be made."""
    if step.bet_id is None:
        return "this result is not linked to a bet"
    if step.kind in (Settlement.Kind.ROLLBACK, Settlement.Kind.REVERSAL, Settlement.Kind.RESULT):
        return "rollbacks and reversals are final"
    latest = Settlement.objects.filter(bet_id=step.bet_id).order_by("-id").values_list("id", flat=True).first()
    if latest != step.pk:
        return "only the bet's latest step can be reversed"
    if StaffRequest.objects.filter(settlement=step, status=StaffRequest.Status.PENDING).exists():
        return "a reversal of this step is already waiting for approval"
    return None


@dataclass(frozen=True)
class ReversalPreview:
    currency: str
    player_change: Decimal  # signed: what reversing does to the player's real balance
    balance_before: Decimal
    balance_after: Decimal
    shortfall: Decimal  # recorded as debt when the player no longer has the money
    second_approver: bool


def reversal_preview(step: Settlement) -> ReversalPreview:
    """What approving a reversal of `step` would move, from the balance as it is now."""
    currency = step.bet.currency
    change = step.previous_amount - step.amount
    balance = (
        Account.objects.filter(kind=Account.Kind.PLAYER, player_id=step.player_id, currency=currency)
        .values_list("balance", flat=True)
        .first()
    ) or Decimal(0)
    after = balance + change
    return ReversalPreview(
        currency=currency,
        player_change=change,
        balance_before=balance,
        balance_after=max(after, Decimal(0)),
        shortfall=-after if after < 0 else Decimal(0),
        second_approver=needs_second_approver(change),
    )

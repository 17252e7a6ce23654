"""Staff actions on money: settlement reversals and balance adjustments (four eyes), the
review queue, and the roles that may do each. Permissions are enforced here, not only in
the admin, so every door (admin, API, shell) obeys them."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from wallet import conf, ledger
from wallet.errors import InvalidRequest, NotReversible, PermissionDenied
from wallet.ledger import REAL, Leg
from wallet.models import LedgerTransaction, Settlement, StaffRequest
from wallet.permissions import reason_required as _reason
from wallet.permissions import require as _require
from wallet.selectors import wallet_get
from wallet.services.audit import audit_record
from wallet.services.postings import settlement_reverse_apply

# Role -> permissions (app_label.codename). Support reads; Risk requests; Finance approves.
ROLES: dict[str, list[str]] = {
    "Support": [
        "wallet.view_player",
        "wallet.view_account",
        "wallet.view_ledgertransaction",
        "wallet.view_ledgerentry",
        "wallet.view_bet",
        "wallet.view_settlement",
        "wallet.view_reviewitem",
        "wallet.view_staffrequest",
        "wallet.view_debt",
        "wallet.view_auditlog",
        "wallet.view_idempotencyrecord",
        "wallet.view_idempotencyconflict",
    ],
    "Risk": [
        "wallet.request_reversal",
        "wallet.request_adjustment",
        "wallet.change_reviewitem",
        "wallet.change_player",
    ],
    "Finance": [
        "wallet.request_reversal",
        "wallet.approve_reversal",
        "wallet.request_adjustment",
        "wallet.approve_adjustment",
        "wallet.change_reviewitem",
    ],
}
ROLE_INCLUDES = {"Risk": ["Support"], "Finance": ["Support"]}
# Apps add their own role permissions (e.g. parlays adds exposure limits to Risk) here.
EXTRA_ROLE_PERMISSIONS: dict[str, list[str]] = {}


def roles_ensure() -> None:
    """Create or update the staff groups. Runs after every migrate; safe to run again."""
    for role in ["Support", "Risk", "Finance", "Admin"]:
        group, _ = Group.objects.get_or_create(name=role)
        if role == "Admin":
            group.permissions.set(Permission.objects.all())
            continue
        names = set(ROLES.get(role, [])) | set(EXTRA_ROLE_PERMISSIONS.get(role, []))
        for included in ROLE_INCLUDES.get(role, []):
            names |= set(ROLES[included]) | set(EXTRA_ROLE_PERMISSIONS.get(included, []))
        perms = []
        for name in sorted(names):
            app_label, codename = name.split(".")
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.set(perms)


# --- Requests ---------------------------------------------------------------------------------


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

"""Permission checks for staff actions, used by services (not only by the admin)."""

from __future__ import annotations

from wallet.errors import InvalidRequest, PermissionDenied


def require(actor, permission: str) -> None:
    if actor is None or not actor.is_active or not actor.has_perm(permission):
        raise PermissionDenied(f"{actor} lacks the permission {permission}")


def reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise InvalidRequest("a reason of at least a few words is required")
    return reason

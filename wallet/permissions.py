"""Permission checks for staff actions, used by services (not only by the admin)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from wallet.errors import InvalidRequest, PermissionDenied

F = TypeVar("F", bound=Callable[..., Any])


def require(actor, permission: str) -> None:
    if actor is None or not actor.is_active or not actor.has_perm(permission):
        raise PermissionDenied(f"{actor} lacks the permission {permission}")


def reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise InvalidRequest("a reason of at least a few words is required")
    return reason


def audited_refusals(action: str, *, data_keys: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Audit every refusal of a staff service (missing permission, four eyes) as ``<action>.refused``.

    Put it *outside* the service's ``transaction.atomic``: the refusal rolls the service's own
    transaction back, and the audit row must survive that. The row names the actor, what was
    refused and why; the keyword arguments that identify the object (``*_id``, and those named
    in ``data_keys`` for a service whose object has no id yet) go into its data."""

    def decorate(service: F) -> F:
        @functools.wraps(service)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return service(*args, **kwargs)
            except PermissionDenied as refusal:
                from wallet.services.audit import audit_record

                actor = kwargs.get("actor")
                ids = {k: v for k, v in kwargs.items() if k.endswith(("_id", "_ids")) and k != "actor_id"}
                object_type, object_id = _refused_object(ids)
                named = {k: kwargs[k] for k in data_keys if k in kwargs}
                audit_record(
                    actor_id=getattr(actor, "pk", None),
                    action=f"{action}.refused",
                    object_type=object_type,
                    object_id=object_id,
                    reason=refusal.message,
                    data={"service": service.__name__, **ids, **named},
                )
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


_ID_TYPES = {
    "request_id": "wallet.StaffRequest",
    "settlement_id": "wallet.Settlement",
    "item_id": "wallet.ReviewItem",
}


def _refused_object(ids: dict[str, Any]) -> tuple[str, str]:
    for key, label in _ID_TYPES.items():
        if key in ids:
            return label, str(ids[key])
    many = ids.get("item_ids")
    if many:  # a bulk action: the row names its first item, the data lists them all
        return "wallet.ReviewItem", str(list(many)[0])
    return "", ""

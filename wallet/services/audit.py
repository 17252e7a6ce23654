from __future__ import annotations

from typing import Any

from wallet.models import AuditLog


def audit_record(
    *,
    actor_id: int | None,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    api_key: dict[str, str] | None = None,
) -> AuditLog:
    """Write an audit row. Call inside the transaction that makes the change it describes.

    `api_key` names the operator API key that made the call (its prefix and name), when the
    actor is a key rather than a staff user."""
    if api_key:
        data = {**(data or {}), "api_key": api_key}
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = object_id or str(obj.pk)
    return AuditLog.objects.create(
        actor_id=actor_id, action=action, object_type=object_type, object_id=object_id, reason=reason, data=data or {}
    )

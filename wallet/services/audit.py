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
) -> AuditLog:
    """Write an audit row. Call inside the transaction that makes the change it describes."""
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = object_id or str(obj.pk)
    return AuditLog.objects.create(
        actor_id=actor_id, action=action, object_type=object_type, object_id=object_id, reason=reason, data=data or {}
    )

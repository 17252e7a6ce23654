"""Admin login protection: a lockout (django-axes) is written to the audit log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from wallet.models import AuditLog
from wallet.services.audit import audit_record

ACTION = "admin.login_lockout"


def audit_lockout(sender, request: HttpRequest, username: str, ip_address: str, **kwargs) -> None:
    """axes' user_locked_out signal: a lockout is a security event staff read later.

    axes signals every attempt made while locked; one row per lockout period is the event, the
    rest would let a brute force flood the audit log."""
    object_id = (username or "")[:64]
    since = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME)
    if AuditLog.objects.filter(
        action=ACTION, object_id=object_id, data__ip_address=ip_address, created_at__gte=since
    ).exists():
        return
    audit_record(
        actor_id=None, action=ACTION, object_type="auth.User", object_id=object_id, data={"ip_address": ip_address}
    )

"""Admin login protection: a lockout (django-axes) is written to the audit log."""

from __future__ import annotations

from django.http import HttpRequest

from wallet.services.audit import audit_record


def audit_lockout(sender, request: HttpRequest, username: str, ip_address: str, **kwargs) -> None:
    """axes' user_locked_out signal: a lockout is a security event staff read later."""
    audit_record(
        actor_id=None,
        action="admin.login_lockout",
        object_type="auth.User",
        object_id=(username or "")[:64],
        data={"ip_address": ip_address},
    )

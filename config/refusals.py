"""What a refused request leaves behind: one log line (config.logfilters) and, for a signed-in
staff member, an audit row, so attempts to reach what one's role does not allow are visible."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        from wallet.services.audit import audit_record

        audit_record(
            actor_id=user.pk,
            action="permission.refused",
            object_type="url",
            object_id=request.path[:64],
            reason=str(exception) or "permission denied",
            data={"method": request.method, "path": request.get_full_path()[:500]},
        )
    return defaults.permission_denied(request, exception)

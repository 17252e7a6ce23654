"""The admin site: with ADMIN_TOTP_REQUIRED, staff who can approve money (and superusers) log in
with a TOTP code as well as their password (django-otp), and an unverified session of theirs
does not open the admin. Other staff log in with their password alone."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.admin import OTPAdminAuthenticationForm, _admin_template_for_django_version

# Approving moves money (four eyes): these holders need the second factor.
MONEY_APPROVALS = ("wallet.approve_reversal", "wallet.approve_adjustment")


def needs_totp(user) -> bool:
    return bool(settings.ADMIN_TOTP_REQUIRED) and (
        user.is_superuser or any(user.has_perm(permission) for permission in MONEY_APPROVALS)
    )


class TotpForApproversForm(OTPAdminAuthenticationForm):
    """Password first; then a TOTP code only from those who need one."""

    def clean(self):
        self.cleaned_data = AdminAuthenticationForm.clean(self)
        user = self.get_user()
        if user is not None and needs_totp(user):
            self.clean_otp(user)
        return self.cleaned_data


class TouchlineAdminSite(AdminSite):
    @property
    def login_form(self):
        return TotpForApproversForm if settings.ADMIN_TOTP_REQUIRED else None

    @property
    def login_template(self):
        return _admin_template_for_django_version() if settings.ADMIN_TOTP_REQUIRED else None

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        user = request.user
        return not needs_totp(user) or (hasattr(user, "is_verified") and user.is_verified())


def may_watch_dashboard(user, session) -> bool:
    """The live dashboard's WebSocket opens for whom the admin opens: active staff, and, where
    a TOTP code is required of them, only a session verified with one of their own confirmed
    devices (the socket has no OTP middleware, so the session is read here)."""
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return False
    if not needs_totp(user):
        return True
    from django_otp.models import Device

    persistent_id = (session or {}).get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed

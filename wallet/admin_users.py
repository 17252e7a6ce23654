"""Staff users with their roles, and each staff member's audit trail on their page."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from wallet.models import AuditLog

User = get_user_model()
TRAIL_ROWS = 50


class StaffUserAdmin(UserAdmin):
    list_display = ["username", "email", "roles", "is_staff", "is_superuser", "is_active", "last_login"]
    list_filter = ["groups", "is_staff", "is_superuser", "is_active"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="role")
    def roles(self, user) -> str:
        names = [g.name for g in user.groups.all()]
        if user.is_superuser:
            names.insert(0, "superuser")
        return ", ".join(names) or "—"

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Audit trail", {"fields": ["audit_trail"]})]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*super().get_readonly_fields(request, obj), "audit_trail"]

    @admin.display(description="recent actions")
    def audit_trail(self, user) -> str:
        from wallet.admin import audit_table

        rows = AuditLog.objects.filter(actor=user).order_by("-id")[:TRAIL_ROWS]
        everything = reverse("admin:wallet_auditlog_changelist") + f"?actor__id__exact={user.pk}"
        return audit_table(rows, everything, f"All of {user.username}'s audit rows", show_actor=False)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)

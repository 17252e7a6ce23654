from django.contrib.admin.apps import AdminConfig


class TouchlineAdminConfig(AdminConfig):
    """django.contrib.admin, on our site class (optional TOTP: config/admin_site.py)."""

    default_site = "config.admin_site.TouchlineAdminSite"

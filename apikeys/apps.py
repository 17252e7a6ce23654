from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "Operator API keys"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib import admin
        from rest_framework_api_key.models import APIKey

        from apikeys import schema  # noqa: F401 - registers the OpenAPI security scheme
        from config.security_admin import audit_lockout

        # Admin login lockouts go to the audit log (this app holds the project's access control).
        user_locked_out.connect(audit_lockout, dispatch_uid="touchline-audit-lockout")
        # The library registers its own concrete key model in the admin; ours replaces it.
        if admin.site.is_registered(APIKey):
            admin.site.unregister(APIKey)

from django.apps import AppConfig

# Finance reads reports and reconciles; Support reads player statements (complaints). The Admin
# role holds every permission already.
ROLE_PERMISSIONS = {
    "Finance": ["reports.view_reports", "reports.view_statement", "reports.reconcile", "reports.view_dailyrollup"],
    "Support": ["reports.view_statement"],
}


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Money reports"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_migrate

        from wallet.services.backoffice import EXTRA_ROLE_PERMISSIONS

        for role, names in ROLE_PERMISSIONS.items():
            extra = EXTRA_ROLE_PERMISSIONS.setdefault(role, [])
            extra.extend(name for name in names if name not in extra)
        # The wallet builds the roles after its own migrations, possibly before this app's
        # permissions exist: build them again once ours do.
        post_migrate.connect(_roles_after_migrate, sender=self)

        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if schedule is not None:
            schedule.setdefault("reports-refresh-rollups", {"task": "reports.refresh_rollups", "schedule": 600.0})


def _roles_after_migrate(sender, **kwargs) -> None:
    from wallet.services.backoffice import roles_ensure

    roles_ensure()

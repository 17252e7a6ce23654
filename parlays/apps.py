from datetime import timedelta

from django.apps import AppConfig

# Risk manages the book's exposure limits (parlays.services.limits); Support and Finance read
# them (every parlays view permission is theirs already); Admin holds every permission.
ROLE_PERMISSIONS = {
    "Risk": ["parlays.add_exposurelimit", "parlays.change_exposurelimit", "parlays.delete_exposurelimit"],
}


class ParlaysConfig(AppConfig):
    name = "parlays"
    verbose_name = "ProphetX parlays"

    def ready(self) -> None:
        from config import dashboard as backoffice_dashboard
        from parlays.dashboard import metrics

        backoffice_dashboard.register("parlay book", metrics)

        from django.db.models.signals import post_migrate

        from wallet.services.backoffice import EXTRA_ROLE_PERMISSIONS

        for role, names in ROLE_PERMISSIONS.items():
            extra = EXTRA_ROLE_PERMISSIONS.setdefault(role, [])
            extra.extend(name for name in names if name not in extra)
        # The wallet builds the roles after its own migrations, possibly before this app's
        # permissions exist: build them again once ours do.
        post_migrate.connect(_roles_after_migrate, sender=self)

        # Periodic jobs; each does nothing until PROPHETX_API_URL is set.
        from django.conf import settings

        from parlays import conf

        current = conf.get()
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
        if schedule is None:
            return
        schedule.setdefault(
            "parlays-seed-reference-data",
            {"task": "parlays.tasks.seed_reference_data", "schedule": timedelta(seconds=current.seed_interval_s)},
        )
        schedule.setdefault(
            "parlays-reconcile-orders",
            {"task": "parlays.tasks.reconcile_orders", "schedule": timedelta(seconds=current.reconcile_interval_s)},
        )


def _roles_after_migrate(sender, **kwargs) -> None:
    from wallet.services.backoffice import roles_ensure

    roles_ensure()

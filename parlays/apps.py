from datetime import timedelta

from django.apps import AppConfig


class ParlaysConfig(AppConfig):
    name = "parlays"
    verbose_name = "ProphetX parlays"

    def ready(self) -> None:
        from config import dashboard as backoffice_dashboard
        from parlays.dashboard import metrics

        backoffice_dashboard.register("parlay book", metrics)

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

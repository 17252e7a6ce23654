from datetime import timedelta

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Fast Track CRM export"

    def ready(self) -> None:
        from config.celery import app
        from crm import conf, metrics
        from crm import tasks as _tasks  # noqa: F401 - registers the tasks in every process (beat, demo)
        from crm.outbox import BET_READ, on_wallet_event
        from wallet import events

        # Outbox rows are written inside the wallet's money transaction (crm/outbox.py).
        events.subscribe(on_wallet_event)
        events.read_with_bet(BET_READ)

        # Beat: retries after backoff, recovery of rows whose worker died.
        schedule = dict(app.conf.beat_schedule or {})
        schedule["crm-outbox-sweep"] = {
            "task": "crm.tasks.sweep_outbox",
            "schedule": timedelta(seconds=conf.SWEEP_SECONDS),
        }
        app.conf.beat_schedule = schedule

        metrics.register()

        from config import dashboard
        from crm.dashboard import metrics as dashboard_metrics

        dashboard.register("fast track export", dashboard_metrics)

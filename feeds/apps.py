from django.apps import AppConfig


class FeedsConfig(AppConfig):
    name = "feeds"
    verbose_name = "Betradar odds feed"

    def ready(self) -> None:
        # Periodic jobs (Celery beat): producer health and recovery, fixtures, descriptions,
        # journal retention. Registered here so config/ stays app-agnostic.
        from config.celery import app
        from feeds import conf

        app.conf.beat_schedule.update(
            {
                "feeds.producers_check": {
                    "task": "feeds.producers_check",
                    "schedule": float(conf.CHECK_INTERVAL_SECONDS),
                },
                "feeds.fixtures_fetch": {"task": "feeds.fixtures_fetch", "schedule": 10.0},
                "feeds.descriptions_refresh": {"task": "feeds.descriptions_refresh", "schedule": 3600.0},
                "feeds.producers_sync": {"task": "feeds.producers_sync", "schedule": 3600.0},
                "feeds.journal_prune": {"task": "feeds.journal_prune", "schedule": 3600.0},
                "feeds.reconcile_bet_results": {"task": "feeds.reconcile_bet_results", "schedule": 300.0},
            }
        )

        from config import dashboard
        from feeds.dashboard import metrics
        from feeds.reconcile import BET_READ, on_wallet_event
        from wallet import events

        dashboard.register("odds feed", metrics)
        # Provider settlements that disagree with Betradar go to the review queue.
        events.subscribe(on_wallet_event)
        events.read_with_bet(BET_READ)

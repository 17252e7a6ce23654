"""Send IGPX provider traffic to a running Touchline: `manage.py igpx_simulate --rate 20 --duration 30`."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wallet.igpx import demo
from wallet.igpx.simulator import ProviderSimulator, SimPlayer, Stats


class Command(BaseCommand):
    help = "Act as the IGPX sportsbook: signed bets, results, retries and rollbacks against a running server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Touchline's base URL")
        parser.add_argument("--rate", type=float, default=10.0, help="requests per second (0 = as fast as possible)")
        parser.add_argument("--duration", type=float, default=30.0, help="seconds to run (0 = until --count)")
        parser.add_argument("--count", type=int, default=None, help="stop after this many requests")
        parser.add_argument(
            "--players",
            default="",
            help="comma-separated user_id:CURRENCY pairs (default: the demo players, created and funded here)",
        )
        parser.add_argument("--secret", default=None, help="the shared secret (default: IGPX_SECURITY_HASH)")
        parser.add_argument("--seed", type=int, default=None, help="random seed for a reproducible run")

    def handle(self, *args, **options) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the progress
        if options["players"]:
            try:
                players = [SimPlayer(*item.strip().split(":", 1)) for item in options["players"].split(",") if item]
            except TypeError:
                raise CommandError("--players takes user_id:CURRENCY pairs, e.g. 42:EUR,43:USD") from None
        else:
            demo.ensure_players()  # same database as the server: create and fund the demo players
            players = demo.DEMO_PLAYERS
        simulator = ProviderSimulator(
            base_url=options["base_url"],
            secret=options["secret"] or settings.IGPX_SECURITY_HASH,
            players=players,
            rate=options["rate"],
            seed=options["seed"],
        )

        def progress(stats: Stats) -> None:
            self.stdout.write(stats.summary())

        try:
            stats = simulator.run(
                duration=options["duration"] or None,
                max_requests=options["count"],
                progress=progress,
                progress_every=2.0,
            )
        finally:
            simulator.close()
        self.stdout.write(self.style.SUCCESS("done: " + stats.summary()))
        for line in stats.anomalies[:20]:
            self.stdout.write(self.style.WARNING("anomaly: " + line))
        if stats.anomalies:
            raise CommandError(f"{len(stats.anomalies)} answers broke the protocol")

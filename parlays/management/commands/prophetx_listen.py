"""`manage.py prophetx_listen`: the ProphetX parlay WebSocket listener (one per deployment)."""

from __future__ import annotations

import asyncio
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from parlays import conf


class Command(BaseCommand):
    help = "Connect to ProphetX's parlay WebSocket, quote RFQs, answer confirmations, follow orders."

    def add_arguments(self, parser):
        parser.add_argument("--seed", action="store_true", help="seed reference data and sync supported lines first")

    def handle(self, *args, seed: bool, **options):
        from parlays.listener import build
        from parlays.prices import default_source
        from parlays.protocol.rest import ProphetXClient

        api_url, access_key, secret_key, ws_url = conf.connection()
        if not api_url or not access_key or not secret_key:
            raise CommandError(
                "Set PROPHETX_API_URL, PROPHETX_ACCESS_KEY and PROPHETX_SECRET_KEY (see docs/prophetx.md)."
            )
        settings = conf.get()
        client = ProphetXClient(
            api_url,
            access_key,
            secret_key,
            timeout=settings.http_timeout_s,
            refresh_every_s=settings.token_refresh_s,
            login_cooldown_s=settings.login_cooldown_s,
            vocabulary=settings.vocabulary,
        )
        if seed:
            from parlays.services.lines import seed_reference_data, sync_supported_lines

            self.stdout.write(f"seeded: {seed_reference_data(client, settings)}")
            self.stdout.write(f"supported lines: {sync_supported_lines(client, full=True)}")
        # Quote threads do sub-millisecond work; a shorter GIL switch interval than the default
        # 5 ms keeps them from queueing behind the recorder and the order thread.
        sys.setswitchinterval(settings.gil_switch_ms / 1000)
        listener = build(settings=settings, client=client, price_source=default_source(), ws_url_override=ws_url)
        self.stdout.write("ProphetX listener starting")

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await listener.run(stop)

        try:
            asyncio.run(main())
        finally:
            listener.shutdown()
            client.close()
        self.stdout.write("ProphetX listener stopped")

"""Play Betsy against a running Touchline: the whole callback lifecycle, signed, with the balance
checked after every step. Exits non-zero on the first surprise."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wallet.betsy.simulator import Betsy, LifecycleFailed, Operator, Step, http_transport, run_lifecycle


class Command(BaseCommand):
    help = (
        "Drive the Betsy callbacks (profile, balance, place, retries, settle, resettle, unsettle, rollback,"
        " rollback-before-bet, errors, check) against a running Touchline, checking balances at each step."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the Touchline server")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--rounds", type=int, default=1, help="lifecycles to run, each with a new player")
        parser.add_argument(
            "--api-key",
            default="",
            help="operator API key (scopes players, payments, sessions, read); by default a 'betsy-simulator'"
            " key is created in this database (which must then be the server's database)",
        )
        parser.add_argument("--secret", default="", help="Betsy partner secret (default: BETSY_PARTNER_SECRET)")

    def handle(self, *args, base_url: str, currency: str, rounds: int, api_key: str, secret: str, **options):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per step is enough
        operator = Operator(base_url, api_key or self._local_api_key())
        betsy = Betsy(http_transport(base_url), secret or settings.BETSY_PARTNER_SECRET)

        def progress(step: Step) -> None:
            mark = self.style.SUCCESS("ok  ") if step.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"  {mark} {step.name:<42} {step.detail}")

        for round_ in range(1, rounds + 1):
            player = f"betsy-sim-{uuid.uuid4().hex[:10]}"
            self.stdout.write(f"round {round_}/{rounds}: player {player} with 20 {currency} at {base_url}")
            try:
                operator.ensure_player(player, currency)
                operator.deposit(player, currency, "20")
                session = operator.launch(player, currency)
                steps = run_lifecycle(betsy, user_id=player, currency=currency, token=session, progress=progress)
            except LifecycleFailed as failure:
                raise CommandError(f"lifecycle failed: {failure}") from None
            except Exception as exc:  # connection refused, operator API errors
                raise CommandError(f"could not run against {base_url}: {exc}") from None
            self.stdout.write(self.style.SUCCESS(f"round {round_}: {len(steps)} steps passed"))

    @staticmethod
    def _local_api_key() -> str:
        from apikeys.services import tool_key

        return tool_key("betsy-simulator")

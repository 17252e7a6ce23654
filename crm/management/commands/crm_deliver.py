"""`manage.py crm_deliver`: deliver the Fast Track outbox without Celery (ops, debugging).

python manage.py crm_deliver --once            # what is due now, then exit
python manage.py crm_deliver --interval 2      # keep going
python manage.py crm_deliver --status          # print the backlog and lag, then exit
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.selectors import outbox_stats
from crm.services import deliver_pending, recover_expired_leases
from crm.transports import build_transport


class Command(BaseCommand):
    help = "Deliver pending Fast Track events (the same code the Celery tasks run)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="deliver what is due, then exit")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
        parser.add_argument("--transport", choices=["rest", "rabbitmq", "kafka"], help="override FASTTRACK_TRANSPORT")
        parser.add_argument("--status", action="store_true", help="print the outbox backlog and lag, then exit")

    def handle(self, *args, once: bool, interval: float, transport: str | None, status: bool, **options):
        if status:
            self.stdout.write(json.dumps(outbox_stats().as_dict(), indent=2))
            return
        name = transport or settings.FASTTRACK_TRANSPORT
        sender = build_transport(name)
        if sender is None:
            raise CommandError("FASTTRACK_TRANSPORT is off: pass --transport or set the variable")
        try:
            while True:
                recover_expired_leases()
                result = deliver_pending(transport=sender)
                if result.claimed:
                    self.stdout.write(
                        f"delivered {len(result.delivered)}, failed {len(result.failed)}, dead {len(result.dead)}"
                    )
                if once:
                    return
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
        finally:
            sender.close()

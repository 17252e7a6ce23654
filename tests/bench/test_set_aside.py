"""bench/_http_delivery.set_aside_pending: outbox rows no kick will deliver (pgbench's, a phase
with the transport off) are taken out of the next phase's way, and only those."""

from __future__ import annotations

import pytest
from django.db import connection

from bench._http_delivery import set_aside_pending
from crm.models import OutboxEvent
from tests.factories import make_outbox_event, make_player


def _url() -> str:
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@pytest.mark.django_db(transaction=True)
def test_pending_rows_are_set_aside_with_the_reason_and_delivered_ones_are_left_alone(postgres_only):
    player = make_player("aside-alice")
    pending = make_outbox_event(player, "tl-aside-1", status=OutboxEvent.Status.PENDING)
    delivered = make_outbox_event(player, "tl-aside-2", status=OutboxEvent.Status.DELIVERED)
    assert set_aside_pending(_url(), "transport off") == 1
    pending.refresh_from_db()
    delivered.refresh_from_db()
    assert (pending.status, pending.last_error) == (OutboxEvent.Status.DELIVERED, "transport off")
    assert pending.delivered_at is not None
    assert (delivered.status, delivered.last_error) == (OutboxEvent.Status.DELIVERED, "")

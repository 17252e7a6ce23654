"""The simulator speaks the real wire format: its scripted lifecycle passes in-process and over
HTTP against a live server (the same code the demo and `manage.py betsy_simulate` run)."""

from io import StringIO

import pytest
from django.core.management import call_command

from wallet.betsy.simulator import run_lifecycle


@pytest.mark.django_db
def test_lifecycle_in_process(betsy, alice):
    steps = run_lifecycle(betsy, user_id="alice", currency="USD", token=alice.token)
    assert len(steps) >= 18 and all(step.ok for step in steps)


@pytest.mark.django_db
def test_lifecycle_notices_a_wrong_balance(betsy, alice):
    from tests.factories import fund
    from wallet.betsy.simulator import LifecycleFailed

    fund(alice.player, "1", "USD")  # 21, not the seed's 20
    with pytest.raises(LifecycleFailed):
        run_lifecycle(betsy, user_id="alice", currency="USD", token=alice.token)


@pytest.mark.django_db(transaction=True)
def test_simulate_command_against_a_live_server(postgres_only, live_server):
    """Over real HTTP. PostgreSQL only: Django's live server shares SQLite's in-memory connection
    across threads and warns when it closes it."""
    out = StringIO()
    call_command("betsy_simulate", base_url=live_server.url, stdout=out)
    assert "19 steps passed" in out.getvalue()

"""Two confirmations racing for the same headroom: the book lock lets only the limit through."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from parlays.models import ExposureReservation
from tests.parlays.conftest import Desk, map_games, settings_for_tests


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirms_never_exceed_the_limit(postgres_only, games):
    map_games(games)
    desk = Desk(games, settings_for_tests(max_exposure_outcome=Decimal("1000"), max_exposure_event=Decimal("5000")))
    home = desk.line(0, 219, 4)
    parlays = []
    for other in (desk.line(1, 225, 12), desk.line(2, 225, 12), desk.line(3, 225, 13)):
        parlay_id, outcome = desk.ask([home, other])
        assert outcome == "quoted"
        parlays.append((parlay_id, desk.offers()[-1]["odds"]))
    barrier = threading.Barrier(len(parlays))
    results = []

    def confirm(parlay_id, odds):
        try:
            barrier.wait()
            results.append(desk.confirm(parlay_id, odds, "600")[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=p) for p in parlays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    key = f"{games[0].event_urn}/219//4"
    held = sum(r.amount for r in ExposureReservation.objects.filter(state="reserved", key=key))
    assert held <= Decimal("1000")
    assert held == Decimal("1000")  # 600 + 400 (reduced), the third rejected
    assert sorted(results) == ["accept:delivered", "accept:delivered", "reject:delivered"]

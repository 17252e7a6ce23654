"""Wallet facts become the right SPORTSBOOK events (docs/fasttrack.md §3-§6).

Every bet goes through wallet.services.postings, so the events are the ones production
writes; every payload is checked against crm/schema/sportsbook.schema.json by `payloads()`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from crm import mapping
from crm.models import OutboxEvent
from crm.services import PayloadBuilder
from tests.crm.conftest import SELECTION, payloads, place, rollback, rows, settle, unsettle
from tests.factories import fund, make_player
from wallet import events
from wallet.models import Settlement
from wallet.selectors import wallet_get
from wallet.services.postings import bet_settle_apply, credit_apply, transaction_reverse

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def alice():
    player = make_player("alice")
    fund(player, "100.00")
    return player


def test_single_bet(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])

    (event,) = payloads()
    assert event == {
        "activity_id": f"tl-bet-{placed.bet.pk}",
        "activity_id_reference": "",
        "type": "Bet",
        "status": "Approved",
        "bet_type": "Single",
        "amount": Decimal("10.00"),
        "wager_amount": Decimal("10.00"),
        "bonus_wager_amount": Decimal("0.00"),
        "locked_wager_amount": Decimal("0.00"),
        "odds": Decimal("2.5"),
        "currency": "EUR",
        "exchange_rate": 1,
        "origin": "touchline-test",
        "timestamp": event["timestamp"],
        "user_id": "alice",
        "user_bonus_id": "0",
        "is_cashout": False,
        "balance_before": Decimal("100.00"),
        "balance_after": Decimal("90.00"),
        "bets": [
            {
                "event_name": "Arsenal vs Chelsea",
                "tournament_name": "Premier League",
                "sports_name": "Soccer",
                "match_start": "2025-01-15T19:45:00.000Z",
                "market": "1x2",
                "odds": Decimal("2.5"),
                "is_live": False,
                "is_free_bet": False,
                "is_risk_free_bet": False,
                "outcomes": [{"criterion_name": "1x2", "outcome_label": "Arsenal"}],
            }
        ],
        "sportsbook_vendor_name": "betsy",
    }
    assert TIMESTAMP.match(event["timestamp"])


def test_amounts_travel_as_exact_json_numbers(alice):
    place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    row = rows()[0]
    body = PayloadBuilder([row]).body(row)
    assert '"amount":10.00,' in body and '"odds":2.5,' in body and '"balance_after":90.00' in body
    assert '"exchange_rate":1,' in body


def test_multi_bet_with_bonus_split_and_undefined_names():
    bob = make_player("bob")
    fund(bob, "3.00", bonus="10.00")
    legs = [
        SELECTION,
        {"sport": "Tennis", "event": "Nadal vs Federer", "market": "Winner", "outcome": "Nadal", "odds": "1.40"},
        {
            "sport": "Soccer",
            "tournament": "La Liga",
            "event": "Real vs Barca",
            "event_date": "2025-01-16 20:00:00",  # Betsy's zone-less form: UTC
            "market": "Scorecast",
            "outcome": "Vinicius & 2-1",
            "odds": "30",
            "is_live": True,
        },
    ]
    placed = place(bob, "5.00", "m-1", bet_type="multi", selections=legs)

    (event,) = payloads()
    assert (event["bet_type"], len(event["bets"])) == ("Multi", 3)
    assert (event["amount"], event["wager_amount"], event["bonus_wager_amount"]) == (
        Decimal("5.00"),
        Decimal("3.00"),
        Decimal("2.00"),
    )
    assert (event["balance_before"], event["balance_after"]) == (Decimal("13.00"), Decimal("8.00"))
    assert event["odds"] == Decimal("105")  # 2.5 × 1.4 × 30, the provider gave no total
    tennis, scorecast = event["bets"][1], event["bets"][2]
    assert tennis["tournament_name"] == "Undefined"
    assert tennis["match_start"] == mapping.format_timestamp(placed.bet.placed_at)  # unknown: placement time
    assert scorecast["match_start"] == "2025-01-16T20:00:00.000Z"
    assert scorecast["is_live"] is True
    assert scorecast["outcomes"] == [
        {"criterion_name": "Goalscorer", "outcome_label": "Vinicius"},
        {"criterion_name": "Correct Result", "outcome_label": "2-1"},
    ]


def test_a_bet_without_selections_is_a_single_with_one_undefined_leg(alice):
    place(alice, "4.00", "igpx-1", provider="igpx")
    (event,) = payloads()
    assert event["bet_type"] == "Single"
    assert event["odds"] == 0
    (leg,) = event["bets"]
    assert leg["event_name"] == leg["sports_name"] == leg["market"] == "Undefined"
    assert leg["outcomes"] == [{"criterion_name": "Undefined", "outcome_label": "Undefined"}]


def test_settlement_won(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settled = settle(placed.bet.pk, "25.00", "won")

    bet, settlement = payloads()
    assert settlement["activity_id"] == f"tl-settle-{settled.settlement.pk}"
    assert settlement["activity_id_reference"] == bet["activity_id"]  # the bet's exact id
    assert (settlement["type"], settlement["status"]) == ("Settlement", "Approved")
    assert settlement["amount"] == settlement["wager_amount"] == Decimal("25.00")
    assert settlement["bonus_wager_amount"] == settlement["locked_wager_amount"] == Decimal("0.00")
    assert settlement["settlement_type"] == "Won"
    assert settlement["is_cashout"] is False
    assert settlement["odds"] == Decimal("2.5")  # FT's examples omit it; its schema requires it
    assert settlement["bets"] == bet["bets"]  # the selections are repeated, not []
    assert (settlement["balance_before"], settlement["balance_after"]) == (Decimal("90.00"), Decimal("115.00"))
    assert settlement["reference_bet_amount"] == Decimal("10.00")
    assert settlement["reference_bet_real_amount"] == Decimal("10.00")
    assert settlement["reference_bet_bonus_amount"] == Decimal("0.00")
    assert settlement["reference_bet_locked_amount"] == Decimal("0.00")
    assert settlement["reference_bet_exchange_rate"] == 1


def test_settlement_lost_moves_nothing(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settle(placed.bet.pk, "0", "lost")
    _, settlement = payloads()
    assert (settlement["amount"], settlement["settlement_type"]) == (Decimal("0.00"), "Lost")
    assert settlement["balance_before"] == settlement["balance_after"] == Decimal("90.00")


def test_cashout(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settle(placed.bet.pk, "7.50", "cashout")
    _, cashout = payloads()
    assert cashout["is_cashout"] is True
    assert cashout["amount"] == Decimal("7.50")
    assert "settlement_type" not in cashout  # as in FT's own cash-out examples


def test_bonus_funded_settlement_reports_the_stake_split():
    bob = make_player("bob")
    fund(bob, "2.00", bonus="10.00")
    placed = place(bob, "5.00", "b-1", odds=Decimal("3"), selections=[SELECTION])
    settle(placed.bet.pk, "15.00", "won")
    _, settlement = payloads()
    assert settlement["reference_bet_real_amount"] == Decimal("2.00")
    assert settlement["reference_bet_bonus_amount"] == Decimal("3.00")
    assert settlement["user_bonus_id"] == "0"


def test_resettle_rolls_back_the_settlement_in_force_then_sends_the_new_one(alice):
    """Betsy's walk-through: won 25, then resettled as a refund of 10."""
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    first = settle(placed.bet.pk, "25.00", "won")
    second = settle(placed.bet.pk, "10.00", "refund")

    bet, won, undo, refund = payloads()
    assert [(p["type"], p["status"]) for p in (bet, won, undo, refund)] == [
        ("Bet", "Approved"),
        ("Settlement", "Approved"),
        ("Settlement", "Rollback"),
        ("Settlement", "Approved"),
    ]
    assert undo["activity_id"] == f"tl-settle-{first.settlement.pk}-rollback"
    assert refund["activity_id"] == f"tl-settle-{second.settlement.pk}"
    assert {undo["activity_id_reference"], refund["activity_id_reference"]} == {bet["activity_id"]}
    assert (undo["amount"], undo["settlement_type"]) == (Decimal("25.00"), "Won")  # what it cancels
    assert (refund["amount"], refund["settlement_type"]) == (Decimal("10.00"), "Refunded")
    # 115 → (payout taken back) 90 → (refund paid) 100
    assert (undo["balance_before"], undo["balance_after"]) == (Decimal("115.00"), Decimal("90.00"))
    assert (refund["balance_before"], refund["balance_after"]) == (Decimal("90.00"), Decimal("100.00"))
    assert OutboxEvent.objects.get(activity_id=undo["activity_id"]).reverses.activity_id == won["activity_id"]


def test_resettle_from_lost_to_won(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settle(placed.bet.pk, "0", "lost")
    settle(placed.bet.pk, "25.00", "won")
    _, lost, undo, won = payloads()
    assert (undo["status"], undo["settlement_type"], undo["amount"]) == ("Rollback", "Lost", Decimal("0.00"))
    assert undo["balance_before"] == undo["balance_after"] == Decimal("90.00")
    assert (won["balance_before"], won["balance_after"]) == (Decimal("90.00"), Decimal("115.00"))


def test_resettle_with_the_same_result_sends_nothing(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settle(placed.bet.pk, "25.00", "won")
    settle(placed.bet.pk, "25.00", "won")  # a retried settle: recorded by the wallet, not news to FT
    assert len(rows()) == 2


def test_unsettle_rolls_back_and_a_new_settle_follows(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settle(placed.bet.pk, "25.00", "won")
    unsettle(placed.bet.pk)
    unsettle(placed.bet.pk)  # unsettling an open bet: nothing in force, nothing to send
    settle(placed.bet.pk, "0", "lost")

    bet, won, undo, lost = payloads()
    assert (undo["status"], undo["activity_id_reference"]) == ("Rollback", bet["activity_id"])
    assert (undo["balance_before"], undo["balance_after"]) == (Decimal("115.00"), Decimal("90.00"))
    assert (lost["status"], lost["settlement_type"]) == ("Approved", "Lost")


def test_rollback_of_an_open_bet(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    rollback(placed.bet.pk)

    bet, cancelled = payloads()
    assert cancelled["activity_id"] == f"tl-bet-{placed.bet.pk}-rollback"
    assert (cancelled["type"], cancelled["status"]) == ("Bet", "Rollback")
    assert cancelled["activity_id_reference"] == bet["activity_id"]
    for key in ("amount", "wager_amount", "bonus_wager_amount", "bet_type", "bets", "odds"):
        assert cancelled[key] == bet[key]  # the same amounts as the bet it cancels
    assert (cancelled["balance_before"], cancelled["balance_after"]) == (Decimal("90.00"), Decimal("100.00"))


def test_rollback_of_a_settled_bet_cancels_the_settlement_first(alice):
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settle(placed.bet.pk, "25.00", "won")
    rollback(placed.bet.pk)

    _, _, undo_settlement, undo_bet = payloads()
    assert (undo_settlement["type"], undo_settlement["status"]) == ("Settlement", "Rollback")
    assert (undo_bet["type"], undo_bet["status"]) == ("Bet", "Rollback")
    assert (undo_settlement["balance_before"], undo_settlement["balance_after"]) == (
        Decimal("115.00"),
        Decimal("90.00"),
    )
    assert (undo_bet["balance_before"], undo_bet["balance_after"]) == (Decimal("90.00"), Decimal("100.00"))


def test_staff_reversal_of_a_settlement(alice):
    staff = get_user_model().objects.create(username="sam", is_staff=True)
    placed = place(alice, "10.00", "b-1", odds=Decimal("2.50"), selections=[SELECTION])
    settle(placed.bet.pk, "25.00", "won")
    with transaction.atomic():
        bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal(0), kind=Settlement.Kind.REVERSAL, actor_id=staff.pk)

    *_, undo = payloads()
    assert (undo["type"], undo["status"], undo["amount"]) == ("Settlement", "Rollback", Decimal("25.00"))
    assert len(rows()) == 3  # a reversal to nothing only takes the settlement back
    assert rows()[-1].source == events.BET_REVERSED


def test_test_players_are_not_exported():
    tess = make_player("tess", is_test=True)
    fund(tess, "50")
    placed = place(tess, "5", "t-1", selections=[SELECTION])
    settle(placed.bet.pk, "10", "won")
    assert rows() == []


def test_a_bet_placed_while_test_is_never_settled_on_fast_track():
    tess = make_player("tess", is_test=True)
    fund(tess, "50")
    placed = place(tess, "5", "t-1", selections=[SELECTION])
    tess.is_test = False
    tess.save()
    settle(placed.bet.pk, "10", "won")  # FT never saw the bet: no orphan settlement
    assert rows() == []


def test_other_currencies_carry_their_exchange_rate():
    carol = make_player("carol", currencies=("USD",))
    fund(carol, "50.00", currency="USD")
    placed = place(carol, "10.00", "u-1", currency="USD", odds=Decimal("2"), selections=[SELECTION])
    settle(placed.bet.pk, "20.00", "won")
    bet, settlement = payloads()
    assert (bet["currency"], bet["exchange_rate"]) == ("USD", Decimal("0.92"))
    assert settlement["reference_bet_exchange_rate"] == Decimal("0.92")


def _igpx_result(player, external_id: str, amount: str):
    """An IGPX result as the protocol layer records it: the credit, then its event (wallet/igpx/services.py)."""
    with transaction.atomic():
        credited = credit_apply(
            provider="igpx",
            external_id=external_id,
            wallet=wallet_get(external_id=player.external_id, currency="EUR"),
            amount=Decimal(amount),
        )
        events.publish(
            events.WalletEvent(
                kind=events.RESULT_CREDITED,
                player_id=player.pk,
                currency="EUR",
                provider="igpx",
                transaction_ids=(credited.transaction_id,),
            )
        )
    return credited


def _igpx_reversal(player, transaction_id: int, external_id: str) -> None:
    """An IGPX rollback of an unlinked result, as the protocol layer records it."""
    with transaction.atomic():
        reversed_ = transaction_reverse(original_id=transaction_id, external_id=external_id)
        events.publish(
            events.WalletEvent(
                kind=events.TRANSACTION_REVERSED,
                player_id=player.pk,
                currency="EUR",
                provider="igpx",
                transaction_ids=(reversed_.transaction_id,),
            )
        )


def test_unlinked_igpx_result_and_its_rollback(alice):
    """IGPX results carry no bet id: exported with an empty reference and flagged."""
    credited = _igpx_result(alice, "r-1", "12.00")
    _igpx_reversal(alice, credited.transaction_id, "rb-1")

    result, undo = payloads()
    assert result["activity_id"] == f"tl-result-{credited.transaction_id}"
    assert (result["type"], result["status"], result["activity_id_reference"]) == ("Settlement", "Approved", "")
    assert (result["amount"], result["settlement_type"]) == (Decimal("12.00"), "Won")
    assert (result["balance_before"], result["balance_after"]) == (Decimal("100.00"), Decimal("112.00"))
    assert (undo["status"], undo["activity_id_reference"]) == ("Rollback", result["activity_id"])
    assert all(r.unlinked for r in rows())


def test_a_batch_of_unlinked_results_reads_their_providers_in_one_query(alice):
    """The provider of an unlinked result is on its ledger transaction: one read per batch,
    not one per event (it was the delivery worker's largest cost under an IGPX load)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):
        _igpx_result(alice, f"r-{n}", "5.00")
    found = list(OutboxEvent.objects.select_related("player").order_by("id"))
    assert len(found) == 3 and all(r.unlinked for r in found)
    with CaptureQueriesContext(connection) as queries:
        builder = PayloadBuilder(found)
        built = [builder.payload(row) for row in found]
    ledger_reads = [q["sql"] for q in queries.captured_queries if "wallet_ledgertransaction" in q["sql"]]
    assert len(ledger_reads) == 1
    assert [p["activity_id"] for p in built] == [r.activity_id for r in found]
    assert built == payloads()  # schema-checked, and the same as a fresh builder gives


def test_a_repeated_wallet_event_writes_nothing_twice(alice):
    placed = place(alice, "10.00", "b-1", selections=[SELECTION])
    with transaction.atomic():
        events.publish(
            events.WalletEvent(
                kind=events.BET_PLACED,
                player_id=alice.pk,
                currency="EUR",
                provider="betsy",
                bet_id=placed.bet.pk,
                transaction_ids=(placed.transaction_id,),
            )
        )
    assert len(rows()) == 1


@pytest.mark.parametrize(
    ("result", "amount", "expected"),
    [
        ("won", "10", "Won"),
        ("lose", "0", "Lost"),
        ("refund", "5", "Refunded"),
        ("cancelled", "5", "Cancelled"),
        ("", "0", "Lost"),
        ("", "3", "Won"),
        ("cashout", "3", None),
    ],
)
def test_settlement_types(result, amount, expected):
    assert mapping.settlement_type(result, Decimal(amount)) == expected


def test_timestamps_are_zero_padded_utc_with_milliseconds():
    moment = datetime(2015, 3, 2, 8, 27, 58, 100000, tzinfo=timezone(timedelta(hours=6)))
    assert mapping.format_timestamp(moment) == "2015-03-02T02:27:58.100Z"
    assert mapping.parse_event_date("2015-03-02 8:27:58") == datetime(2015, 3, 2, 8, 27, 58, tzinfo=UTC)
    assert mapping.parse_event_date("not a date") is None


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 1, 15, 8, 27, 58, 721999, tzinfo=UTC),
        datetime(2025, 1, 15, 8, 27, 58, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2030, 6, 1, 0, 0, 0, 1000, tzinfo=ZoneInfo("Europe/Malta")),
        datetime(999, 1, 1, 0, 0, 0, 500, tzinfo=UTC),
    ],
)
def test_timestamps_are_what_strftime_writes(moment):
    utc = moment.astimezone(UTC)
    assert mapping.format_timestamp(moment) == utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def test_encoder_refuses_floats_and_cannot_be_fooled_by_provider_text():
    assert mapping.encode({"a": Decimal("1.50"), "b": "dec1234:5"}) == '{"a":1.50,"b":"dec1234:5"}'
    with pytest.raises(TypeError):
        mapping.encode({"bets": [{"odds": 1.5}]})
    text = {"a": Decimal("-0.00"), "b": Decimal("-1.5"), "c": 'dec<5> ">', "d": [Decimal("2"), 3, True, None]}
    assert mapping.encode(text) == '{"a":0.00,"b":-1.5,"c":"dec<5> \\">","d":[2,3,true,null]}'


@pytest.mark.parametrize(
    "payload",
    [
        {"x": OrderedDict(y=1.0)},  # a Mapping that is not a dict
        {"x": ({"y": [Decimal(1), 2.5]},)},  # deep, in a tuple
        {"x": type("Sub", (float,), {})(1.0)},  # a float subclass
        [1e300],
    ],
)
def test_a_float_anywhere_is_refused(payload):
    with pytest.raises(TypeError, match="floats are not allowed"):
        mapping.encode(payload)


def test_an_unlinked_zero_result_is_not_exported():
    """IGPX reports a lost bet as a result of 0 with no bet reference: nothing to send."""
    from crm.models import OutboxEvent
    from crm.outbox import on_wallet_event
    from tests.factories import make_player
    from wallet import events as wallet_events

    bob = make_player("bob-zero")
    before = OutboxEvent.objects.count()
    on_wallet_event(
        wallet_events.WalletEvent(
            kind=wallet_events.RESULT_CREDITED, player_id=bob.pk, currency="EUR", provider="igpx", settlement_id=1
        )
    )
    assert OutboxEvent.objects.count() == before


def test_what_a_posting_passes_on_is_what_the_export_would_read(postgres_only):
    """Placements and unlinked results carry their balance, what moved and is_test on the
    event, so the export writes their rows without a query: the same context it would read
    at that moment, inside the money transaction."""
    from crm.outbox import _context, _known_context
    from wallet.igpx import protocol as igpx_protocol
    from wallet.igpx import services as igpx_services

    checked: list[str] = []

    def compare(event: events.WalletEvent) -> None:
        known = _known_context(event)
        if event.kind in (events.BET_PLACED, events.RESULT_CREDITED):
            assert known is not None, event
            assert known == _context(event), event
            checked.append(event.kind)
        else:
            assert known is None

    events.subscribe(compare)
    try:
        bonus_player = make_player("bonus-bob")
        fund(bonus_player, "3.00", bonus="10.00")
        tester = make_player("tess")
        tester.is_test = True
        tester.save()
        fund(tester, "50.00")
        place(bonus_player, "5.00", "b-bonus")  # 3 real + 2 bonus
        place(tester, "1.00", "b-test")
        body = b'{"transaction_id":"r-1","action":"result","user_id":"bonus-bob","currency":"EUR","amount":"7.25"}'
        igpx_services.transaction_process(request=igpx_protocol.parse_transaction(body), raw=body.decode())
    finally:
        events.unsubscribe(compare)
    assert checked == [events.BET_PLACED, events.BET_PLACED, events.RESULT_CREDITED]

"""wallet/rows.py writes and reads exactly what the ORM would, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection, transaction

from tests.factories import make_player
from wallet import rows
from wallet.models import Bet, IdempotencyRecord

pytestmark = pytest.mark.django_db


def _bet(player, external_id: str) -> Bet:
    return Bet(
        provider="igpx",
        external_id=external_id,
        player=player,
        currency="EUR",
        stake=Decimal("12.34"),
        stake_real=Decimal("10"),
        stake_bonus=Decimal("2.34"),
        odds=Decimal("1.750000"),
        selections=[{"event_id": "sr:match:1", "odds": "1.75"}],
    )


def test_insert_and_get_round_trip_like_the_orm():
    player = make_player("rows-alice")
    bet = rows.insert(_bet(player, "b-1"))
    assert bet.pk and bet.placed_at is not None and not bet._state.adding

    via_orm = Bet.objects.get(pk=bet.pk)
    via_rows = rows.get(Bet, lock=True, id=bet.pk)
    for field in Bet._meta.concrete_fields:
        assert getattr(via_rows, field.attname) == getattr(via_orm, field.attname), field.name
    assert via_rows.stake == Decimal("12.34") and isinstance(via_rows.stake, Decimal)
    assert via_rows.selections == [{"event_id": "sr:match:1", "odds": "1.75"}]
    assert rows.get(Bet, provider="igpx", external_id="missing") is None


def test_a_read_instance_behaves_as_the_orm_s_and_init_receivers_still_run():
    from django.db.models.signals import post_init

    player = make_player("rows-carol")
    bet = rows.insert(_bet(player, "b-3"))
    read = rows.get(Bet, id=bet.pk)
    assert read == Bet.objects.get(pk=bet.pk) and read._state.db == "default" and not read._state.adding
    assert read.player.external_id == "rows-carol"  # the foreign key resolves, then is cached
    read.player_id = make_player("rows-dave").pk  # …and a new id drops the cached player, as after __init__
    assert read.player.external_id == "rows-dave"
    assert read.get_deferred_fields() == set()
    seen: list[Bet] = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Bet)
    try:
        again = rows.get(Bet, id=bet.pk)
    finally:
        post_init.disconnect(receiver, sender=Bet)
    assert seen == [again] and again.selections == bet.selections


def test_update_writes_only_the_named_fields():
    player = make_player("rows-bob")
    bet = rows.insert(_bet(player, "b-2"))
    bet.status, bet.payout, bet.result = Bet.Status.SETTLED, Decimal("21.60"), "won"
    bet.currency = "XXX"  # not named: must not be written
    rows.update(bet, ["status", "payout", "result"])
    stored = Bet.objects.get(pk=bet.pk)
    assert (stored.status, stored.payout, stored.result, stored.currency) == ("settled", Decimal("21.60"), "won", "EUR")


def test_insert_many_skips_conflicting_rows():
    def record(external_id: str, response: str) -> IdempotencyRecord:
        return IdempotencyRecord(
            provider="p", external_id=external_id, operation="tx", fingerprint="f", response=response, outcome="applied"
        )

    rows.insert_many([record("a", "first"), record("b", "first")], ignore_conflicts=True)
    rows.insert_many([record("a", "second"), record("c", "second")], ignore_conflicts=True)
    stored = dict(IdempotencyRecord.objects.values_list("external_id", "response"))
    assert stored == {"a": "first", "b": "first", "c": "second"}


# --- write_behind: held rows ride on the transaction's last statement (PostgreSQL) ------------


def _held_count(prefix: str) -> int:
    (count,) = rows.values("SELECT count(*) FROM wallet_bet WHERE external_id LIKE %s", [prefix + "%"])
    return count


def test_held_rows_travel_with_the_carrying_statement(postgres_only):
    player = make_player("wb-alice")
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([_bet(player, "wb-1"), _bet(player, "wb-2")], write_behind=True)
        assert len(rows._pending.writes) == 1  # held, not sent
        sql, params = rows.carrying("SELECT count(*) FROM wallet_player WHERE id = %s", [player.pk])
        assert sql.startswith("WITH held_0 AS (INSERT INTO wallet_bet")
        assert rows.all_rows(sql, params) == [(1,)]
        assert rows._pending.writes == []
        assert _held_count("wb-") == 2
    assert Bet.objects.filter(external_id__startswith="wb-").count() == 2


def test_a_carrier_that_starts_with_its_own_ctes(postgres_only):
    player = make_player("wb-carol")
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([_bet(player, "wbc-1")], write_behind=True)
        sql, params = rows.carrying("WITH x AS (SELECT %s::int AS n) SELECT n FROM x", [7])
        assert rows.all_rows(sql, params) == [(7,)]
    assert Bet.objects.filter(external_id="wbc-1").exists()


@pytest.mark.parametrize("reader", ["orm", "raw"])
def test_any_other_statement_sends_held_rows_first_so_reads_see_them(postgres_only, reader):
    player = make_player("wb-bob")
    with transaction.atomic(), rows.write_behind():
        rows.insert_many([_bet(player, "wbr-1")], write_behind=True)
        if reader == "orm":
            assert Bet.objects.filter(external_id="wbr-1").count() == 1
        else:
            assert _held_count("wbr-") == 1
        assert rows._pending.writes == []


def test_held_rows_are_sent_when_the_block_ends_without_a_carrier(postgres_only):
    player = make_player("wb-dan")
    with transaction.atomic():
        with rows.write_behind():
            rows.insert_many([_bet(player, "wbe-1")], write_behind=True)
        assert Bet.objects.filter(external_id="wbe-1").exists()


def test_held_rows_are_dropped_with_a_failed_block(postgres_only):
    player = make_player("wb-eve")
    with pytest.raises(RuntimeError), transaction.atomic(), rows.write_behind():
        rows.insert_many([_bet(player, "wbf-1")], write_behind=True)
        raise RuntimeError("the callback failed")
    assert rows._pending.writes == [] and rows._pending.depth == 0
    assert not Bet.objects.filter(external_id="wbf-1").exists()


def test_without_a_block_write_behind_writes_at_once():
    player = make_player("wb-fay")
    rows.insert_many([_bet(player, "wbn-1")], write_behind=True)
    assert Bet.objects.filter(external_id="wbn-1").exists()


def test_an_igpx_bet_sends_its_outbox_row_with_the_stored_answer(postgres_only, django_capture_on_commit_callbacks):
    """The callback's statements: claim, posting (with the bet), and the answer's UPDATE that
    carries the Fast Track outbox row; no statement of its own for the outbox."""
    from crm.models import OutboxEvent
    from tests.factories import fund
    from wallet import ledger
    from wallet.igpx import protocol as igpx_protocol
    from wallet.igpx import services as igpx_services

    player = make_player("wb-igpx")
    fund(player, "10.00")
    with django_capture_on_commit_callbacks(execute=True):
        ledger.clearing_account_id("igpx", "EUR")  # as warm as in production (the cache fills on commit)
    sent: list[str] = []

    def record(execute, sql, params, many, context):
        if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):  # the test's own transaction
            sent.append(sql)
        return execute(sql, params, many, context)

    statements: list[str] = []
    original = rows.cursor

    @contextmanager
    def traced():
        with original() as cur:
            real_execute = cur.execute

            def execute(sql, params=None, **kwargs):
                statements.append(sql.split("(")[0].strip())
                return real_execute(sql, params, **kwargs)

            cur.execute = execute
            yield cur

    body = b'{"transaction_id":"wb-b1","action":"bet","user_id":"wb-igpx","currency":"EUR","amount":"2.50"}'
    with connection.execute_wrapper(record), mock.patch.object(rows, "cursor", traced):
        answer = igpx_services.transaction_process(request=igpx_protocol.parse_transaction(body), raw=body.decode())
    assert '"error": null' in answer
    assert sent == []  # nothing through the ORM
    assert statements == ["WITH claim AS", "WITH moved AS", "WITH held_0 AS"]
    assert OutboxEvent.objects.filter(player_id=player.pk, event_type="Bet").count() == 1


# --- The hot path's value preparation equals Django's ------------------------------------------


def _django_values(obj, fields, add):
    return [f.get_db_prep_save(f.pre_save(obj, add), connection) for f in fields]


def _same(ours, django):
    assert len(ours) == len(django)
    for a, b in zip(ours, django, strict=True):
        if type(a).__name__ == "Jsonb":  # psycopg's wrapper has no ==: compare what it wraps and its text
            assert type(a) is type(b) and a.dumps(a.obj) == b.dumps(b.obj), (a.obj, b.obj)
            a, b = a.obj, b.obj
        assert type(a) is type(b) and a == b, (a, b)


def test_prepared_values_are_what_django_would_send(postgres_only):
    """Every hot-path model, with the values the callbacks give them (str, Decimal, aware
    datetimes, ids, None, booleans, choices members, JSON) and some they never do."""
    from datetime import UTC, datetime

    from crm.models import OutboxEvent
    from wallet.models import Settlement

    player = make_player("prep-alice")
    when = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    samples = [
        _bet(player, "prep-1"),
        Bet(
            provider="igpx",
            external_id="prep-2",
            player_id=player.pk,
            currency="EUR",
            stake=Decimal("1"),
            stake_real=Decimal("1"),
            stake_bonus=Decimal(0),
            payout=Decimal(0),
            status=Bet.Status.OPEN,
            result="",
            odds=None,
            bet_type="single",
            selections=[],
        ),  # fmt: skip
        Settlement(
            bet=None,
            player_id=player.pk,
            kind=Settlement.Kind.RESULT,
            result="paid",
            amount=Decimal("7.25"),
            external_id="r-1",
            transaction_id=None,
        ),  # fmt: skip
        Settlement(
            bet_id=None,
            player_id=player.pk,
            kind="rollback",
            amount=0,
            previous_amount=Decimal("2.50"),
            external_id="rb-1",
            transaction_id=12,
        ),  # fmt: skip  (an int where a Decimal goes)
        OutboxEvent(
            activity_id="tl-bet-1",
            event_type=OutboxEvent.EventType.BET,
            event_status="Approved",
            bet_id=1,
            transaction_id=2,
            player_id=player.pk,
            currency="EUR",
            source="bet_placed",
            balance_after=Decimal("1.5"),
            balance_before=Decimal("2"),
            exchange_rate=Decimal(1),
            occurred_at=when,
            next_attempt_at=when,
            unlinked=False,
        ),  # fmt: skip
        OutboxEvent(
            activity_id="tl-x",
            event_type="Settlement",
            event_status="Rollback",
            player_id=player.pk,
            currency="EUR",
            source="x",
            balance_after=Decimal("0"),
            balance_before=Decimal("0"),
            exchange_rate="1.10",
            occurred_at=datetime(2026, 1, 1),
            next_attempt_at=when,
        ),  # fmt: skip
    ]
    for obj in samples:
        _sql, fields = rows._insert_sql(type(obj))
        fields = tuple(f for f in fields if not getattr(f, "auto_now_add", False) and not getattr(f, "auto_now", False))
        naive = obj.__dict__.get("occurred_at") == datetime(2026, 1, 1)
        with pytest.warns(RuntimeWarning, match="naive datetime") if naive else nullcontext():
            ours = rows._values(obj, fields, True, rows.db())
            django = _django_values(obj, fields, True)
        _same(ours, django)


def test_json_is_dumped_as_django_would_have_psycopg_dump_it():
    """A JSONField's list or dict is dumped with the field's encoder built once: the same text as
    json.dumps(value, cls=encoder), including what only the encoder's `default` handles; a
    circular value is still refused the same way."""
    import json
    from datetime import UTC, datetime
    from uuid import UUID

    from django.core.serializers.json import DjangoJSONEncoder

    dumps = rows._json_dumps(DjangoJSONEncoder)
    assert dumps is not None and rows._json_dumps(None) is not None
    values = [
        [],
        {},
        [{"event_id": "sr:match:1", "odds": "1.75", "name": 'Ünïcødé \u2028 "q" \\ /'}],
        {"n": [1, 2.5, None, True, False], "d": Decimal("1.10"), "t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
        [{"u": UUID(int=7), "nested": {"deep": [[{"x": 1e300}]]}}],
    ]
    for value in values:
        assert dumps(value) == json.dumps(value, cls=DjangoJSONEncoder)
    for value in values[:3]:  # JSON's own types: the plain encoder
        assert rows._json_dumps(None)(value) == json.dumps(value)
    with pytest.raises(TypeError, match="UUID is not JSON serializable"):
        rows._json_dumps(None)(values[-1])
    circular: list = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(circular)

    class Custom(json.JSONEncoder):
        def encode(self, o):  # does more than `default`: Django's path is kept
            return super().encode(o)

    assert rows._json_dumps(Custom) is None


# --- rows.db(): the thread's connection without asgiref's lookup (issue #18) -----------------


def test_db_is_django_s_connection_of_the_thread_that_asks() -> None:
    from django.db import DEFAULT_DB_ALIAS, connections

    assert rows.db() is connections[DEFAULT_DB_ALIAS]
    seen: dict[str, object] = {}

    def other_thread() -> None:
        seen["db"], seen["django"] = rows.db(), connections[DEFAULT_DB_ALIAS]
        connections.close_all()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen["db"] is seen["django"]
    assert seen["db"] is not rows.db()  # each thread its own, as Django keeps them


def test_db_inside_an_event_loop_is_asgiref_s_answer_there() -> None:
    from django.db import DEFAULT_DB_ALIAS, connections

    async def ask() -> tuple[object, object]:
        return rows.db(), connections[DEFAULT_DB_ALIAS]

    mine, django_s = asyncio.run(ask())
    assert mine is django_s
    assert mine is not rows.db()  # asgiref's storage under a loop is not the sync thread's


def test_db_does_not_go_through_the_connection_handler_once_the_thread_has_its_connection(monkeypatch) -> None:
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.utils import ConnectionHandler

    first = rows.db()
    asked: list[str] = []
    original = ConnectionHandler.__getitem__
    monkeypatch.setattr(
        ConnectionHandler, "__getitem__", lambda self, alias: asked.append(alias) or original(self, alias)
    )
    assert rows.db() is first and asked == []
    del connections[DEFAULT_DB_ALIAS]  # gone: db() asks Django, which makes a new one
    try:
        fresh = rows.db()
        assert asked == [DEFAULT_DB_ALIAS] and fresh is not first
    finally:
        connections[DEFAULT_DB_ALIAS] = first
        fresh.close()

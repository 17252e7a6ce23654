"""The apply pipeline around the domain: the journal, rejected and failed messages, batch
isolation, replays from the journal and from files, and the management commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feeds import conf
from feeds.models import FeedMessage, Market, MarketSettlement, SportEvent
from feeds.services import state
from feeds.services.ingest import Incoming, apply_batch
from feeds.simulator import SIMDATA
from tests.feeds.helpers import apply, odds_change, sample, settlement

pytestmark = pytest.mark.django_db


def test_every_message_is_journalled_with_its_routing_key_body_and_outcome():
    key = "hi.-.live.odds_change.4.sr:match.10927088.-"
    body = sample("odds_change_1.xml")
    (result,) = apply(body, routing_key=key)
    row = FeedMessage.objects.get(pk=result.journal_id)
    assert (row.routing_key, bytes(row.body), row.body_size, row.source) == (key, body, len(body), "amqp")
    assert row.received_at is not None and row.applied_at is not None
    assert (row.outcome, row.reason) == ("applied", "43 changes: 43 applied")


def test_malformed_message_is_rejected_with_the_reason_and_the_batch_goes_on():
    good = odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0"})])
    results = apply(
        b"<odds_change product='1'",
        good,
        b'<alive product="1" timestamp="1" subscribed="&x;"/>',
        b"<!DOCTYPE x><alive/>",
    )
    assert [r.outcome for r in results] == ["rejected", "applied", "rejected", "rejected"]
    rejected = FeedMessage.objects.get(pk=results[0].journal_id)
    assert rejected.reason.startswith("malformed: invalid XML") and rejected.applied_at is None
    assert bytes(rejected.body) == b"<odds_change product='1'"
    assert FeedMessage.objects.get(pk=results[3].journal_id).reason.startswith("unsafe_xml:")
    assert Market.objects.count() == 1


def test_a_bug_in_one_message_fails_only_that_message(monkeypatch):
    original = state.apply_bet_settlement

    def explode(ws, msg):
        if msg.timestamp == 666:
            raise RuntimeError("boom")
        return original(ws, msg)

    monkeypatch.setattr(state, "apply_bet_settlement", explode)
    results = apply(
        odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0"})]),
        settlement(ts=666, markets=[(1, "", {"1": 1})]),
        settlement(ts=2000, markets=[(1, "", {"1": 0})]),
    )
    assert [r.outcome for r in results] == ["applied", "failed", "applied"]
    failed = FeedMessage.objects.get(pk=results[1].journal_id)
    assert failed.reason == "RuntimeError: boom" and failed.kind == "bet_settlement"
    assert MarketSettlement.objects.get().outcomes["1"]["result"] == 0


def test_journal_can_keep_bodies_of_unapplied_messages_only(monkeypatch):
    monkeypatch.setattr(conf, "JOURNAL_BODIES", "errors")
    applied, rejected = apply(odds_change(ts=1, markets=[(1, "", 1, {"1": "2.0"})]), b"nope")
    assert bytes(FeedMessage.objects.get(pk=applied.journal_id).body) == b""
    assert bytes(FeedMessage.objects.get(pk=rejected.journal_id).body) == b"nope"


def test_replay_from_the_journal_is_idempotent():
    apply(sample("odds_change_1.xml"), sample("bet_settlement_1.xml"), b"junk")
    before = list(Market.objects.order_by("id").values_list("id", "status", "outcomes", "last_ts"))
    out = StringIO()
    call_command("uof_replay", outcome=["applied"], stdout=out)
    assert "replaying 2 message(s)" in out.getvalue() and "'duplicate': 2" in out.getvalue()
    assert list(Market.objects.order_by("id").values_list("id", "status", "outcomes", "last_ts")) == before
    replays = FeedMessage.objects.filter(source="replay")
    assert replays.count() == 2 and all(r.replay_of_id for r in replays)


def test_replay_of_a_rejected_message_reports_it(capsys):
    apply(b"junk")
    out = StringIO()
    call_command("uof_replay", outcome=["rejected"], stdout=out)
    assert "rejected: malformed" in out.getvalue()


def test_replay_from_a_directory_of_xml_files_applies_every_sample():
    out = StringIO()
    call_command("uof_replay", str(SIMDATA), stdout=out)
    text = out.getvalue()
    assert "replaying 20 message(s)" in text and "rejected" not in text
    assert FeedMessage.objects.filter(source="file").count() == 20
    assert FeedMessage.objects.filter(kind="odds_change", routing_key__startswith="hi.").count() == 5
    assert Market.objects.filter(event__urn="sr:match:31604309").count() == 170


def test_replay_needs_something_to_replay():
    with pytest.raises(CommandError, match="nothing to replay"):
        call_command("uof_replay", ids="999999")


def test_uof_simulate_dry_run_generates_parseable_traffic():
    out = StringIO()
    call_command("uof_simulate", dry_run=True, duration=0.3, rate=200, api_port=0, seed=1, stdout=out)
    assert "simulator stopped after" in out.getvalue()


def test_apply_batch_of_nothing():
    assert apply_batch([]).outcomes == []


def test_incoming_received_time_is_kept():
    from django.utils import timezone

    received = timezone.now().replace(microsecond=0)
    result = apply_batch([Incoming(body=odds_change(ts=5).encode(), received_at=received)])
    assert FeedMessage.objects.get(pk=result.outcomes[0].journal_id).received_at == received


def test_journal_rows_keep_every_field():
    # The PostgreSQL path packs the journal's binary COPY itself: every type, NULLs included.
    from datetime import timedelta

    from django.utils import timezone

    received = timezone.now() - timedelta(days=400, microseconds=7)
    body = b'<snapshot_complete product="3" timestamp="1700000000123" request_id="9876543210"/>'
    bad = "\u00e9\t\\x".encode()
    result = apply_batch(
        [
            Incoming(body=body, routing_key="-.-.-.snapshot_complete.-.-.-.-", received_at=received, replay_of=None),
            Incoming(body=bad, routing_key="k\u00e9y\tx", received_at=received, source=FeedMessage.Source.REPLAY),
        ]
    )
    first, second = (FeedMessage.objects.get(pk=o.journal_id) for o in result.outcomes)
    assert (first.kind, first.product, first.event_urn, first.message_ts, first.request_id) == (
        "snapshot_complete",
        3,
        "",
        1700000000123,
        9876543210,
    )
    assert (bytes(first.body), first.body_size, first.received_at, first.replay_of_id) == (
        body,
        len(body),
        received,
        None,
    )
    assert first.applied_at is not None and first.outcome in ("applied", "ignored")
    assert (second.routing_key, bytes(second.body), second.source, second.outcome) == (
        "k\u00e9y\tx",
        bad,
        "replay",
        "rejected",
    )
    assert (second.product, second.message_ts, second.applied_at, second.kind) == (None, None, None, "")
    assert second.reason.startswith("malformed")


def test_cached_lines_are_dropped_when_another_writer_ran():
    from django.db import transaction

    from feeds.services import store

    apply(odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0"})]))
    apply(odds_change(ts=2000, markets=[(1, "", 1, {"1": "2.1"})]))  # served from the cache
    assert store.CACHE.hits >= 1 and ("sr:match:1", 1, "") in store.CACHE.lines
    # Someone else (a consumer of another partition, a replay) writes a newer line and stamps
    # the event with its own writer_version.
    with transaction.atomic():
        SportEvent.objects.filter(urn="sr:match:1").update(writer_version=12345)
        Market.objects.filter(market_id=1).update(last_ts=9000, status=-1)
    (late,) = apply(odds_change(ts=3000, markets=[(1, "", 1, {"1": "2.2"})]))
    assert late.outcome == "stale"  # decided on the database's line, not the stale copy
    assert Market.objects.get(market_id=1).status == -1


def test_all_cached_lines_of_an_event_someone_else_wrote_are_dropped():
    from django.db import transaction

    apply(odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0"}), (2, "", 1, {"1": "2.0"})]))
    with transaction.atomic():  # another consumer writes line 2 of the event
        SportEvent.objects.filter(urn="sr:match:1").update(writer_version=777)
        Market.objects.filter(market_id=2).update(last_ts=9000, status=-1)
    apply(odds_change(ts=2000, markets=[(1, "", 1, {"1": "2.1"})]))  # line 1 only: stamps the event again
    (late,) = apply(odds_change(ts=3000, markets=[(2, "", 1, {"1": "2.2"})]))
    assert late.outcome == "stale"  # line 2 read from the database, not the copy cached before
    assert Market.objects.get(market_id=2).status == -1


def test_a_failed_batch_empties_the_cache(monkeypatch):
    from feeds.services import store

    apply(odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0"})]))
    monkeypatch.setattr(store, "_flush_markets", lambda ws: (_ for _ in ()).throw(RuntimeError("disk full")))
    (failed,) = apply(odds_change(ts=2000, markets=[(1, "", -1, {"1": "9.9"})]))
    assert failed.outcome == "failed"
    monkeypatch.undo()
    assert store.CACHE.lines == {}
    (again,) = apply(odds_change(ts=2000, markets=[(1, "", -1, {"1": "9.9"})]))
    assert again.outcome == "applied" and Market.objects.get(market_id=1).status == -1


def test_uof_consume_needs_a_broker_url(settings):
    settings.UOF_AMQP_URL = ""
    with pytest.raises(CommandError, match="Set UOF_AMQP_URL"):
        call_command("uof_consume")


def test_beat_schedule_is_registered_by_the_app():
    from config.celery import app

    schedule = app.conf.beat_schedule
    assert schedule["feeds.producers_check"]["task"] == "feeds.producers_check"
    assert schedule["feeds.producers_check"]["schedule"] == float(conf.CHECK_INTERVAL_SECONDS)
    assert {"feeds.fixtures_fetch", "feeds.descriptions_refresh", "feeds.producers_sync", "feeds.journal_prune"} <= set(
        schedule
    )


def test_journal_retention_task(settings):
    from datetime import timedelta

    from django.utils import timezone

    from feeds import tasks

    (old,) = apply(b"junk")
    FeedMessage.objects.filter(pk=old.journal_id).update(
        received_at=timezone.now() - timedelta(hours=conf.JOURNAL_RETENTION_HOURS + 1)
    )
    apply(b"more junk")
    assert tasks.journal_prune() == 1
    assert FeedMessage.objects.count() == 1


def test_consumer_apply_side_survives_a_failing_batch_hook():
    # A hook failing after the commit is logged; the batch stays acked and the next one applies.
    from feeds.consumer import Consumer, _Batch
    from feeds.services.ingest import parse_batch

    def boom(result):
        raise RuntimeError("hook")

    consumer = Consumer(url="amqp://unused", keys=["#"], on_batch=boom, after_commit=None)
    acks = []
    for ts in (1, 2):
        parsed = parse_batch([Incoming(body=odds_change(ts=ts, markets=[(1, "", 1, {"1": "2.0"})]).encode())])
        consumer._apply(_Batch(parsed, lambda: acks.append(1)))
    assert acks == [1, 1] and consumer.stats.messages == 2
    assert FeedMessage.objects.filter(outcome="applied").count() == 2

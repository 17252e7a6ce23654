"""Fast Track export benchmark: N SPORTSBOOK events through RabbitMQ with publisher confirms.

Three phases on a fresh PostgreSQL database (default tl_bench_crm, dropped and re-created):

0. overhead: what the outbox subscriber adds to a bet's money transaction (median
   transaction time with the outbox on vs off, alternating bet by bet).
1. drain: N events are written first (bets and settlements through the wallet postings, so
   the outbox rows come from the real subscriber), then W delivery workers drain the
   backlog. Throughput = N / (first claim → last message received by the consumer).
2. live: writers produce N more events while the workers deliver. Latency per event =
   consumer receipt − the writer's commit; throughput = N / (first commit → last receipt).

The workers are processes running crm.services.deliver_pending in a loop (what a Celery
worker runs on each kick; an idle worker polls every --idle-ms). The consumer reads the
bound queue in this process and timestamps every message; commit times are recorded by the
writers right after their transaction commits (same clock: one machine).

    python bench/crm_export.py --events 4000 --workers 2 --writers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AMQP_URL = os.environ.get("TOUCHLINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
EXCHANGE, QUEUE, KEY = "tl_crm_test_bench_x", "tl_crm_test_bench_q", "tl_crm_test_bench.sportsbook"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TOUCHLINE_DEMO", "true")  # demo secrets, plain HTTP (config/security.py)
    os.environ["FASTTRACK_TRANSPORT"] = "off"  # the bench's own workers deliver, not on-commit kicks
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["LOG_LEVEL"] = "warning"
    import django

    django.setup()


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def prepare_broker() -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.exchange_declare(EXCHANGE, exchange_type="direct", durable=True)
    channel.queue_declare(QUEUE, durable=True)
    channel.queue_purge(QUEUE)
    channel.queue_bind(QUEUE, EXCHANGE, routing_key=KEY)
    connection.close()


def drop_broker() -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_delete(QUEUE)
    channel.exchange_delete(EXCHANGE)
    connection.close()


# --- workers (processes) -----------------------------------------------------------------------


def worker_main(database_url: str, stop, idle_ms: int, stats_queue) -> None:
    setup_django(database_url)
    from crm.services import deliver_pending
    from crm.transports.rabbitmq import RabbitMQTransport

    transport = RabbitMQTransport(AMQP_URL, EXCHANGE, KEY, timeout=10)
    delivered = batches = 0
    busy = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        result = deliver_pending(transport=transport, time_budget=1.0)
        if result.claimed:
            busy += time.perf_counter() - started
            delivered += len(result.delivered)
            batches += 1
        else:
            time.sleep(idle_ms / 1000)
    transport.close()
    stats_queue.put({"delivered": delivered, "busy_s": round(busy, 2)})


# --- consumer (thread) ------------------------------------------------------------------------


class Consumer(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.received: dict[str, float] = {}
        self.order: list[str] = []
        self.duplicates = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=500)

        def on_message(ch, method, properties, body):
            now = time.time()
            activity = properties.message_id
            if activity in self.received:
                self.duplicates += 1
            else:
                self.received[activity] = now
                self.order.append(activity)
            ch.basic_ack(method.delivery_tag)

        channel.basic_consume(QUEUE, on_message)
        while not self.stop.is_set():
            connection.process_data_events(time_limit=0.05)
        connection.close()


# --- writers -------------------------------------------------------------------------------------


def write_events(players: list, count: int, writers: int, tag: str) -> dict[str, float]:
    """Write `count` events (bet, then its settlement) across `writers` threads; commit times by activity_id."""
    from decimal import Decimal

    from django.db import connections, transaction

    from crm import conf, mapping
    from wallet.selectors import wallet_get
    from wallet.services.postings import bet_place_apply, bet_settle_apply

    selection = {
        "sport": "Soccer",
        "tournament": "Premier League",
        "event": "Arsenal vs Chelsea",
        "event_date": "2030-01-15T19:45:00Z",
        "market": "1x2",
        "outcome": "Arsenal",
        "odds": "2.50",
        "is_live": False,
    }
    commits: dict[str, float] = {}
    lock = threading.Lock()
    per_writer = count // writers

    def writer(index: int) -> None:
        mine = players[index::writers]
        done = 0
        n = 0
        try:
            while done < per_writer:
                player = mine[n % len(mine)]
                n += 1
                with transaction.atomic():
                    wallet = wallet_get(external_id=player, currency="EUR")
                    placed = bet_place_apply(
                        provider="bench",
                        external_id=f"{tag}-{index}-{n}",
                        wallet=wallet,
                        amount=Decimal("1.00"),
                        odds=Decimal("2.5"),
                        selections=[selection],
                    )
                at = time.time()
                with lock:
                    commits[mapping.bet_activity_id(conf.ACTIVITY_PREFIX, placed.bet.pk)] = at
                done += 1
                if done >= per_writer:
                    break
                with transaction.atomic():
                    settled = bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("2.50"), result="won")
                at = time.time()
                with lock:
                    commits[mapping.settlement_activity_id(conf.ACTIVITY_PREFIX, settled.settlement.pk)] = at
                done += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return commits


def subscriber_cost(players: list[str], count: int) -> dict:
    from decimal import Decimal

    from django.db import transaction

    from crm import conf
    from wallet.selectors import wallet_get
    from wallet.services.postings import bet_place_apply

    timings: dict[bool, list[float]] = {False: [], True: []}
    for n in range(count):
        enabled = bool(n % 2)
        conf.OUTBOX_ENABLED = enabled
        player = players[n % len(players)]
        started = time.perf_counter()
        with transaction.atomic():
            wallet = wallet_get(external_id=player, currency="EUR")
            bet_place_apply(
                provider="bench", external_id=f"overhead-{n}", wallet=wallet, amount=Decimal("1.00"), selections=[]
            )
        timings[enabled].append((time.perf_counter() - started) * 1000)
    conf.OUTBOX_ENABLED = True
    off, on = statistics.median(timings[False]), statistics.median(timings[True])
    return {
        "bets_each": count // 2,
        "bet_txn_ms_p50_outbox_off": round(off, 2),
        "bet_txn_ms_p50_outbox_on": round(on, 2),
        "subscriber_ms_p50": round(on - off, 2),
    }


def seed_players(count: int) -> list[str]:
    """`count` players with a funded EUR wallet each; their external ids."""
    from decimal import Decimal

    from django.db import transaction

    from wallet.selectors import wallet_get
    from wallet.services.players import player_create
    from wallet.services.transfers import deposit_apply

    players = [f"bench-{n:04d}" for n in range(count)]
    for external_id in players:
        player_create(external_id=external_id, currencies=["EUR"])
        with transaction.atomic():
            wallet = wallet_get(external_id=external_id, currency="EUR")
            deposit_apply(wallet=wallet, amount=Decimal("100000"), reference=f"fund-{external_id}", actor_id=None)
    return players


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def wait_for(consumer: Consumer, expected: set[str], timeout: float) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if expected.issubset(consumer.received.keys()):
            return max(consumer.received[a] for a in expected)
        time.sleep(0.01)
    missing = len(expected - consumer.received.keys())
    raise SystemExit(f"timeout: {missing} events not received")


def check_order(consumer: Consumer) -> int:
    """Events received out of their player's outbox order (must be 0)."""
    from crm.models import OutboxEvent

    player_of = dict(OutboxEvent.objects.values_list("activity_id", "player_id"))
    id_of = dict(OutboxEvent.objects.values_list("activity_id", "id"))
    last: dict[int, int] = {}
    violations = 0
    for activity in consumer.order:
        player, row_id = player_of[activity], id_of[activity]
        if row_id < last.get(player, 0):
            violations += 1
        last[player] = row_id
    return violations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_crm")
    parser.add_argument("--events", type=int, default=4000, help="events per phase")
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="delivery worker processes")
    parser.add_argument("--writers", type=int, default=2, help="writer threads in the live phase")
    parser.add_argument("--idle-ms", type=int, default=5, help="an idle worker's polling interval")
    parser.add_argument(
        "--overhead", type=int, default=1000, help="bets timed in the subscriber-cost phase (0: skip it)"
    )
    args = parser.parse_args()

    recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    prepare_broker()

    from crm.models import OutboxEvent

    players = seed_players(args.players)

    consumer = Consumer()
    consumer.start()
    results: dict[str, dict] = {}

    # Phase 0: what the subscriber costs the wallet. Bets are placed one at a time, the
    # outbox switched on and off for alternate bets (so machine noise hits both alike), and
    # the medians of the two transaction times compared.
    if args.overhead:
        results["overhead"] = subscriber_cost(players, args.overhead)
        OutboxEvent.objects.all().delete()  # phase 1 starts from an empty outbox

    # Phase 1: backlog drain.
    started = time.time()
    commits = write_events(players, args.events, 2, "drain")
    write_rate = len(commits) / (time.time() - started)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    stats_queue = ctx.Queue()
    workers = [
        ctx.Process(target=worker_main, args=(args.database_url, stop, args.idle_ms, stats_queue))
        for _ in range(args.workers)
    ]
    drain_start = time.time()
    for worker in workers:
        worker.start()
    last = wait_for(consumer, set(commits), timeout=600)
    # Worker start-up (a fresh interpreter + django.setup) is not export work: measure from the first receipt.
    first_receipt = min(consumer.received[a] for a in commits)
    drain_elapsed = last - drain_start
    results["drain"] = {
        "events": len(commits),
        "writer_events_per_s": round(write_rate),
        "elapsed_incl_worker_startup_s": round(drain_elapsed, 2),
        "events_per_s_from_first_delivery": round(len(commits) / (last - first_receipt)),
    }

    # Phase 2: live, workers already running.
    live_start = time.time()
    commits2 = write_events(players, args.events, args.writers, "live")
    write_elapsed = time.time() - live_start
    last2 = wait_for(consumer, set(commits2), timeout=600)
    latencies = [(consumer.received[a] - t) * 1000 for a, t in commits2.items()]
    first_commit = min(commits2.values())
    results["live"] = {
        "events": len(commits2),
        "writers": args.writers,
        "written_events_per_s": round(len(commits2) / write_elapsed),
        "delivered_events_per_s": round(len(commits2) / (last2 - first_commit)),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p90": round(percentile(latencies, 0.90), 1),
        "latency_ms_p99": round(percentile(latencies, 0.99), 1),
        "latency_ms_max": round(max(latencies), 1),
    }

    stop.set()
    worker_stats = [stats_queue.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    consumer.stop.set()
    consumer.join(timeout=5)
    results["checks"] = {
        "duplicates_received": consumer.duplicates,
        "out_of_order": check_order(consumer),
        "not_delivered": OutboxEvent.objects.exclude(status="delivered").count(),
        "workers": worker_stats,
    }
    drop_broker()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""UOF ingest benchmark: odds_change messages through RabbitMQ into PostgreSQL.

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/tl_feeds \
    /work/main/.venv/bin/python bench/feed_ingest.py [--messages 20000] [--events 500] [--paced-rate 500 --paced-seconds 20]
  ... bench/feed_ingest.py --consumers 1 2 [--partition share sport] [--messages 20000] [--paced-rate 500 --paced-seconds 20]

Phases (each on a fresh tl_feeds_bench_* exchange, deleted afterwards):
  1. raw:   publish N messages, then pika consume + XML parse only (no database): the ceiling.
  2. burst: a publisher process publishes N messages as fast as it can while the in-process
            Consumer (the real uof_consume loop: batches, one transaction per batch, journal,
            ack after commit) applies them: messages/s from first publish to last commit,
            and lag = commit time - the message's timestamp (set at publish time, as a producer would).
  3. paced: the publisher holds a fixed rate (default 500 msg/s) for a while: lag p50/p99/max.
With --consumers 1 2 (any list), phases 2 and 3 run instead once per count, each consumer a
separate process (its own core and GIL) taking a partition of the feed, for each --partition:
  share: share k/N of the events (uof_consume --share): every consumer receives every message
         and skips the other shares' unparsed;
  sport: one sport each, by routing-key binding (uof_consume --sport): the broker sends each
         consumer only its sport (the publisher spreads events over sports 1 and 5).
msg/s committed, consumer CPU per message (all consumer processes together) and lag p99, for
every count and partition in the same run.
Messages are realistic odds_change bodies: 10-50 markets each (1x2, totals, handicaps, correct
score lines…, 2-3 outcomes with odds and probabilities), spread over --events events.

The feed tables of the database are TRUNCATEd first: point it at a scratch database.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TOUCHLINE_DEMO", "true")  # demo secrets, plain HTTP (config/security.py)

AMQP = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
SPORTS = (1, 5)  # the publisher's events alternate between soccer and tennis (routing keys)
_print = print  # progress goes to stdout; children talk to the parent on stdout too
logging.getLogger("pika").setLevel(logging.WARNING)  # a line per connection step drowns the figures

from bench._feed_messages import TS_PLACEHOLDER, make_messages  # noqa: E402, F401 - feeds_phases imports them here too

# --- the publisher (runs as a separate process so it has its own core) ---------------------------------


def publisher_main(exchange: str, n: int, events: int, rate: float) -> None:
    import pika

    messages = make_messages(n, events, sports=SPORTS)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=False, auto_delete=False)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    started = time.perf_counter()
    for i, (key, body) in enumerate(messages):
        if rate:
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        stamped = body.replace(TS_PLACEHOLDER, str(int(time.time() * 1000)).encode(), 1)
        channel.basic_publish(exchange, key, stamped)
        if i % 500 == 0:
            connection.process_data_events(time_limit=0)
    elapsed = time.perf_counter() - started
    connection.close()
    print(f"published {n} in {elapsed:.2f}s ({n / elapsed:.0f}/s)", flush=True)


def start_publisher(exchange: str, n: int, events: int, rate: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--publisher", exchange, str(n), str(events), str(rate)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


# --- CPU accounting -------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(path: str) -> float:
    """utime + stime of /proc/<pid>[/task/<tid>]/stat in seconds (0 if it is gone)."""
    try:
        with open(f"{path}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _users_cpu() -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each process of the broker and of the database server."""
    import pwd

    uids = {}
    for name in ("rabbitmq", "postgres"):
        try:
            uids[pwd.getpwnam(name).pw_uid] = name
        except KeyError:
            pass
    totals: dict[str, dict[int, float]] = {name: {} for name in uids.values()}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if owner in uids:
            totals[uids[owner]][int(pid)] = _proc_cpu(f"/proc/{pid}")
    return totals


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class GcTimer:
    """Wall time spent in the cyclic garbage collector (all threads), by generation."""

    def __init__(self) -> None:
        import gc

        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.counts[info["generation"]] += 1

    def take(self) -> tuple[list[float], list[int]]:
        values = (self.seconds[:], self.counts[:])
        self.seconds, self.counts = [0.0, 0.0, 0.0], [0, 0, 0]
        return values


GC = GcTimer()


class CpuMeter:
    """CPU seconds per component over one phase: broker, database, publisher, and this process
    split into its threads (the consumer's AMQP/parse thread and its apply thread)."""

    def __init__(self, publisher_pid: int | None = None) -> None:
        self.publisher_pid = publisher_pid
        self.threads: dict[str, int] = {}
        self.start = self._read()
        GC.take()
        self.start_pids = self.pids
        for name in self.pids:
            self.start[name] = 0.0  # the per-process deltas are taken in _read

    def _read(self) -> dict[str, float]:
        # Per process, so that one that exits during the phase (an autovacuum worker, a test
        # connection) is not subtracted; its last seconds are missed (they show as "not ours").
        self.pids, values = _users_cpu(), {}
        for name, pids in self.pids.items():
            before = getattr(self, "start_pids", {}).get(name, {})
            values[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in pids.items())
        if self.publisher_pid:
            values["publisher"] = _proc_cpu(f"/proc/{self.publisher_pid}")
        values["consumer process"] = _proc_cpu("/proc/self")
        for name, tid in self.threads.items():
            values[name] = _proc_cpu(f"/proc/self/task/{tid}")
        values["machine busy"], values["machine total"] = _machine_busy()
        return values

    def add_thread(self, name: str, native_id: int) -> None:
        self.threads[name] = native_id
        self.start[name] = _proc_cpu(f"/proc/self/task/{native_id}")

    def stop(self, messages: int) -> str:
        end = self._read()
        parts = []
        for name, value in end.items():
            if name == "machine total":
                continue
            used = value - self.start.get(name, 0.0)
            parts.append(f"{name} {used / messages * 1e6:.0f}")
        wall = end["machine total"] - self.start["machine total"]
        busy = end["machine busy"] - self.start["machine busy"]
        ours = sum(
            end[k] - self.start.get(k, 0.0)
            for k in ("rabbitmq", "postgres", "publisher", "consumer process")
            if k in end
        )
        # Whatever else ran meanwhile (kernel, other tenants of the box invisible from here).
        other = (busy - ours) / messages * 1e6
        gc_seconds, gc_counts = GC.take()
        gc_text = ", ".join(
            f"gen{g} {n}x {t / messages * 1e6:.0f}" for g, (t, n) in enumerate(zip(gc_seconds, gc_counts, strict=True))
        )
        return (
            "CPU us/msg: "
            + ", ".join(parts)
            + f", of which not ours {other:.0f} (machine {busy / wall * 100:.0f}% busy)"
            + f"; consumer's GC us/msg: {gc_text}"
        )


# --- phases ---------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def phase_raw(n: int, events: int) -> dict:
    """Publish everything into a named queue first, then consume + parse as fast as possible."""
    import pika

    from feeds.protocol.messages import parse_message

    queue = f"tl_feeds_bench_raw_{os.getpid()}"
    messages = make_messages(n, events, sports=SPORTS)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.queue_declare(queue, auto_delete=True)
    now = str(int(time.time() * 1000)).encode()
    for _key, body in messages:
        channel.basic_publish("", queue, body.replace(TS_PLACEHOLDER, now, 1))
    channel.basic_qos(prefetch_count=1000)
    count = 0
    markets = 0
    meter = CpuMeter()
    started = time.perf_counter()
    for method, _props, body in channel.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        msg = parse_message(body)
        markets += len(msg.markets)
        count += 1
        if count == n:
            channel.basic_ack(method.delivery_tag, multiple=True)
            break
        if count % 500 == 0:
            channel.basic_ack(method.delivery_tag, multiple=True)
    elapsed = time.perf_counter() - started
    cpu = meter.stop(count)
    channel.cancel()
    channel.queue_delete(queue)
    connection.close()
    return {
        "messages": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "markets_per_msg": markets / count,
        "cpu": cpu,
    }


def start_consumer(exchange, name, stop, on_batch, batch_size, prefetch, keys=("#",), **extra):
    """A consumer of `keys` (default every key) of the bench's exchange, running in a thread, ready to take messages."""
    from feeds.consumer import Consumer

    consumer = Consumer(
        url=AMQP,
        exchange=exchange,
        keys=list(keys),
        prefetch=prefetch,
        batch_size=batch_size,
        batch_wait_ms=20,
        stop=stop,
        after_commit=None,
        on_batch=on_batch,
        mark_down_on_connect=False,
        connection_name=name,
        **extra,
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert consumer.ready.wait(10)
    return consumer, thread


def phase_consume(n: int, events: int, rate: float, batch_size: int, prefetch: int) -> dict:
    exchange = f"tl_feeds_bench_{os.getpid()}_{int(time.time())}"
    lags: list[float] = []
    done = threading.Event()
    seen = [0]
    last_commit = [0.0]
    batches: list[float] = []

    def on_batch(result) -> None:
        now_ms = time.time() * 1000
        for o in result.outcomes:
            if o.message_ts:
                lags.append(now_ms - o.message_ts)
        batches.append(result.seconds)
        seen[0] += len(result.outcomes)
        last_commit[0] = time.perf_counter()
        if seen[0] >= n:
            done.set()

    publisher = start_publisher(exchange, n, events, rate)
    stop = threading.Event()
    consumer, thread = start_consumer(exchange, f"{exchange}-consumer", stop, on_batch, batch_size, prefetch)
    meter = CpuMeter(publisher.pid)
    meter.add_thread("amqp+parse thread", thread.native_id)
    applier = next((t for t in threading.enumerate() if t.name == "uof-apply"), None)
    if applier is not None:
        meter.add_thread("apply thread", applier.native_id)
    started = time.perf_counter()
    publisher.stdin.write("go\n")
    publisher.stdin.flush()
    done.wait(timeout=max(120, n / 100))
    cpu = meter.stop(max(seen[0], 1))
    published = publisher.stdout.readline().strip()
    publisher.wait(30)
    stop.set()
    thread.join(10)
    elapsed = last_commit[0] - started
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    connection.channel().exchange_delete(exchange)
    connection.close()
    return {
        "messages": seen[0],
        "seconds": elapsed,
        "rate": seen[0] / elapsed if elapsed else 0,
        "lag_p50_ms": pct(lags, 50),
        "lag_p99_ms": pct(lags, 99),
        "lag_max_ms": max(lags) if lags else float("nan"),
        "batches": len(batches),
        "batch_ms_p50": pct(batches, 50) * 1000,
        "batch_ms_p99": pct(batches, 99) * 1000,
        "outcomes": consumer.stats.outcomes,
        "publisher": published,
        "cpu": cpu,
    }


# --- N consumer processes ---------------------------------------------------------------------------------


def consumer_main(exchange: str, part: str, batch_size: int, prefetch: int) -> None:
    """A child: one Consumer taking `part` of the feed ('all', a share 'k/N' or 'sport:ID');
    'stop' on stdin ends it and it prints one JSON line: messages, skipped, CPU seconds, lags,
    last commit time."""
    import json

    import django

    django.setup()
    import gc

    gc.set_threshold(200_000, 50, 100)  # as uof_consume does
    from feeds.protocol.routing import bindings
    from feeds.services.consumers import parse_share

    lags: list[float] = []
    last_commit = [0.0]

    def on_batch(result) -> None:
        now_ms = time.time() * 1000
        lags.extend(now_ms - o.message_ts for o in result.outcomes if o.message_ts)
        last_commit[0] = time.time()

    stop = threading.Event()
    keys, share = ["#"], None
    if part.startswith("sport:"):
        keys = bindings("all", sports=(int(part.removeprefix("sport:")),))
    elif part != "all":
        share = parse_share(part)
    consumer, thread = start_consumer(
        exchange, f"{exchange}-{part}", stop, on_batch, batch_size, prefetch, keys=keys, share=share, register=False
    )
    cpu_start = time.process_time()
    print("ready", flush=True)
    sys.stdin.readline()  # stop
    stop.set()
    thread.join(30)
    print(
        json.dumps(
            {
                "messages": consumer.stats.messages,
                "skipped": consumer.stats.skipped,
                "cpu": time.process_time() - cpu_start,
                "lags": lags,
                "last_commit": last_commit[0],
            }
        ),
        flush=True,
    )


def phase_consumers(
    n: int, events: int, rate: float, count: int, batch_size: int, prefetch: int, partition: str = "share"
) -> dict:
    """`count` consumer processes, each a partition (share k/count, or one sport), against one
    publisher: msg/s, CPU, lag."""
    import json

    import pika
    from django.db import connection

    reset_db()
    exchange = f"tl_feeds_bench_{os.getpid()}_{int(time.time())}_{count}"
    publisher = start_publisher(exchange, n, events, rate)
    if count == 1:
        parts = ["all"]
    elif partition == "sport":
        if count > len(SPORTS):
            raise SystemExit(f"--partition sport: the publisher has {len(SPORTS)} sports, not {count}")
        parts = [f"sport:{sport}" for sport in SPORTS[:count]]
    else:
        parts = [f"{k}/{count}" for k in range(count)]
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--consumer", exchange, part, str(batch_size), str(prefetch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for part in parts
    ]
    for child in children:
        assert child.stdout.readline().strip() == "ready", "a consumer process did not start"
    started = time.time()
    publisher.stdin.write("go\n")
    publisher.stdin.flush()
    deadline = time.monotonic() + max(120, n / 50)
    committed = 0
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM feeds_feedmessage")
            committed = cursor.fetchone()[0]
        if committed >= n:
            break
        time.sleep(0.2)
    published = publisher.stdout.readline().strip()
    publisher.wait(30)
    reports = []
    for child in children:
        child.stdin.write("stop\n")
        child.stdin.flush()
    for child in children:
        reports.append(json.loads(child.stdout.readline()))
        child.wait(30)
    connection_ = pika.BlockingConnection(pika.URLParameters(AMQP))
    connection_.channel().exchange_delete(exchange)
    connection_.close()
    lags = [lag for r in reports for lag in r["lags"]]
    messages = sum(r["messages"] for r in reports)
    elapsed = max(r["last_commit"] for r in reports) - started
    return {
        "consumers": count,
        "partition": "" if count == 1 else f" by {partition}",
        "messages": messages,
        "committed": committed,
        "rate": messages / elapsed if elapsed > 0 else 0.0,
        "cpu_us_per_msg": sum(r["cpu"] for r in reports) / max(messages, 1) * 1e6,
        "skipped": sum(r["skipped"] for r in reports),
        "lag_p50_ms": pct(lags, 50),
        "lag_p99_ms": pct(lags, 99),
        "publisher": published,
    }


def report_consumers(label: str, r: dict) -> None:
    _print(
        f"{label}, {r['consumers']} consumer(s){r['partition']}: {r['rate']:.0f} msg/s committed ({r['messages']} of {r['committed']}); "
        f"consumer CPU {r['cpu_us_per_msg']:.0f} us/msg (all consumer processes, skipping included: "
        f"{r['skipped']} other-share messages); lag p50 {r['lag_p50_ms']:.0f} ms p99 {r['lag_p99_ms']:.0f} ms; {r['publisher']}",
        flush=True,
    )


def reset_db() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE feeds_marketchange, feeds_betcancel, feeds_marketsettlement, feeds_market, feeds_feedmessage,"
            " feeds_sportevent RESTART IDENTITY CASCADE"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--prefetch", type=int, default=4000)
    parser.add_argument("--paced-rate", type=float, default=500)
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument(
        "--consumers", type=int, nargs="+", default=None, help="consumer process counts to compare, e.g. 1 2"
    )
    parser.add_argument(
        "--partition",
        nargs="+",
        choices=["share", "sport"],
        default=["share"],
        help="how 2+ consumers split the feed: share (hash of the event) and/or sport (routing-key bindings)",
    )
    parser.add_argument("--journal-bodies", choices=["all", "errors"], default=None)
    parser.add_argument(
        "--gc-threshold", type=int, default=200_000, help="gen0 threshold (uof_consume: 200000; 0 = Python default)"
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    from feeds import conf

    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a scratch PostgreSQL database")
    import gc

    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, 50, 100)  # as uof_consume does
    if args.journal_bodies:
        conf.JOURNAL_BODIES = args.journal_bodies
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # a new scratch database works as it is
    print(
        f"database {connection.settings_dict['NAME']}, journal bodies: {conf.JOURNAL_BODIES}, batch {args.batch_size}, prefetch {args.prefetch}"
    )
    reset_db()
    if not args.skip_raw:
        raw = phase_raw(min(args.messages, 20000), args.events)
        print(
            f"raw pika consume + parse (no DB): {raw['rate']:.0f} msg/s ({raw['messages']} in {raw['seconds']:.2f}s, {raw['markets_per_msg']:.1f} markets/msg)"
        )
        print(f"  {raw['cpu']}")
    if args.consumers:
        for count in args.consumers:
            for partition in ["share"] if count == 1 else args.partition:
                sizes = (args.batch_size, args.prefetch, partition)
                report_consumers("burst", phase_consumers(args.messages, args.events, 0, count, *sizes))
                if args.paced_seconds:
                    n = int(args.paced_rate * args.paced_seconds)
                    paced = phase_consumers(n, args.events, args.paced_rate, count, *sizes)
                    report_consumers(f"paced {args.paced_rate:.0f} msg/s", paced)
        return
    burst = phase_consume(args.messages, args.events, 0, args.batch_size, args.prefetch)
    print(
        f"burst: {burst['rate']:.0f} msg/s committed ({burst['messages']} in {burst['seconds']:.2f}s; {burst['publisher']}); "
        f"lag p50 {burst['lag_p50_ms']:.0f} ms p99 {burst['lag_p99_ms']:.0f} ms max {burst['lag_max_ms']:.0f} ms; "
        f"{burst['batches']} batches, p50 {burst['batch_ms_p50']:.0f} ms p99 {burst['batch_ms_p99']:.0f} ms; {burst['outcomes']}"
    )
    print(f"  {burst['cpu']}")
    if args.paced_seconds:
        n = int(args.paced_rate * args.paced_seconds)
        paced = phase_consume(n, args.events, args.paced_rate, args.batch_size, args.prefetch)
        print(
            f"paced {args.paced_rate:.0f} msg/s: {paced['rate']:.0f} msg/s committed; lag p50 {paced['lag_p50_ms']:.0f} ms "
            f"p99 {paced['lag_p99_ms']:.0f} ms max {paced['lag_max_ms']:.0f} ms; {paced['batches']} batches, "
            f"p50 {paced['batch_ms_p50']:.1f} ms p99 {paced['batch_ms_p99']:.1f} ms"
        )
        print(f"  {paced['cpu']}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM feeds_market")
        markets = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('feeds_feedmessage'))")
        journal = cursor.fetchone()[0]
    print(f"state: {markets} market lines; journal {journal}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--publisher":
        publisher_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--consumer":
        consumer_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()

"""Quote latency: the simulator fires price.ask.new of 2–12 legs at a steady rate over a real
WebSocket; the listener prices and POSTs offers. Measured:

- in-process: frame received by the listener → offer POST handed to the HTTP client
  (the issue's definition; goal p99 < 10 ms);
- wire: the simulator sent the frame → the simulator received the offer POST.

The simulator runs in its own process (as ProphetX would), so it does not share the listener's
GIL; both sides read CLOCK_MONOTONIC (time.perf_counter_ns), comparable across processes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tl_parlays \\
        python bench/quote_latency.py --rate 100 --duration 30

The database is migrated and its parlay tables emptied first. Prices come from the simulator's
in-memory feed (feeds.selectors is not in this tree yet), so the figures exclude the feed lookup's
own cost; see docs/benchmarks/parlays.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TOUCHLINE_DEMO", "true")  # demo secrets, plain HTTP (config/security.py)
GAMES, SEED = 24, 9


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, values_ms: list[float]) -> str:
    if not values_ms:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(values_ms)} p50={percentile(values_ms, 50):.3f} ms p90={percentile(values_ms, 90):.3f} ms "
        f"p99={percentile(values_ms, 99):.3f} ms max={max(values_ms):.3f} ms mean={statistics.fmean(values_ms):.3f} ms"
    )


def simulator_process(control, results, rate: float, duration: float, warmup: float, confirm_every: int) -> None:
    """The fake ProphetX, in its own process: serve, wait for 'go', send traffic, report timings."""
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    from parlays.simulator import ProphetXSimulator, make_games

    sim = ProphetXSimulator(games=make_games(GAMES, seed=SEED), health_interval_s=5).start()
    results.put((sim.rest_url, sim.ws_url, sim.access_key, sim.secret_key, sim.event_mappings()))
    assert control.get() == "go"
    sim.run_traffic(rate_per_s=rate, duration_s=warmup, legs=(2, 12), seed=1)
    time.sleep(0.5)
    warm = set(sim.asks)
    started = time.monotonic()
    sent = sim.run_traffic(rate_per_s=rate, duration_s=duration, legs=(2, 12), confirm_every=confirm_every, seed=2)
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(sim.asks[p].offer_received_ns is None for p in sent):
        time.sleep(0.1)
    time.sleep(1.0)
    timings = {
        p: (sim.asks[p].sent_ns, sim.asks[p].offer_received_ns, sim.asks[p].offer_error) for p in sent if p not in warm
    }
    results.put((timings, elapsed, len(sim.offer_errors), len(sim.confirm_errors)))
    control.get()  # 'stop'
    sim.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="RFQs per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of traffic")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of traffic excluded from the figures")
    parser.add_argument("--workers", type=int, default=4, help="quote threads (PROPHETX_QUOTE_WORKERS)")
    parser.add_argument(
        "--switch-ms", type=float, default=1.0, help="GIL switch interval in ms (PROPHETX_GIL_SWITCH_US / 1000)"
    )
    parser.add_argument("--confirm-every", type=int, default=25, help="confirm every Nth RFQ (0: none)")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    control, results = context.Queue(), context.Queue()
    child = context.Process(
        target=simulator_process,
        args=(control, results, args.rate, args.duration, args.warmup, args.confirm_every),
        daemon=True,
    )
    child.start()

    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from parlays import models
    from parlays.conf import ParlaySettings
    from parlays.demo import DEMO_CORRELATIONS
    from parlays.listener import build, run_in_thread
    from parlays.protocol.rest import ProphetXClient
    from parlays.services.lines import seed_reference_data, sync_supported_lines
    from parlays.services.quotes import LATENCIES
    from parlays.simulator import SimPriceSource, make_games

    for model in (
        models.ExposureReservation,
        models.BookEntry,
        models.ReconciliationIssue,
        models.Order,
        models.Confirmation,
        models.QuoteOffer,
        models.QuoteLeg,
        models.QuoteRequest,
        models.InboundMessage,
        models.MatchedOrder,
        models.ParlaySettlement,
        models.LineMapping,
        models.PxLine,
        models.PxEvent,
    ):
        model.objects.all().delete()
    rest_url, ws_url, access_key, secret_key, mappings = results.get(timeout=60)
    for event_id, urn in mappings.items():
        models.PxEvent.objects.create(sport_event_id=event_id, event_urn=urn)
    for a, b, factor, blocked, _note in DEMO_CORRELATIONS:
        a, b = sorted((a, b))
        models.CorrelationRule.objects.get_or_create(
            class_a=a, class_b=b, defaults={"factor": factor, "blocked": blocked}
        )

    sys.setswitchinterval(args.switch_ms / 1000)
    settings = ParlaySettings(quote_workers=args.workers, max_pending_asks=1000)
    client = ProphetXClient(rest_url, access_key, secret_key)
    seed_reference_data(client, settings)
    sync_supported_lines(client)
    listener = build(
        settings=settings,
        client=client,
        price_source=SimPriceSource(make_games(GAMES, seed=SEED)),
        ws_url_override=ws_url,
    )
    _, stop = run_in_thread(listener)
    if not listener.connected.wait(10):
        print("listener did not connect", file=sys.stderr)
        return 1
    print(
        f"database: {connection.vendor} {connection.settings_dict.get('NAME')}; workers={args.workers}; "
        f"GIL switch interval {args.switch_ms} ms; simulator in a separate process"
    )
    print(
        f"traffic: {args.rate}/s for {args.duration}s (+{args.warmup}s warm-up), legs 2-12, confirm every {args.confirm_every}"
    )
    control.put("go")
    time.sleep(args.warmup + 0.4)
    LATENCIES.clear()
    timings, elapsed, offer_errors, confirm_errors = results.get(timeout=args.duration + 120)
    in_process = [ns / 1e6 for ns in LATENCIES.snapshot()]
    stop()
    control.put("stop")
    child.join(10)
    wire = [(got - sent) / 1e6 for sent, got, error in timings.values() if got is not None and not error]
    sent = list(timings)
    statuses: dict[str, int] = {}
    for status in models.QuoteRequest.objects.filter(parlay_id__in=sent).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    reasons: dict[str, int] = {}
    declined = models.QuoteRequest.objects.filter(parlay_id__in=sent, status="declined")
    for reason in declined.values_list("decline_reason", flat=True):
        reasons[reason] = reasons.get(reason, 0) + 1
    print(
        f"sent {len(sent)} RFQs in {elapsed:.1f}s ({len(sent) / elapsed:.1f}/s); recorded: {statuses}; declines: {reasons}"
    )
    print(f"offers refused by the simulator's ProphetX checks: {offer_errors}; confirm errors: {confirm_errors}")
    accepts = models.Confirmation.objects.filter(action="accept").count()
    print(f"orders: {models.Order.objects.count()} ({accepts} accepts)")
    print(summary("frame received -> offer POST sent (in-process)", in_process))
    print(summary("frame sent -> offer POST received (simulator, wire)", wire))
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

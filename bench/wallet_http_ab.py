#!/usr/bin/env python
"""Set-ups side by side, alternating: the p99 a wallet callback gets under each at one paced rate
(or, with --closed, the requests/s of a closed loop).

A paced phase's p99 is set by its slowest 1%: a few windows of 100 ms. One phase of 6 s per run
(bench/wallet_http.py) says little about a change; this runs long phases of each set-up in turn,
round after round, on one database, so that a drift of the VM lands on all of them alike:

    .venv/bin/python bench/wallet_http_ab.py --rate 400 --duration 20 --rounds 5 \\
        --variant FASTTRACK_REST_CONNECTIONS=1 --variant FASTTRACK_REST_CONNECTIONS=8
    .venv/bin/python bench/wallet_http_ab.py --variant off --variant ''   # delivery off, as shipped
    .venv/bin/python bench/wallet_http_ab.py --closed --duration 12 --rounds 5 \
        --variant FASTTRACK_REST_CONNECTIONS=1 --variant ''            # closed loop, requests/s

A variant is environment variables for the server and the delivery worker (`A=1+B=2`), with
`nice:N` among them to run the worker under `nice -n N`, `off` (Fast Track transport off: no
kicks; the worker idles) or '' (as shipped). Each measurement
starts a fresh delivery worker and server (production's: granian, the README's worker count),
paces the IGPX mix (`--provider betsy`: Betsy's) with wrk at `--rate` for `--duration` seconds
under the machine trace (bench/_http_trace.py), waits for the worker to deliver what the phase
exported, and prints the phase and the trace. The end prints each variant's figures and median.
Same needs as bench/wallet_http.py; the database (tl_bench_ab) is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _http_common as common  # noqa: E402
from bench._capture import distinct_sequences  # noqa: E402
from bench._http_db import migrated_database, run_manage, seed  # noqa: E402
from bench._http_delivery import TRANSPORT_OFF, Delivery, set_aside_pending  # noqa: E402


def variant_env(base: dict[str, str], variant: str) -> tuple[dict[str, str], int]:
    """The environment of a variant, and the worker's niceness."""
    env, nice = dict(base), 0
    if variant in ("", "off"):
        return env, nice
    for item in variant.split("+"):
        if item.startswith("nice:") and item[5:].lstrip("-").isdigit():
            nice = int(item[5:])
            continue
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--variant {variant!r}: expected NAME=VALUE or nice:N, joined by +; 'off' or ''")
        env[name] = value
    return env, nice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=("igpx", "betsy"), default="igpx")
    parser.add_argument("--rate", type=float, default=400.0, help="requests/s, every variant (default 400)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variant", action="append", required=True, help="repeat: one set-up each")
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument(
        "--closed",
        action="store_true",
        help="each measurement a closed loop of --duration s (wrk, 16 clients) instead: requests/s",
    )
    cli = parser.parse_args()
    if cli.provider == "igpx":
        from bench.wallet_http import PROVIDER
    else:
        from bench.wallet_http_betsy import PROVIDER
    args = common.parser("", "tl_bench_ab", redis_db=12, players=cli.players).parse_args([])
    args.paced_duration, args.fractions = cli.duration, []
    args.duration = cli.duration
    env = common.bench_env(PROVIDER, args.database_url)
    with migrated_database(args.database_url, env):
        distinct_sequences(args.database_url)
        print(f"seed {args.players} players", flush=True)
        seeded = seed(env, PROVIDER, args.players)
        _compare(cli, args, env, PROVIDER, seeded)


def _compare(cli: argparse.Namespace, args: argparse.Namespace, env: dict[str, str], provider: common.Provider,
             seeded: dict) -> None:  # fmt: skip
    figures: dict[str, list[float]] = {v: [] for v in cli.variant}
    for number in range(1, cli.rounds + 1):
        for variant in cli.variant:
            name = variant or "as shipped"
            print(f"round {number}/{cli.rounds}, {name}:", flush=True)
            server_env, nice = variant_env(env, variant)
            delivery = Delivery(server_env, args.redis_url, nice)
            try:
                server_env.update(delivery.start())
                if variant == "off":
                    server_env["FASTTRACK_TRANSPORT"] = "off"
                groups = delivery.groups()
                common._steady_state(args.database_url)
                if cli.closed:  # wrk prepares requests for up to 0.6 x 3,000 requests/s
                    result = common.measure_server(provider, "granian", args, server_env, seeded, 0.0, groups,
                                                   3000.0)  # fmt: skip
                else:
                    result = common.measure_server(provider, "granian", args, server_env, seeded, cli.rate, groups,
                                                   0.0, known_max=cli.rate * 2)["paced"]  # fmt: skip
                if variant == "off":  # nothing kicked the worker: its rows must not land on the next phase
                    set_aside_pending(args.database_url, TRANSPORT_OFF)
                else:
                    delivery.wait_idle(args.database_url, timeout=30)
            finally:
                delivery.stop()
            if any(result["errors"].values()):
                raise SystemExit(f"wrong answers under {name}: {result['errors']}")
            figures[variant].append(result["rps"] if cli.closed else result["p99"])
    check = run_manage(env, "check_ledger", check=False)
    print(f"check_ledger: {'OK' if check.returncode == 0 else 'FAILED'}")
    what, unit = ("closed loop", "requests/s") if cli.closed else (f"paced at {cli.rate:.0f} requests/s, p99", "ms")
    print(f"\nsummary, {cli.provider}, {what}, {cli.duration:.0f} s a phase:")
    for variant, values in figures.items():
        print(f"  {variant or 'as shipped':40s} {' / '.join(f'{v:.1f}' for v in values)} {unit};"
              f" median {statistics.median(values):.1f}")  # fmt: skip
    if check.returncode != 0:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""CPU of one Fast Track delivery kick on a server process, when the flag is already set (the
common case under load: a queued task covers the commit).

    python bench/kick_cost.py [--redis-url redis://127.0.0.1:6379/14] [--kicks 5000]

Prints µs of CPU per kick through Django's cache.add (a new redis.Redis client per call) and
through crm.tasks._add_kick_flag (a client kept per thread), in one process, one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--kicks", type=int, default=5000)
    args = parser.parse_args()
    os.environ.update(DJANGO_SETTINGS_MODULE="config.settings", TOUCHLINE_DEMO="true", REDIS_URL=args.redis_url)
    import django

    django.setup()
    from django.core.cache import cache

    from crm import tasks

    cache.set(tasks.KICK_KEY, 1, 60)
    try:
        for name, kick in (
            ("cache.add", lambda: cache.add(tasks.KICK_KEY, 1, timeout=60)),
            ("kept client", tasks._add_kick_flag),
        ):
            for _ in range(200):
                kick()
            started = time.process_time()
            for _ in range(args.kicks):
                kick()
            print(f"{name:12s} {1e6 * (time.process_time() - started) / args.kicks:6.0f} µs of CPU per kick")
    finally:
        cache.delete(tasks.KICK_KEY)


if __name__ == "__main__":
    main()

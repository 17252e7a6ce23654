#!/usr/bin/env python
"""CPU of a callback's durable transaction around its last statement sent with the COMMIT,
three ways, in one process and one run:

    python bench/atomic_cost.py [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--blocks 20000]

1. Django's `transaction.atomic(durable=True)`;
2. `wallet.rows.durable()` (config/postgresql/atomic.py: the flags set directly, on the short way);
3. Django's `Atomic` again, with the cheaper alternative fixed one level down, in the backend
   (patched into this process only): `ensure_connection` without Django's `async_unsafe` check
   (a raised-and-caught RuntimeError) when already connected outside an event loop, psycopg's
   autocommit flag set directly on an idle connection, and no commit sent on an idle one.
   Measured to decide where the saving belongs (docs/benchmarks/igpx.md, session 16).

Each block sends `SELECT 1` through `rows.execute_and_commit`, as a callback's answer does;
nothing is written. Prints the best of 5 runs, µs of wall clock per block (one thread, no waiting
but the round trip, which all three make alike).
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _patch_backend() -> None:
    """Way 3: the saving at the backend's depth, for Django's own `Atomic`."""
    from asyncio import _get_running_loop

    from django.db.backends.base.base import BaseDatabaseWrapper
    from psycopg import pq

    from config.postgresql.base import DatabaseWrapper

    idle = pq.TransactionStatus.IDLE
    ensure, commit = BaseDatabaseWrapper.ensure_connection, DatabaseWrapper._commit

    def ensure_connection(self) -> None:
        if self.connection is None or _get_running_loop() is not None:
            ensure(self)

    def _set_autocommit(self, autocommit: bool) -> None:
        raw = self.connection
        if raw.pgconn.transaction_status == idle and raw._pipeline is None:
            raw._autocommit = autocommit
            return
        with self.wrap_database_errors:
            raw.autocommit = autocommit

    def _commit(self) -> None:
        if self.connection is None or self.connection.pgconn.transaction_status != idle or self.queries_logged:
            commit(self)

    DatabaseWrapper.ensure_connection = ensure_connection
    DatabaseWrapper._set_autocommit = _set_autocommit
    DatabaseWrapper._commit = _commit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--blocks", type=int, default=20000)
    args = parser.parse_args()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        TOUCHLINE_DEMO="true",
        DEBUG="false",
        LOG_LEVEL="error",
        DATABASE_URL=args.database_url,
    )
    import django

    django.setup()
    from django.db import connection, transaction

    from wallet import rows

    connection.ensure_connection()

    def django_atomic() -> None:
        with transaction.atomic(durable=True):
            rows.execute_and_commit("SELECT 1", [])

    def durable() -> None:
        with rows.durable():
            rows.execute_and_commit("SELECT 1", [])

    def best(block) -> float:
        block()
        return min(timeit.repeat(block, number=args.blocks, repeat=5)) / args.blocks * 1e6

    atomic_us, durable_us = best(django_atomic), best(durable)
    _patch_backend()
    backend_us = best(django_atomic)
    print(f"µs per durable block, wall clock in one thread ({args.blocks} blocks, best of 5):")
    print(f"  transaction.atomic(durable=True)          {atomic_us:6.2f}")
    print(f"  rows.durable()                            {durable_us:6.2f}  (saves {atomic_us - durable_us:.2f})")
    print(f"  Atomic with the saving in the backend     {backend_us:6.2f}  (saves {atomic_us - backend_us:.2f})")


if __name__ == "__main__":
    main()

"""A pair measured in slices (bench/_http_common.sliced_pair): the wrk phases it prepares, and
pgbench's rate without its new connections' first second (bench/_http_pgbench.run_pgbench)."""

from __future__ import annotations

import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection

from bench import _http_pgbench, _http_wrk
from bench._http_load import Stats
from bench.wallet_http import PROVIDER
from tests.bench.test_wrk import SEEDED, _Recorder


class _Succeeds(_Recorder):
    """test_wrk's recorder, with a record of its own: every answer here is a success."""

    seen: dict[int, list[bytes]] = {}


def test_a_sliced_pair_prepares_a_warm_up_then_each_slice_on_requests_of_its_own() -> None:
    loop = _http_wrk.WrkLoop(PROVIDER, 2, SEEDED, decline_share=0.0)
    try:
        loop.prepare(warmup=1.0, duration=2.5, ceiling_rps=100.0, measured=3)
        assert [(phase, seconds) for phase, seconds, _ in loop.phases] == [
            ("warm-up", 1.0), ("measured", 2.5), ("measured", 2.5), ("measured", 2.5)
        ]  # fmt: skip
        folders = [folder for _, _, folder in loop.phases]
        assert len(set(folders)) == 4
        first = {(folder / "client_0.req").read_bytes() for folder in folders}
        assert len(first) == 4  # fresh rounds in every slice: no request is sent twice
    finally:
        loop.close()


@pytest.mark.skipif(not _http_wrk.available(), reason="wrk is not installed (apt-get install wrk)")
def test_each_phase_runs_alone_and_only_measured_ones_count_unexpected_answers(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Succeeds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    loop = _http_wrk.WrkLoop(PROVIDER, 2, SEEDED, decline_share=0.0)
    try:
        loop.prepare(warmup=1.0, duration=1.0, ceiling_rps=20.0, measured=2)
        for _, _, folder in loop.phases:  # every answer is a success: mark each request as an expected error
            for path in folder.glob("*.req"):
                records = path.read_bytes().split(_http_wrk.SEPARATOR)
                path.write_bytes(_http_wrk.SEPARATOR.join(b"E" + r[1:] for r in records))
        stats = Stats()
        warm = loop.run_phase(server.server_address[1], 0, stats)
        assert warm["mismatched"] > 0 and stats.errors == {}
        first = loop.run_phase(server.server_address[1], 1, stats)
        second = loop.run_phase(server.server_address[1], 2, stats)
    finally:
        loop.close()
        server.shutdown()
    assert stats.sent == warm["answered"] + first["answered"] + second["answered"]
    assert stats.errors == {"unexpected answers or socket errors": first["mismatched"] + second["mismatched"]}


@pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench is not installed")
def test_pgbench_s_rate_leaves_out_its_warm_up_seconds(postgres_only, db, tmp_path: Path) -> None:
    script = tmp_path / "slow_start.sql"
    # A transaction takes 0.5 s in pgbench's first second, 10 ms after it: a rate that counted
    # that second would read about two thirds of the warm one.
    script.write_text(
        "SELECT pg_sleep(CASE WHEN clock_timestamp() < :started::timestamptz + interval '1 second'"
        " THEN 0.5 ELSE 0.01 END);\n"
    )
    url = f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}"

    def pgbench(duration: int, warmup: int) -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()::text")
            (now,) = cursor.fetchone()
        figures = _http_pgbench.run_pgbench(url, 2, duration, script, {"started": now}, 1.0, warmup=warmup)
        return figures["tps"]

    warm, whole = pgbench(2, warmup=1), pgbench(3, warmup=0)
    assert warm > 1.3 * whole, (warm, whole)


def test_the_slowest_requests_are_placed_in_the_windows_they_were_due_in() -> None:
    stats = Stats()
    for n in range(1000):  # 10 s, one request every 10 ms; the 10 slowest all due within 0.2 s
        stats.add("bet", 50.0 + n if 400 <= n < 410 else 5.0, at=n / 100)
    assert stats.slowest_windows() == (10, 1, 100)
    spread = Stats()
    for n in range(1000):  # the same 10 slow requests, one a second
        spread.add("bet", 50.0 if n % 100 == 0 else 5.0, at=n / 100)
    assert spread.slowest_windows() == (10, 10, 100)

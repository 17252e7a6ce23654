"""The paced phases' machine trace (bench/_http_trace.py): what the slow requests' windows had."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench._http_trace import MachineTrace, _group_of


def _sample(t: float, steal: int = 0, server: tuple[int, int, int] = (20_000_000, 1_000_000, 4)) -> dict:
    # 10-ms samples as the sampler writes them: ticks of steal; each group's ns on a core, ns
    # waiting for one, and times put on one.
    return {"t": t, "steal": steal, "iowait": 0, "busy": 2, "cpu some": 500, "groups": {"server": list(server)}}


def test_the_windows_the_slowest_requests_spanned_are_compared_with_the_rest(capsys: pytest.CaptureFixture) -> None:
    # One second of requests every 10 ms, 5 ms each; three due at 0.50-0.55 s took 60 ms, while
    # the hypervisor ran someone else (steal) and the server's workers queued for a core.
    trace = MachineTrace({}, Path("unused"))
    start = 100.0
    trace.samples = [
        _sample(
            start + (i + 0.5) / 100,
            steal=1 if 50 <= i < 58 else 0,
            server=(20_000_000, 30_000_000 if 50 <= i < 58 else 0, 4),
        )
        for i in range(100)
    ]
    due = [(i / 100, 60.0 if i in (50, 51, 55) else 5.0) for i in range(100)]

    explained = trace.explain(due, start, share=0.03)

    # From due to answered: 0.50-0.61 s, windows 5 (0.5-0.6 s) and 6, which held no slow request's due time.
    assert explained["slow_windows"] == 2
    assert explained["other_windows"] == 8
    steal_slow, steal_rest = explained["means"]["steal"]
    assert steal_slow == pytest.approx(40.0)  # 8 ticks of 10 ms over the 2 windows
    assert steal_rest == 0.0
    runq_slow, runq_rest = explained["means"]["server runq"]
    assert runq_slow == pytest.approx(120.0) and runq_rest == 0.0
    assert explained["means"]["server cpu"] == (pytest.approx(200.0), pytest.approx(200.0))
    # Over the whole phase, per request: 2 s of CPU and 400 switches for 100 requests.
    assert explained["per_request"]["server cpu"] == pytest.approx(20.0)
    assert explained["per_request"]["server switches"] == pytest.approx(4.0)
    assert "steal" in capsys.readouterr().out


def test_nothing_to_explain_without_samples_or_requests() -> None:
    trace = MachineTrace({}, Path("unused"))
    assert trace.explain([(0.1, 5.0)], 0.0) == {}
    trace.samples = [_sample(0.01)]
    assert trace.explain([], 0.0) == {}


def test_the_sampler_counts_a_busy_process_group_and_the_load_generator(tmp_path: Path) -> None:
    busy = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"],
        start_new_session=True,
    )
    try:
        with MachineTrace({"server": busy.pid}, tmp_path / "trace.jsonl") as trace:
            end = time.perf_counter() + 0.5
            while time.perf_counter() < end:
                pass  # this process is the load generator
    finally:
        busy.kill()
        busy.wait()
    assert len(trace.samples) >= 20  # every 10 ms over 0.5 s, on a loaded machine at least 20
    server = sum(s["groups"].get("server", [0, 0])[0] for s in trace.samples) / 1e9
    mine = sum(s["groups"].get("load generator", [0, 0])[0] for s in trace.samples) / 1e9
    assert server > 0.1 and mine > 0.1  # seconds on a core, each spinning for 0.5 s
    assert os.getpid() != busy.pid


def test_postgres_autovacuum_workers_are_a_group_of_their_own() -> None:
    # PostgreSQL titles each process in its command line; the name it runs under stays "postgres".
    titled = subprocess.Popen(["bash", "-c", 'exec -a "postgres: 15/main: autovacuum worker tl_bench" sleep 5'])
    backend = subprocess.Popen(["bash", "-c", 'exec -a "postgres: 15/main: postgres tl_bench idle" sleep 5'])
    try:
        time.sleep(0.2)  # bash has exec'd
        names = {"sleep": "postgres"}
        assert _group_of(str(titled.pid), {}, names) == "postgres autovacuum"
        assert _group_of(str(backend.pid), {}, names) == "postgres"
        assert _group_of(str(backend.pid), {}, {}) is None
    finally:
        for proc in (titled, backend):
            proc.kill()
            proc.wait()

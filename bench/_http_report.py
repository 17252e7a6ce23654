"""What a wallet HTTP benchmark run reports: CPU per request of every process (from /proc), the
latency figures of a phase, and where the server's time goes (a py-spy profile).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench._http_db import admin_connect
from bench._http_delivery import DELIVERY_APP
from bench._http_load import Stats, pct
from bench._http_trace import CLK_TCK, SERVICES

PY = sys.executable


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """user + system CPU of each process so far, from /proc."""
    result = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        result[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return result


def _pids(match: Callable[[Path], bool]) -> list[int]:
    """Every process whose /proc entry `match` accepts (one that exits meanwhile is skipped)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if match(entry):
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def group_pids(pgid: int) -> list[int]:
    return _pids(lambda entry: int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid)


def named_pids(names: tuple[str, ...]) -> list[int]:
    """Processes whose command name is one of `names` (the services the callbacks use)."""
    return _pids(lambda entry: (entry / "comm").read_text().strip() in names)


def machine_busy_seconds() -> float:
    """Non-idle CPU of the whole machine so far (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def connections_per_process(port: int) -> list[int]:
    """How the established client connections on `port` sit on the server's processes, busiest
    first. A single-threaded worker serves its connections one request at a time, so an uneven
    share (the kernel hands new connections to a few workers first) caps throughput below what
    the CPU would allow."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=False
    ).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        pid = line.rpartition("pid=")[2].partition(",")[0]
        if pid.isdigit():
            counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def children_cpu() -> float:
    """user + system CPU of this process's waited-for children so far (wrk, once it exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backend_pids(database_url: str) -> list[int]:
    return list(backend_apps(database_url))


def backend_apps(database_url: str) -> dict[int, str]:
    """The database's backends: pid -> application_name."""
    name = database_url.rsplit("/", 1)[1]
    with admin_connect(database_url) as conn:
        query = "SELECT pid, application_name FROM pg_stat_activity WHERE datname = %s"
        return {pid: app for pid, app in conn.execute(query, [name])}


class CpuMeter:
    """CPU spent by the server's processes, the database backends, the load generator (this
    process and the children it waited for: wrk), any
    `extra` process group (the Celery worker), Redis and the broker, and what the rest of the
    machine spent meanwhile ("unattributed": other processes, interrupts, the kernel's own)."""

    def __init__(self, server_pgid: int, database_url: str, extra: dict[str, int] | None = None) -> None:
        self.groups = {"server": server_pgid, **(extra or {})}
        self.database_url = database_url
        self.before = {label: cpu_seconds(group_pids(pgid)) for label, pgid in self.groups.items()}
        self.backends = cpu_seconds(backend_pids(database_url))
        self.services = {label: cpu_seconds(named_pids(names)) for label, names in SERVICES.items()}
        self.me = time.process_time() + children_cpu()
        self.machine = machine_busy_seconds()
        self.started = time.monotonic()
        self.busy_share = 0.0  # of all cores over the measured phase, set by per_request_ms

    def per_request_ms(self, requests: int) -> dict[str, float]:
        used = {}
        for label, pgid in self.groups.items():
            now = cpu_seconds(group_pids(pgid))
            used[label] = sum(v - self.before[label].get(pid, 0.0) for pid, v in now.items())
        apps = backend_apps(self.database_url)
        backends = cpu_seconds(list(apps))
        used["postgres"] = sum(v - self.backends.get(pid, 0.0) for pid, v in backends.items())
        # Part of "postgres", not added to it: what the delivery worker's own statements cost.
        delivery = sum(v - self.backends.get(pid, 0.0) for pid, v in backends.items() if apps[pid] == DELIVERY_APP)
        for label, names in SERVICES.items():
            now = cpu_seconds(named_pids(names))
            used[label] = sum(v - self.services[label].get(pid, 0.0) for pid, v in now.items())
        used["client"] = time.process_time() + children_cpu() - self.me
        busy = machine_busy_seconds() - self.machine
        used["unattributed"] = max(busy - sum(used.values()), 0.0)
        used[POSTGRES_FOR_DELIVERY] = delivery
        # Below ~95% the run was not CPU-bound: the gap to pgbench is waiting (locks, round
        # trips, too few clients), not cost per request.
        self.busy_share = busy / ((time.monotonic() - self.started) * (os.cpu_count() or 1))
        return {k: v * 1000 / max(requests, 1) for k, v in used.items()}


def report(label: str, stats: Stats, duration: float, cpu: dict[str, float] | None = None) -> dict:
    values = stats.all
    result = {
        "requests": len(values),
        "rps": len(values) / duration,
        "p50": pct(values, 0.50),
        "p99": pct(values, 0.99),
        "errors": dict(stats.errors),
        "connections": stats.reconnects,
    }
    print(
        f"  {label}: {result['rps']:7.1f} req/s  p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms"
        f"  ({result['requests']} requests, errors {result['errors'] or 0}, connections {stats.reconnects})",
        flush=True,
    )
    for k, v in sorted(stats.latencies.items()):
        print(f"      {k:16s} {len(v):6d}  p50 {pct(v, 0.5):6.2f} ms  p99 {pct(v, 0.99):6.2f} ms")
    slow, windows, span = stats.slowest_windows()
    if slow:
        print(f"      the slowest 1% ({slow} requests) were due in {windows} of the phase's {span} windows of 100 ms")
    if stats.loop_lag:
        lag, pauses = sorted(stats.loop_lag), stats.gc_pauses
        print(
            f"      load generator: its event loop woke late by p99 {pct(lag, 0.99):.2f} ms, max {lag[-1]:.1f} ms"
            f" ({sum(x > 10 for x in lag)} of {len(lag)} checks over 10 ms); {len(pauses)} garbage collections,"
            f" longest {max(pauses, default=0.0):.1f} ms",
            flush=True,
        )
    _cpu(result, cpu)
    return result


def report_wrk(label: str, stats: Stats, figures: dict, cpu: dict[str, float]) -> dict:
    """The figures of a closed loop wrk drove (bench/_http_wrk.py): its count over its own clock."""
    result = {
        "requests": figures["answered"],
        "rps": figures["answered"] / (figures["duration_us"] / 1e6),
        "p50": figures["p50_us"] / 1000,
        "p99": figures["p99_us"] / 1000,
        "errors": dict(stats.errors),
        "connections": 0,
    }
    print(
        f"  {label} (wrk): {result['rps']:7.1f} req/s  p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms"
        f"  ({result['requests']} requests, errors {result['errors'] or 0}, timeouts {figures['timeouts']})",
        flush=True,
    )
    _cpu(result, cpu)
    return result


POSTGRES_FOR_DELIVERY = "postgres for the crm worker"  # a part of "postgres" (CpuMeter)


def _cpu(result: dict, cpu: dict[str, float] | None) -> None:
    if cpu:
        total = sum(v for k, v in cpu.items() if k not in ("unattributed", POSTGRES_FOR_DELIVERY))
        result["cpu_ms"] = cpu
        result["capacity"] = 2000 / total if total else 0.0

        def shown(label: str, ms: float) -> str:
            if label == "postgres" and cpu.get(POSTGRES_FOR_DELIVERY):
                return f"postgres {ms:.2f} ms ({cpu[POSTGRES_FOR_DELIVERY]:.2f} of it for the crm worker)"
            return f"{label} {ms:.2f} ms"

        print(
            "      CPU per request: "
            + ", ".join(shown(k, v) for k, v in cpu.items() if k != POSTGRES_FOR_DELIVERY)
            + f"; 2 cores could serve at most {result['capacity']:.0f} req/s at this cost"
        )


def start_profile(pid: int, seconds: float, out: Path) -> tuple[subprocess.Popen, Path]:
    """py-spy (pip install py-spy) on the server and its workers, collapsed stacks to `out`: only
    threads holding the GIL are sampled (`--gil`), so the profile is where the CPU goes, not the waits."""
    spy = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))
    proc = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--duration", str(int(seconds)), "--rate", "200",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, out


def summarize_profile(path: Path, top: int = 30) -> None:
    """Print where the server's samples go: inclusive share per function, then per area."""
    inclusive: dict[str, int] = {}
    areas: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if any("wait_for" in f or "select (selectors.py" in f or "poll (" in f for f in frames[-2:]):
            continue  # idle threads waiting for a connection or an accept
        total += n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        leaf = frames[-1]
        area = (
            "database wait (psycopg)" if "psycopg" in leaf and ("wait" in leaf or "send" in leaf or "recv" in leaf)
            else "psycopg (Python)" if "psycopg" in leaf
            else "django orm" if "django/db" in leaf
            else "django other" if "django/" in leaf
            else "rest_framework" if "rest_framework" in leaf
            else "wallet (Touchline)" if "wallet/" in leaf
            else "gunicorn/http" if "gunicorn" in leaf or "http" in leaf
            else "other"
        )  # fmt: skip
        areas[area] = areas.get(area, 0) + n
    if not total:
        print("  (no profile samples)")
        return
    print(f"  profile {path} ({total} busy samples): by leaf area")
    for area, n in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"      {n / total:6.1%}  {area}")
    print("    inclusive, top functions:")
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"      {n / total:6.1%}  {frame[:140]}")

"""A trace of the machine while a paced phase runs, to tell why its slowest requests were slow.

A paced phase's p99 is set by a few requests. Whether they were slow because the VM stalled (the
hypervisor ran someone else: steal), because the disk made a commit wait (I/O pressure), or
because a process was queued behind others for a core (run-queue wait), each leaves its own
trace. A sampler process (`python bench/_http_trace.py`, started by `MachineTrace`) reads,
every `PERIOD`:
- /proc/stat: the machine's steal and iowait;
- /proc/pressure/cpu and io: how long some task waited for a core, or all waited for the disk;
- /proc/<pid>/task/<tid>/schedstat of every thread of each process group (the server's workers,
  the Celery worker, the load generator: the benchmark's own group, wrk included, ...), of
  PostgreSQL, Redis and the broker: time on a core, time runnable but waiting for one, and how
  many times a thread was put on a core. PostgreSQL's autovacuum workers are counted apart from
  its backends (a vacuum of a hot table takes a core for a second or more).
It keeps one open file per counter (pread: ~1 us a read) so that sampling costs ~1% of a core.

`MachineTrace.explain` puts the samples into the phase's 100-ms windows and compares the windows
the slowest 1% of requests spanned (from due to answered) with the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PERIOD = 0.01  # seconds between samples
RESCAN = 0.5  # seconds between looks for new processes and threads
WINDOW = 0.1  # seconds, the windows `explain` compares (as Stats.slowest_windows)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The services a callback touches besides PostgreSQL: Redis (the kick's flag, the cache) and the
# Celery broker (the delivery task). Counted so that no CPU of the run goes unexplained (here and
# in bench/_http_report.CpuMeter). This module is also run as a script: it imports no project code.
SERVICES = {"redis": ("redis-server",), "rabbitmq": ("beam.smp", "erl_child_setup", "epmd")}
# Processes the trace finds by name rather than by process group.
NAMED = {"postgres": ("postgres",), **SERVICES}


# --- The sampler (its own process) ---------------------------------------------------------------


def _group_of(pid: str, pgids: dict[int, str], names: dict[str, str]) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        label = pgids.get(int(stat.rsplit(")", 1)[1].split()[2]))
        label = label or names.get(stat[stat.index("(") + 1 : stat.rindex(")")])
        # PostgreSQL titles its processes ("postgres: autovacuum worker tl_bench_igpx").
        if label == "postgres" and b"autovacuum" in Path(f"/proc/{pid}/cmdline").read_bytes()[:60]:
            return "postgres autovacuum"
        return label
    except (OSError, ValueError):
        return None


class _Counters:
    """An open file per thread's schedstat, by group; deltas summed over the threads seen twice
    (a thread that ended between two samples drops out rather than going negative)."""

    def __init__(self, pgids: dict[int, str]) -> None:
        self.pgids = pgids
        self.names = {name: label for label, names in NAMED.items() for name in names}
        self.files: dict[str, tuple[str, int]] = {}  # path -> (group, fd)
        self.last: dict[str, tuple[int, int, int]] = {}

    def rescan(self) -> None:
        seen = set()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            group = _group_of(pid, self.pgids, self.names)
            if group is None:
                continue
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                path = f"/proc/{pid}/task/{tid}/schedstat"
                seen.add(path)
                if path not in self.files:
                    try:
                        self.files[path] = (group, os.open(path, os.O_RDONLY))
                    except OSError:
                        continue
        for path in set(self.files) - seen:
            os.close(self.files.pop(path)[1])
            self.last.pop(path, None)

    def sample(self) -> dict[str, list[int]]:
        """group -> [ns on a core, ns waiting for one, times put on a core] since the last sample."""
        deltas: dict[str, list[int]] = {}
        for path, (group, fd) in self.files.items():
            try:
                fields = os.pread(fd, 128, 0).split()
            except OSError:
                continue
            now = (int(fields[0]), int(fields[1]), int(fields[2]))
            before = self.last.get(path)
            self.last[path] = now
            if before is not None:
                delta = deltas.setdefault(group, [0, 0, 0])
                for i in range(3):
                    delta[i] += now[i] - before[i]
        return deltas


def _machine(stat_fd: int, psi: dict[str, int]) -> dict[str, int]:
    """Cumulative counters of the whole machine: ticks of steal and iowait, us of pressure."""
    fields = os.pread(stat_fd, 256, 0).split(b"\n", 1)[0].split()
    result = {"iowait": int(fields[5]), "steal": int(fields[8]), "busy": sum(int(v) for v in fields[1:9])}
    result["busy"] -= int(fields[4]) + int(fields[5])  # idle + iowait
    for name, fd in psi.items():
        for line in os.pread(fd, 256, 0).decode().splitlines():
            kind, _, rest = line.partition(" ")
            result[f"{name} {kind}"] = int(rest.rsplit("total=", 1)[1])
    return result


def sample_main(out: Path, pgids: dict[int, str]) -> None:
    """Sample until SIGTERM, then write one JSON line per sample to `out`."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    counters = _Counters(pgids)
    stat_fd = os.open("/proc/stat", os.O_RDONLY)
    psi = {}
    for name in ("cpu", "io"):
        try:
            psi[name] = os.open(f"/proc/pressure/{name}", os.O_RDONLY)
        except OSError:  # a kernel without PSI: the trace goes without it
            pass
    samples = []
    counters.rescan()
    counters.sample()
    previous = _machine(stat_fd, psi)
    scanned = due = time.perf_counter()
    while not stopping:
        due += PERIOD
        time.sleep(max(0.0, due - time.perf_counter()))
        now = time.perf_counter()
        machine = _machine(stat_fd, psi)
        samples.append(
            {"t": now, "groups": counters.sample(), **{k: v - previous.get(k, v) for k, v in machine.items()}}
        )
        previous = machine
        if now - scanned > RESCAN:
            counters.rescan()
            scanned = now
    out.write_text("\n".join(json.dumps(s) for s in samples))


# --- The parent's side -------------------------------------------------------------------------


class MachineTrace:
    """`with MachineTrace(groups, out) as trace:` samples while the block runs (into `out`); then
    `trace.explain(stats.due, stats.started)` prints what the slow requests' windows had that the
    others did not, and `trace.per_request(...)` what a request cost each process.
    `groups`: label -> process group id (the server, the Celery worker, ...)."""

    def __init__(self, groups: dict[str, int], out: Path) -> None:
        self.groups, self.out = groups, out
        self.proc: subprocess.Popen | None = None
        self.samples: list[dict] = []

    def __enter__(self) -> MachineTrace:
        # The load generator: this process's group (the benchmark and the wrk it runs); the
        # sampler gets a session of its own, so that its own CPU is not counted as the load's.
        groups = {"load generator": os.getpgid(0), **self.groups}
        pgids = json.dumps({str(pgid): label for label, pgid in groups.items()})
        self.proc = subprocess.Popen([sys.executable, __file__, str(self.out), pgids], start_new_session=True)
        time.sleep(0.05)  # its first scan, before the phase's first requests
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        text = self.out.read_text() if self.out.exists() else ""
        self.samples = [json.loads(line) for line in text.splitlines() if line]

    def windows(self, start: float) -> dict[int, dict[str, float]]:
        """Each 100-ms window of the phase (its number, from `start`) -> what was measured in
        it, in ms (CPU and waits) or ticks turned to ms (steal, iowait)."""
        result: dict[int, dict[str, float]] = {}
        tick_ms = 1000 / CLK_TCK
        for sample in self.samples:
            window = result.setdefault(int((sample["t"] - start) / WINDOW), {})
            for key in ("steal", "iowait", "busy"):
                window[key] = window.get(key, 0.0) + sample.get(key, 0) * tick_ms
            for key in ("cpu some", "io some", "io full"):
                if key in sample:
                    window[f"psi {key}"] = window.get(f"psi {key}", 0.0) + sample[key] / 1000
            for group, (on_cpu, waiting, *switches) in sample["groups"].items():
                window[f"{group} cpu"] = window.get(f"{group} cpu", 0.0) + on_cpu / 1e6
                window[f"{group} runq"] = window.get(f"{group} runq", 0.0) + waiting / 1e6
                window[f"{group} switches"] = window.get(f"{group} switches", 0.0) + sum(switches)
        return result

    def per_request(self, label: str, requests: int) -> dict[str, float]:
        """Every counter's total over the trace, per request (`requests` answered meanwhile)."""
        totals: dict[str, float] = {}
        for window in self.windows(0.0).values():
            for key, value in window.items():
                totals[key] = totals.get(key, 0.0) + value
        result = {key: value / max(requests, 1) for key, value in sorted(totals.items())}
        print(f"      machine trace of the {label}, per request: "
              + ", ".join(f"{key} {value:.2f}" for key, value in result.items() if not key.startswith("psi")))  # fmt: skip
        return result

    def explain(self, due: list[tuple[float, float]], start: float, share: float = 0.01) -> dict:
        """Compare the windows that the slowest `share` of requests spanned (`due`: seconds after
        `start` each was due, its latency in ms) with every other window of the phase."""
        if not self.samples or not due:
            return {}
        windows = self.windows(start)
        count = max(1, int(len(due) * share))
        slowest = sorted(due, key=lambda d: d[1])[-count:]
        slow = {
            w for at, ms in slowest for w in range(int(at / WINDOW), int((at + ms / 1000) / WINDOW) + 1) if w in windows
        }
        first, last = int(min(at for at, _ in due) / WINDOW), int(max(at for at, _ in due) / WINDOW)
        rest = [w for w in windows if first <= w <= last and w not in slow]
        keys = sorted({k for w in windows.values() for k in w})

        def mean(numbers: list[int], key: str) -> float:
            return sum(windows[w].get(key, 0.0) for w in numbers) / max(len(numbers), 1)

        table = {key: (mean(sorted(slow), key), mean(rest, key)) for key in keys}
        phase = [w for w in windows if first <= w <= last]
        # What a request cost over the whole phase: against the closed loop's figures, it shows
        # what the machine spends per request when the load comes in ones and twos.
        per_request = {key: sum(windows[w].get(key, 0.0) for w in phase) / len(due) for key in keys}
        print(f"      machine trace, ms (switches: times a thread was put on a core) per 100-ms window: the"
              f" {len(slow)} windows the slowest {count} requests spanned, the other {len(rest)}, and per request"
              f" over the phase:")  # fmt: skip
        for key, (in_slow, elsewhere) in table.items():
            flag = "  <-" if in_slow > 2 * elsewhere + 5 else "    "
            print(f"        {key:22s} {in_slow:8.1f} {elsewhere:8.1f}{flag} {per_request[key]:8.2f}")
        return {"slow_windows": len(slow), "other_windows": len(rest), "means": table, "per_request": per_request}


if __name__ == "__main__":
    sample_main(Path(sys.argv[1]), {int(k): v for k, v in json.loads(sys.argv[2]).items()})

"""The ceiling a wallet HTTP benchmark compares with: the callbacks' statements captured from one
in-process round of each scenario (bench/_capture.py) as a pgbench script, and pgbench run on it.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._http_db import EXT0
from bench._http_load import Provider, Round, Scenario, request_of
from bench._http_report import backend_pids, children_cpu, cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def capture(provider: Provider, seeded: dict, directory: Path) -> tuple[Path, dict[str, str], list]:
    """In this process (Django set up for the bench database): run each scenario of the mix once
    to warm up and once recorded, write the pgbench script; (script, -D values, [requests per
    round, requests of a declined prefix])."""
    import django

    django.setup()
    from django.db import connections

    from bench._capture import Recorder, Script, call

    recorder = Recorder()
    recorder.install()
    pid, aid = seeded["pid0"] + 1, seeded["aid0"] + 1  # the recorded rounds' player: n = 1
    round_ints = {pid: ("pid", ":pid0 + :n"), aid: ("aid", ":aid0 + :n"), EXT0 + 1: ("ext", ":ext0 + :n")}
    script = Script(connections["default"].connection, round_ints, {})
    rnd = random.Random()

    def play(scenario: Scenario, player: int, record: bool) -> None:
        this = Round(rnd, player, seeded)
        with recorder.recording() if record else _nothing() as statements:
            for step in scenario.steps:
                method, path, body = request_of(step, this)
                name, value = provider.sign(body)
                status, answer = call(method, path, body, {name: value})
                error = provider.error_of(status, answer)
                if error != step.expect_error:
                    raise SystemExit(f"capture: {scenario.name}: {step.kind} answered {status} {answer[:300]!r}")
        if record:
            script.tokens({text: f"t_{name}" for name, text in this.ids.items()})
            if scenario is provider.decline:
                script.prefix(scenario.name, statements, len(scenario.steps))
            else:
                script.branch(scenario.name, scenario.weight, statements, len(scenario.steps))

    for scenario in (*((provider.decline,) if provider.decline else ()), *provider.mix):
        play(scenario, 0, record=False)  # first calls fill per-process caches
        play(scenario, 1, record=True)
    path = directory / f"{provider.name}_pgbench.sql"
    path.write_text(script.text(PGBENCH_HEADER.format(name=provider.name, mix=provider.mix_text)))
    script.defines["decl"] = "0"
    defines = {**script.defines, "np": str(seeded["players"]), "pid0": str(seeded["pid0"]),
               "aid0": str(seeded["aid0"]), "ext0": str(seeded["ext0"])}  # fmt: skip
    connections.close_all()
    return path, defines, list(script.requests_per_round())


@contextmanager
def _nothing() -> Iterator[list]:
    yield []


PGBENCH_HEADER = """
pgbench round for the {name} callbacks' HTTP benchmark: one round of its mix per transaction
({mix}), with exactly the statements the callbacks sent when this run captured them.
"""


def capture_in_subprocess(env: dict[str, str], script: Path, provider: Provider, seeded: dict,
                          directory: Path) -> tuple[Path, dict[str, str], list]:  # fmt: skip
    """Run the bench script's --capture mode with the server's environment."""
    (directory / "seeded.json").write_text(json.dumps(seeded))
    out = subprocess.run([PY, str(script), "--capture", str(directory)], cwd=ROOT, env=env, capture_output=True,
                         text=True)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"capturing the callbacks' statements failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    result = json.loads((directory / "captured.json").read_text())
    return Path(result["script"]), result["defines"], result["requests_per_round"]


def capture_main(provider: Provider, directory: Path) -> None:
    """The --capture mode of a bench script (a subprocess of its own run)."""
    sys.path.insert(0, str(ROOT))
    seeded = json.loads((directory / "seeded.json").read_text())
    path, defines, per_round = capture(provider, seeded, directory)
    (directory / "captured.json").write_text(
        json.dumps({"script": str(path), "defines": defines, "requests_per_round": per_round})
    )


# --- pgbench ------------------------------------------------------------------------------------


def run_pgbench(database_url: str, clients: int, duration: float, script: Path, defines: dict[str, str],
                per_round: float) -> dict[str, float]:  # fmt: skip
    """pgbench on `script` (one round of the HTTP mix per transaction), -M prepared as the
    server's psycopg prepares; requests/s = rounds/s x the requests a round stands for."""
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        raise SystemExit("pgbench is not installed (it comes with the PostgreSQL client packages)")
    name = database_url.rsplit("/", 1)[1]
    args = [pgbench, "-n", "-h", "127.0.0.1", "-U", "postgres", "-M", "prepared", "-c", str(clients), "-j", "2"]
    args += ["-T", str(max(int(duration), 1))]
    for key, value in defines.items():
        args += ["-D", f"{key}={value}"]
    args += ["-f", str(script)]
    # PostgreSQL's CPU per pgbench request, to set beside the HTTP run's: sample the backends
    # while they live (they exit with pgbench).
    seen: dict[int, float] = {}
    # Backends alive before pgbench are someone else's (the Celery worker's, a server's):
    # only what they spend meanwhile would count, and they are idle; pgbench's own are new.
    others = set(backend_pids(database_url))
    children_before = children_cpu()
    proc = subprocess.Popen([*args, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        seen.update(cpu_seconds([pid for pid in backend_pids(database_url) if pid not in others]))
        time.sleep(0.25)
    stdout, stderr = proc.communicate()
    client = children_cpu() - children_before  # pgbench's own, the load generator of the ceiling
    done = re.search(r"number of transactions actually processed: (\d+)", stdout)
    if proc.returncode != 0 or done is None or "aborted" in stdout + stderr:
        raise SystemExit(f"pgbench failed (script {script}):\n{stdout[-3000:]}\n{stderr[-3000:]}")
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", stdout).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", stdout)
    return {
        "tps": tps * per_round,  # requests/s, comparable with the HTTP figure
        "rounds_per_s": tps,
        "latency_ms": latency,
        "failed": float(failed.group(1)) if failed else 0.0,
        "pg_cpu_ms": sum(seen.values()) * 1000 / max(int(done.group(1)) * per_round, 1),
        "client_cpu_ms": client * 1000 / max(int(done.group(1)) * per_round, 1),
    }

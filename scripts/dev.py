#!/usr/bin/env python3
"""The README's two commands, with nothing but Python installed:

    python3 scripts/dev.py demo    # install, migrate, seed, serve with the simulators
    python3 scripts/dev.py test    # install test dependencies, run the whole suite
    python3 scripts/dev.py test --postgres   # … on the local PostgreSQL (127.0.0.1:5432)
    python3 scripts/dev.py prod-check        # the Procfile's processes against local servers (scripts/prodcheck.py)

Standard library only: it creates .venv/ beside the project and installs into it (again
only when a requirements file changed). Extra arguments after `test` go to pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | Path, **kwargs) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, **kwargs)


def ensure_venv(requirements: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script is what runs on an older Python
        sys.exit(f"Touchline needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = sorted(ROOT.glob("requirements*.txt"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files) + requirements.encode()).hexdigest()
    marker = VENV / f".installed-{requirements}"
    if marker.exists() and marker.read_text() == digest:
        return
    say(f"installing {requirements} (first run takes a minute)")
    if run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", requirements) != 0:
        sys.exit(f"pip could not install {requirements}: see the messages above (network? Python headers?).")
    marker.write_text(digest)


def demo(extra: list[str]) -> int:
    ensure_venv("requirements.txt")
    # A demo install: the public demo secrets are allowed (production refuses them).
    os.environ.setdefault("TOUCHLINE_DEMO", "true")
    say("migrating the database")
    if run(PYTHON, "manage.py", "migrate", "--no-input", "-v", "0") != 0:
        return 1
    run(PYTHON, "manage.py", "collectstatic", "--no-input", "-v", "0")
    return run_until_signal(PYTHON, "manage.py", "demo", *extra)


def run_until_signal(*args: str | Path) -> int:
    """Run a long-lived child; Ctrl-C or SIGTERM here is passed to it once, and its exit code is
    ours. The child has a session of its own, so a terminal's Ctrl-C reaches it only through us
    (twice would make uvicorn skip its graceful shutdown)."""
    child = subprocess.Popen([str(a) for a in args], cwd=ROOT, start_new_session=True)

    def forward(signum, frame):
        if child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    return child.wait()


LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/touchline"


def local_postgres_answers() -> bool:
    """Whether LOCAL_POSTGRES's server accepts us (psycopg is in the virtualenv, not here)."""
    probe = "import psycopg, sys; psycopg.connect(sys.argv[1], dbname='postgres', connect_timeout=2).close()"
    return run(PYTHON, "-c", probe, LOCAL_POSTGRES, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def summarize_skips(report: Path, postgres_offer: bool) -> None:
    """The last word of the test command: what did not run, grouped by why."""
    try:
        reasons: dict[str, int] = json.loads(report.read_text())
    except (OSError, ValueError):
        return
    groups: dict[str, int] = {}
    for reason, count in reasons.items():
        if "PostgreSQL" in reason:  # the postgres_only fixture and the browser tests' live server
            reason = "PostgreSQL-only tests: set DATABASE_URL=postgres://… to run them"
        groups[reason] = groups.get(reason, 0) + count
    if not groups:
        say("nothing was skipped")
        return
    say(f"skipped {sum(groups.values())} tests:")
    for reason, count in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"    {count:4d} {reason}", flush=True)
    if postgres_offer and any(r.startswith("PostgreSQL-only tests") for r in groups):
        print(
            f"    PostgreSQL answers on 127.0.0.1:5432: `python3 scripts/dev.py test --postgres` runs them\n"
            f"    too (DATABASE_URL={LOCAL_POSTGRES}; pytest creates and drops test_touchline).",
            flush=True,
        )


def test(extra: list[str]) -> int:
    ensure_venv("requirements-dev.txt")
    env = dict(os.environ)
    if "--postgres" in extra:
        extra = [a for a in extra if a != "--postgres"]
        if not env.get("DATABASE_URL"):
            if not local_postgres_answers():
                sys.exit(f"--postgres: nothing accepts {LOCAL_POSTGRES} (start PostgreSQL or set DATABASE_URL).")
            env["DATABASE_URL"] = LOCAL_POSTGRES
    database = env.get("DATABASE_URL") or "SQLite (default; PostgreSQL-only tests skip)"
    say(f"running the test suite on {database}")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "skips.json"
        env["TOUCHLINE_SKIP_REPORT"] = str(report)
        code = run(PYTHON, "-m", "pytest", "-p", "tests.skipreport", *extra, env=env)
        summarize_skips(report, postgres_offer=not env.get("DATABASE_URL") and local_postgres_answers())
    if code == 5:
        print("pytest collected no tests: that is a failure, not a pass.", file=sys.stderr)
        return 1
    return code


def prod_check(extra: list[str]) -> int:
    ensure_venv("requirements.txt")
    return run_until_signal(PYTHON, "scripts/prodcheck.py", *extra)


def main() -> int:
    commands = {"demo": demo, "test": test, "prod-check": prod_check}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

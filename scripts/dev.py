#!/usr/bin/env python3
"""The README's two commands, with nothing but Python installed:

    python3 scripts/dev.py demo    # install, migrate, seed, serve with the simulators
    python3 scripts/dev.py test    # install test dependencies, run the whole suite

Standard library only: it creates .venv/ beside the project and installs into it (again
only when a requirements file changed). Extra arguments after `test` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
    return run(PYTHON, "manage.py", "demo", *extra)


def test(extra: list[str]) -> int:
    ensure_venv("requirements-dev.txt")
    database = os.environ.get("DATABASE_URL", "sqlite (default; set DATABASE_URL for PostgreSQL)")
    say(f"running the test suite on {database}")
    code = run(PYTHON, "-m", "pytest", *extra)
    if code == 5:
        print("pytest collected no tests: that is a failure, not a pass.", file=sys.stderr)
        return 1
    return code


def main() -> int:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

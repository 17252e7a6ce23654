"""The Procfile runs what README's Processes table says: every long-running process of the table
has a Procfile line holding the whole command as the table writes it (the Procfile adds only
host, port and worker-count variables)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_SHOT = ("ledger audit",)  # run by hand or by a scheduler, not kept running


def readme_processes() -> dict[str, str]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Processes", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) >= 2 and "`" in cells[1] and not cells[0].startswith(ONE_SHOT):
            rows[cells[0]] = re.search(r"`([^`]+)`", cells[1]).group(1)
    return rows


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":", 1) for line in lines if re.match(r"^[A-Za-z0-9_-]+:", line))


def test_the_readme_lists_the_six_long_running_processes():
    assert len(readme_processes()) == 6, readme_processes()


def test_every_readme_process_runs_in_the_procfile_as_the_readme_writes_it():
    # A value the Procfile takes from a variable counts as its default: `${CALLBACKS_WORKERS:-6}` is `6`.
    lines = {
        name: [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", word) for word in shlex.split(command)]
        for name, command in procfile().items()
    }
    missing = []
    for process, command in readme_processes().items():
        words = shlex.split(command)
        if not any(_contains(line, words) for line in lines.values()):
            missing.append(f"  {process}: {command}")
    assert not missing, "no Procfile line runs (align Procfile with README's Processes table):\n" + "\n".join(missing)


def _contains(line: list[str], words: list[str]) -> bool:
    """`words` appear in `line` in order; the line may add arguments between them."""
    it = iter(line)
    return all(any(w == word for w in it) for word in words)

"""The repository stands on its own: no document, test or module points outside it, and every
relative link in the documentation leads to a file that is in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", ".git", "node_modules", "staticfiles", "var"}
OUTSIDE = re.compile(r"\.\./shared|shared/(seeds|protocols|fixtures|DESIGN)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def files(*suffixes: str) -> list[Path]:
    return [
        p
        for p in ROOT.rglob("*")
        if p.is_file() and p.suffix in suffixes and not SKIP.intersection(p.relative_to(ROOT).parts)
    ]


def test_nothing_points_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files(".md", ".py", ".txt", ".toml", "")
        if path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not offenders, "these lines point outside the repository:\n" + "\n".join(offenders)


def test_every_relative_link_in_the_documentation_resolves():
    broken = []
    for path in files(".md"):
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.exists() or not resolved.is_relative_to(ROOT):
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "links to nothing in the repository:\n" + "\n".join(broken)


def test_the_architecture_and_protocol_pages_are_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/ARCHITECTURE.md)" in readme and "(docs/protocols/README.md)" in readme
    index = (ROOT / "docs" / "protocols" / "README.md").read_text(encoding="utf-8")
    for provider in ("igpx", "betsy", "uof", "prophetx", "fasttrack"):
        assert f"]({provider}.md)" in index

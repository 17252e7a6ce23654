"""README's configuration table names every environment variable the code reads, and nothing else.

The code is read, not run: every `config.env` helper call (`env_str("NAME", …)` …), every
`os.environ` / `os.getenv` read, and every call of a module's own helper that passes its first
parameter on to one of those (parlays' `_decimal("PROPHETX_…")`), in the product's packages.
Reading the source finds variables behind branches a test run would not take (the PostgreSQL-only
pool settings, for instance).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "wallet", "feeds", "parlays", "crm")
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Read by Django's and Celery's own start-up, set by our entry points: not a Touchline setting.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def _is_env_reader(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id.startswith("env_") or func.id in {"getenv", "_raw"}
    if isinstance(func, ast.Attribute):
        if func.attr == "getenv" or func.attr.startswith("env_"):
            return True
        return func.attr == "get" and _is_environ(func.value)  # os.environ.get(…)
    return False


def _is_environ(node: ast.expr) -> bool:
    """os.environ, not a WSGI request's `environ` dict."""
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)


def _forwarders(tree: ast.Module) -> set[str]:
    """Module functions that hand their first parameter to an env reader as its name."""
    names = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.args.args:
            first = fn.args.args[0].arg
            for call in ast.walk(fn):
                if (
                    isinstance(call, ast.Call)
                    and _is_env_reader(call.func)
                    and call.args
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id == first
                ):
                    names.add(fn.name)
    return names


def variables_read_by_code() -> dict[str, str]:
    """name -> the first file:line that reads it."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            forwarders = _forwarders(tree)
            for node in ast.walk(tree):
                arg = None
                if isinstance(node, ast.Call) and node.args:
                    func = node.func
                    local = isinstance(func, ast.Name) and func.id in forwarders
                    if _is_env_reader(func) or local:
                        arg = node.args[0]
                elif isinstance(node, ast.Subscript) and _is_environ(node.value):
                    arg = node.slice
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and NAME.match(arg.value):
                    found.setdefault(arg.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return {name: where for name, where in found.items() if name not in NOT_SETTINGS}


def variables_in_readme() -> set[str]:
    """The first column of the table under '## Configuration'. A cell may name several variables
    (`A`, `B`) and abbreviate a sibling by its last part (`PROPHETX_MAX_EXPOSURE_TOTAL` / `_EVENT`)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        previous = ""
        for token in re.findall(r"`([A-Z_][A-Z0-9_]*)`", line.split("|")[1]):
            if token.startswith("_") and previous:
                token = previous.rsplit("_", 1)[0] + token
            names.add(token)
            previous = token
    return names


def test_the_scan_finds_variables_of_every_kind_of_reader():
    found = variables_read_by_code()
    # env_database (settings), env_int (crm/conf.py), parlays' own _decimal, os.environ.get
    for name in ("DATABASE_URL", "FASTTRACK_MAX_ATTEMPTS", "PROPHETX_MARGIN_PER_LEG", "PROPHETX_WS_URL"):
        assert name in found, name


def test_every_variable_the_code_reads_has_a_row_in_the_readme_configuration_table():
    found = variables_read_by_code()
    missing = sorted(set(found) - variables_in_readme())
    assert not missing, "README.md's configuration table lacks a row for:\n" + "\n".join(
        f"  {name}  (read at {found[name]})" for name in missing
    )


def test_every_row_of_the_configuration_table_is_read_by_the_code():
    stale = sorted(variables_in_readme() - set(variables_read_by_code()))
    assert not stale, "README.md's configuration table names variables no code reads:\n" + "\n".join(
        f"  {name}" for name in stale
    )

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


def _passes_name_on(fn: ast.FunctionDef, name: str) -> bool:
    """`fn` calls an env reader with the variable `name` as the name it reads."""
    return any(
        isinstance(call, ast.Call)
        and _is_env_reader(call.func)
        and call.args
        and isinstance(call.args[0], ast.Name)
        and call.args[0].id == name
        for call in ast.walk(fn)
    )


def _loop_names(fn: ast.FunctionDef, collection: str) -> list[str]:
    """Loop variables over `collection`, `collection.items()` or `collection.keys()` in `fn`."""
    names = []
    for loop in ast.walk(fn):
        if not isinstance(loop, (ast.For, ast.comprehension)):
            continue
        it = loop.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("items", "keys"):
            it = it.func.value
        if isinstance(it, ast.Name) and it.id == collection:
            target = loop.target.elts[0] if isinstance(loop.target, ast.Tuple) else loop.target
            if isinstance(target, ast.Name):
                names.append(target.id)
    return names


def _strings(node: ast.expr) -> list[str] | None:
    """The constant strings of a dict's keys or a list/tuple/set literal, else None."""
    items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
    if items is None or not all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in items):
        return None
    return [k.value for k in items]


def _trees(packages: tuple[str, ...]) -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for package in packages
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def variables_read_by_code(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """name -> the first file:line that reads it.

    Besides direct reads, two kinds of helper are followed, across modules: a function that hands
    its first parameter to an env reader (`_decimal("PROPHETX_…")`), and one that loops over its
    first parameter and reads each name (`env_secrets(DEMO_SECRETS, …)`, with `DEMO_SECRETS` a
    module-level literal)."""
    trees = _trees(packages)
    forwarders, collection_readers, literals = set(), set(), {}
    for _, tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                strings = _strings(node.value)
                for target in targets:
                    if isinstance(target, ast.Name) and strings is not None:
                        literals[target.id] = strings
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.args.args:
                first = fn.args.args[0].arg
                if _passes_name_on(fn, first):
                    forwarders.add(fn.name)
                if any(_passes_name_on(fn, name) for name in _loop_names(fn, first)):
                    collection_readers.add(fn.name)
    found: dict[str, str] = {}
    for path, tree in trees:
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Call) and node.args:
                func, arg = node.func, node.args[0]
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called in collection_readers and isinstance(arg, ast.Name):
                    names = literals.get(arg.id, [])
                elif _is_env_reader(func) or called in forwarders:
                    names = [arg.value] if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else []
            elif isinstance(node, ast.Subscript) and _is_environ(node.value):
                arg = node.slice
                names = [arg.value] if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else []
            for name in names:
                if NAME.match(name):
                    found.setdefault(name, f"{path.relative_to(ROOT)}:{node.lineno}")
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
    # env_database (settings), env_int (crm/conf.py), parlays' own _decimal, os.environ.get,
    # config.security's env_secrets over DEMO_SECRETS
    for name in ("DATABASE_URL", "FASTTRACK_MAX_ATTEMPTS", "PROPHETX_MARGIN_PER_LEG", "PROPHETX_WS_URL", "SECRET_KEY"):
        assert name in found, name


def test_every_variable_the_code_reads_has_a_row_in_the_readme_configuration_table():
    found = variables_read_by_code()
    missing = sorted(set(found) - variables_in_readme())
    assert not missing, "README.md's configuration table lacks a row for:\n" + "\n".join(
        f"  {name}  (read at {found[name]})" for name in missing
    )


def test_every_row_of_the_configuration_table_is_read_by_the_code():
    # A documented knob of the test suite (e.g. how long the fuzz tests run) counts as read.
    read = set(variables_read_by_code()) | set(variables_read_by_code(("tests",)))
    stale = sorted(variables_in_readme() - read)
    assert not stale, "README.md's configuration table names variables no code reads:\n" + "\n".join(
        f"  {name}" for name in stale
    )

"""The statements a callback mix sends, captured from the running code and turned into a pgbench script.

A wallet benchmark compares the callbacks over HTTP with pgbench running *the same statements*.
A hand-kept script goes stale whenever the hot path changes, so the benchmarks generate it:

1. `Recorder` wraps the Django connection's psycopg connection while a few rounds of the mix run
   in-process (`call`, through `config.wsgi.application`): every statement psycopg sends (the
   ORM's, `wallet.rows.cursor()`'s, psycopg's own BEGIN/COMMIT/ROLLBACK), with its parameters
   and the rows it returned. It sits below Django's `execute_wrapper`, which never sees the
   hot path's statements (`wallet/rows.py`).
2. `Script` turns each round into a branch of one pgbench script, picked per pgbench transaction
   with the mix's weights. Parameters stay parameters (`-M prepared`, typed as psycopg typed
   them); those that vary per round are rebuilt per pgbench round so it hits other players and
   bets, like the HTTP clients: the round's player (`:n` in `0 .. np-1`: its id, account id and
   external id are seeded consecutively), its request ids (fresh random numbers), and ids the
   round's own statements returned (read back with `\\aset`). Everything else is a constant,
   passed with `-D`.

The capture database is the benchmark's own (its rows stay: they are real callbacks), with
sequences moved apart (`distinct_sequences`) so that an id can be told from any other number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ID_FLOOR = 10**11  # every bigint sequence starts above this (distinct_sequences)
_VARIABLE = re.compile(r"^[A-Za-z0-9_]+$")
_PGBENCH_VARIABLE_IN_SQL = re.compile(r"(?<!:):[A-Za-z0-9_]")


class CaptureError(Exception):
    """The captured mix cannot be expressed as a pgbench script; the message says why."""


def distinct_sequences(database_url: str) -> None:
    """Start each bigint sequence at its own multiple of ID_FLOOR: ids of different tables never
    coincide with each other or with any other number a statement carries."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        names = conn.execute(
            "SELECT schemaname || '.' || sequencename FROM pg_sequences WHERE data_type = 'bigint'::regtype ORDER BY 1"
        ).fetchall()
        for k, (name,) in enumerate(names, start=1):
            conn.execute("SELECT setval(%s::regclass, %s, false)", [name, k * ID_FLOOR])


# --- In-process requests ------------------------------------------------------------------------


def call(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One request straight into `config.wsgi.application` (what granian's worker runs).

    The callback server answers only the provider paths, so operator API calls (making the
    players) go to the whole site (`config.wsgi.site`), as they would reach the web process."""
    from bench import _wsgi as wsgi
    from config.wsgi import application, site

    if path.startswith("/api/operator/"):
        application = site

    return wsgi.call(application, method, path, body, headers)


# --- Capture ------------------------------------------------------------------------------------


@dataclass
class Statement:
    sql: str  # psycopg's text (%s placeholders), or a command: BEGIN, COMMIT, ROLLBACK
    params: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # result columns
    rows: list[tuple] = field(default_factory=list)
    command: bool = False
    # Sent with the COMMIT after it in one round trip (config/postgresql/commit.py): pgbench's
    # pipeline mode does the same with the two.
    piped: bool = False
    # BEGIN sent with the statement after it in one round trip (config/postgresql/lean.py): on
    # the BEGIN, and on that statement (whose rows pgbench then cannot read back: see `round`).
    opens: bool = False


class Recorder:
    """Records what the default database connection's psycopg connection sends (see the module
    docstring). Use `with recorder.recording():` around the requests to capture."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self.on = False

    def install(self) -> None:
        from django.db import connections
        from psycopg import pq

        from config.postgresql import commit as piped
        from config.postgresql import lean

        conn = connections["default"]
        if conn.vendor != "postgresql":
            raise CaptureError("the capture needs PostgreSQL")
        conn.ensure_connection()
        raw = conn.connection
        recorder = self
        base = raw.cursor_factory

        class RecordingCursor(base):  # type: ignore[misc, valid-type]
            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                result = super().execute(query, params, **kwargs)
                if recorder.on:
                    rows: list[tuple] = []
                    names: list[str] = []
                    if self.description is not None:
                        names = [column.name for column in self.description]
                        rows = self.fetchall()
                        if rows:
                            self.scroll(0, mode="absolute")
                    if isinstance(params, dict):
                        raise CaptureError(f"named parameters are not supported: {query!r}")
                    text = query if isinstance(query, str) else getattr(query, "as_string", lambda c: query)(self)
                    text = text.decode() if isinstance(text, bytes) else text
                    recorder.statements.append(Statement(text, list(params or []), names, rows))
                return result

            def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
                if recorder.on:
                    raise CaptureError(f"executemany cannot be captured: {query!r}")
                return super().executemany(query, params_seq, **kwargs)

        self._installed = (raw, base)
        raw.cursor_factory = RecordingCursor
        exec_command = raw._exec_command

        def recording_exec_command(command: Any, *args: Any, **kwargs: Any) -> Any:
            if recorder.on:
                text = command.decode() if isinstance(command, bytes) else command.as_string(raw)
                recorder.statements.append(Statement(text, command=True))
            return exec_command(command, *args, **kwargs)

        raw._exec_command = recording_exec_command

        # The last statement and its COMMIT go through neither a cursor nor psycopg's commands
        # (config/postgresql/commit.py): the function that sends them is wrapped instead.
        send_piped = piped.execute_and_commit

        def recording_piped(connection: Any, sql: str, params: Any) -> None:
            if recorder.on:
                recorder.statements.append(Statement(sql, list(params or []), piped=True))
                recorder.statements.append(Statement("COMMIT", command=True, piped=True))
            send_piped(connection, sql, params)

        piped.execute_and_commit = recording_piped
        self._send_piped = send_piped

        # wallet.rows.cursor()'s statements go through config/postgresql/lean.py, BEGIN with
        # the transaction's first one.
        send_lean = lean.run

        def recording_lean(connection: Any, sql: str, params: Any) -> Any:
            if not recorder.on or connection is not raw:
                return send_lean(connection, sql, params)
            opens = lean.begins(connection)
            begin = connection._get_tx_start_command().decode() if opens else ""
            result, tx = send_lean(connection, sql, params)
            names: list[str] = []
            rows: list[tuple] = []
            if result.status == pq.ExecStatus.TUPLES_OK:
                names = [result.fname(i).decode() for i in range(result.nfields)]
                tx.set_pgresult(result)
                rows = tx.load_rows(0, result.ntuples, tuple)
            if opens:
                recorder.statements.append(Statement(begin, command=True, opens=True))
            recorder.statements.append(Statement(sql, list(params or []), names, rows, opens=opens))
            return result, tx

        lean.run = recording_lean
        self._send_lean = send_lean

    def uninstall(self) -> None:
        from config.postgresql import commit as piped
        from config.postgresql import lean

        raw, base = self._installed
        raw.cursor_factory = base
        del raw._exec_command  # the instance attribute: psycopg's own method shows again
        piped.execute_and_commit = self._send_piped
        lean.run = self._send_lean

    @contextmanager
    def recording(self) -> Iterator[list[Statement]]:
        start = len(self.statements)
        self.on = True
        captured: list[Statement] = []
        try:
            yield captured
        finally:
            self.on = False
            captured.extend(self.statements[start:])


# --- pgbench script -----------------------------------------------------------------------------


def _split_with(sql: str) -> tuple[str, str]:
    """'WITH a AS (…), b AS (…) main' -> ('WITH a AS (…), b AS (…)', 'main'), quotes respected."""
    depth, i, quote = 0, 0, ""
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                rest = sql[i + 1 :].lstrip()
                if not rest.startswith(","):
                    return sql[: i + 1], rest
        i += 1
    raise CaptureError(f"cannot find the main statement of: {sql[:200]}")


def _renamed(sql: str, width: int) -> str:
    """`sql` returning the same rows with columns named c0..c{width-1} (for \\aset)."""
    columns = ", ".join(f"c{j}" for j in range(width))
    head = sql.lstrip()[:6].upper()
    if head.startswith("SELECT"):
        return f"SELECT * FROM ({sql}) AS q_({columns})"
    if head.startswith("WITH"):
        ctes, main = _split_with(sql)
        return f"{ctes}, q_ AS ({main}) SELECT * FROM q_ AS q__({columns})"
    return f"WITH q_ AS ({sql}) SELECT * FROM q_ AS q__({columns})"


def _begin_with_the_previous_end(lines: list[str], index: int) -> None:
    """pgbench reads no rows inside a pipeline (no \\aset there), so the statement at `index`
    cannot go with its BEGIN as the server sends it. Its BEGIN goes instead with the previous
    transaction's end (END or ROLLBACK, piped or alone): the same statements in the same number
    of round trips. The first transaction of a round has no previous end in the script (pgbench
    refuses a script that ends inside a transaction): there it cannot be mirrored."""
    assert (
        lines[index - 2] == "\\startpipeline"
        and lines[index - 1].startswith("BEGIN")
        and lines[index + 1] == "\\endpipeline"
    )
    begin = lines[index - 1]
    del lines[index + 1]
    del lines[index - 2 : index]
    previous = index - 3
    if previous >= 0 and lines[previous] == "\\endpipeline" and lines[previous - 1] in ("END;", "ROLLBACK;"):
        lines.insert(previous, begin)
    elif previous >= 0 and lines[previous] in ("END;", "ROLLBACK;"):
        lines[previous : previous + 1] = ["\\startpipeline", lines[previous], begin, "\\endpipeline"]
    else:
        raise CaptureError(
            "a later statement uses what the round's first transaction's first statement returned;"
            f" pgbench could not send it with its BEGIN as the server does: {lines[index - 2][:300]}"
        )


class Script:
    """Builds one pgbench script from captured rounds (see the module docstring).

    round_ints: per-round integers -> pgbench expression computing them from `:n`
    (e.g. the player's id -> ':pid0 + :n'); they become `\\set` variables."""

    def __init__(
        self, connection: Any, round_ints: dict[int, tuple[str, str]], round_texts: dict[str, str] | None = None
    ) -> None:
        """`connection`: the psycopg connection the statements went through (its adapters type
        the parameters as they were sent), or None for psycopg's defaults."""
        import psycopg
        from psycopg.adapt import PyFormat, Transformer

        self._types = (connection or psycopg).adapters.types
        self._tx = Transformer(connection)
        self._auto, self._text = PyFormat.AUTO, PyFormat.TEXT
        self.round_ints = round_ints  # value -> (variable, expression)
        self.round_texts = dict(round_texts or {})  # text -> the variable that renders it
        self.defines: dict[str, str] = {}
        self._constants: dict[tuple[str, str], str] = {}
        self.branches: list[tuple[str, float, list[str], int]] = []  # name, weight, lines, requests
        self.prefixes: list[tuple[str, list[str], int]] = []  # name, lines, requests
        self.token_variables: list[str] = []

    # -- parameters --

    def _type(self, value: Any) -> str:
        oid = self._tx.get_dumper(value, self._auto).oid
        info = self._types.get(oid) if oid else None
        return f"::{info.name}" if info is not None and info.name not in ("text", "unknown") else ""

    def _constant(self, value: Any, cast: str = "") -> str:
        text = self._tx.get_dumper(value, self._text).dump(value)
        text = bytes(text).decode() if text is not None else ""
        if not text:  # pgbench refuses an empty -D value
            return f"''{cast}"
        key = (text, cast)
        if key not in self._constants:
            name = f"c{len(self._constants)}"
            self._constants[key] = name
            self.defines[name] = text
        return f":{self._constants[key]}{cast}"

    def _param(self, value: Any, found: dict[int, str]) -> str:
        if value is None:
            return "NULL"
        cast = self._type(value)
        if type(value) is int:
            if value in self.round_ints:
                return f":{self.round_ints[value][0]}{cast}"
            if value in found:
                return f":{found[value]}{cast}"
            return self._constant(value, cast)
        if type(value) is str:
            names = {**self.round_texts, **{str(v): name for v, (name, _) in self.round_ints.items()}}
            names.update({str(v): name for v, name in found.items()})
            if value in names:
                return f":{names[value]}{cast}"
            pattern = "|".join(re.escape(t) for t in sorted(names, key=len, reverse=True))
            pieces = re.split(f"(?<![0-9])({pattern})(?![0-9])", value) if pattern else [value]
            if len(pieces) == 1:
                return self._constant(value, cast)
            parts = [
                f":{names[piece]}::text" if k % 2 else self._constant(piece, "::text")
                for k, piece in enumerate(pieces)
                if piece or k % 2
            ]
            return f"({' || '.join(parts)}){cast}"
        return self._constant(value, cast)

    # -- statements --

    def round(self, statements: list[Statement]) -> list[str]:
        """pgbench lines for one captured round."""
        lines: list[str] = []
        found: dict[int, str] = {}  # id returned earlier in the round -> its variable
        pending: dict[int, tuple[int, bool]] = {}  # line index -> (statement number, renamed)
        used: set[int] = set()
        for number, st in enumerate(statements):
            if st.command:
                word = st.sql.strip().upper()
                if st.opens:
                    lines.append("\\startpipeline")
                lines.append("END;" if word == "COMMIT" else f"{st.sql.strip()};")
                if st.piped:
                    lines.append("\\endpipeline")
                continue
            if st.piped:
                lines.append("\\startpipeline")
            sql = " ".join(st.sql.split())
            if _PGBENCH_VARIABLE_IN_SQL.search(sql.replace("%s", "")):
                raise CaptureError(f"pgbench would read ':name' in this statement as a variable: {sql[:300]}")
            pieces = sql.replace("%%", "\0").split("%s")
            if len(pieces) - 1 != len(st.params):
                raise CaptureError(f"{len(st.params)} parameters for {len(pieces) - 1} placeholders: {sql[:300]}")
            out = pieces[0]
            for value, piece in zip(st.params, pieces[1:], strict=True):
                rendered = self._param(value, found)
                for variable in re.findall(r":(r\d+_\w+)", rendered):
                    used.add(int(variable[1:].split("_", 1)[0]))
                out += rendered + piece
            out = out.replace("\0", "%")
            at = len(lines)
            pending[at] = (number, False)
            lines.append(out)
            if st.opens:
                lines.append("\\endpipeline")
            if st.rows:
                valid = all(_VARIABLE.match(n) for n in st.names) and len(set(st.names)) == len(st.names)
                pending[at] = (number, not valid)
                for j, value in enumerate(st.rows[-1]):
                    if type(value) is int and value >= ID_FLOOR and value not in found:
                        found[value] = f"r{number}_{st.names[j] if valid else f'c{j}'}"
        read_back: list[int] = []  # lines of statements sent with their BEGIN whose rows are used
        for index, (number, renamed) in pending.items():
            if number in used:
                sql = _renamed(lines[index], len(statements[number].names)) if renamed else lines[index]
                lines[index] = f"{sql} \\aset r{number}_"
                if statements[number].opens:
                    read_back.append(index)
            else:
                lines[index] += ";"
        for index in sorted(read_back, reverse=True):
            _begin_with_the_previous_end(lines, index)
        return lines

    def branch(self, name: str, weight: float, statements: list[Statement], requests: int) -> None:
        self.branches.append((name, weight, self.round(statements), requests))

    def prefix(self, name: str, statements: list[Statement], requests: int) -> None:
        """A block run before the branches in `:decl` rounds out of a million (-D decl=…)."""
        self.prefixes.append((name, self.round(statements), requests))

    def tokens(self, tokens: dict[str, str]) -> None:
        """Per-round request ids: text as captured -> variable name; each gets a fresh random
        number per pgbench round."""
        for text, name in tokens.items():
            self.round_texts[text] = name
            if name not in self.token_variables:
                self.token_variables.append(name)

    def requests_per_round(self) -> tuple[float, int]:
        """HTTP requests one pgbench round stands for on average, and those of the prefix."""
        total = sum(w for _, w, _, _ in self.branches)
        return sum(w * r for _, w, _, r in self.branches) / total, sum(r for _, _, r in self.prefixes)

    def text(self, header: str) -> str:
        out = [f"-- {line}" if line else "--" for line in header.strip().splitlines()]
        out.append("-- Generated by bench/_capture.py from the statements the running code sent; do not edit.")
        out.append("\\set n random(0, :np - 1)")
        for name, expression in sorted(set(self.round_ints.values())):
            out.append(f"\\set {name} {expression}")
        for name in self.token_variables:
            out.append(f"\\set {name} random(100000000000000000, 999999999999999999)")
        for name, lines, _ in self.prefixes:
            out += [f"-- {name}, in :decl rounds out of a million", "\\set pre random(1, 1000000)"]
            out += ["\\if :pre <= :decl", *lines, "\\endif"]
        total = sum(w for _, w, _, _ in self.branches)
        out.append(f"\\set pick random(1, {round(total * 1000)})")
        bound = 0.0
        for k, (name, weight, lines, _) in enumerate(self.branches):
            bound += weight
            keyword = "\\if" if k == 0 else "\\elif"
            if k == len(self.branches) - 1:
                out.append(f"\\else\n-- {name}" if k else f"-- {name}")
            else:
                out += [f"{keyword} :pick <= {round(bound * 1000)}", f"-- {name}"]
            out += lines
        if len(self.branches) > 1:
            out.append("\\endif")
        return "\n".join(_padded("\n".join(out).splitlines())) + "\n"


_PGBENCH_SLOTS = 128  # pgbench allocates its script's commands in blocks of 128


def _padded(lines: list[str]) -> list[str]:
    """`lines` with a no-op `\\set` in front of any `\\aset` statement that would be command
    128, 256, …: pgbench 15 merges an `\\aset` into its statement and skips the check that grows
    its array of commands, so the next command is written past the end of it (a heap overflow:
    "realloc(): invalid next size"). A comment is no command; every other line is one."""
    out: list[str] = []
    count = 0
    for line in lines:
        if not line.strip() or line.startswith("--"):
            out.append(line)
            continue
        if "\\aset" in line and not line.startswith("\\") and (count + 1) % _PGBENCH_SLOTS == 0:
            out.append("\\set pgbench_slot_pad 0")
            count += 1
        out.append(line)
        count += 1
    return out

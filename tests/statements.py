"""What a piece of code sent to PostgreSQL below Django (bench._capture's psycopg-level recorder;
the `recorder` fixture in tests/conftest.py)."""

from __future__ import annotations


def sent(statements) -> list[str]:
    """The statements sent, whitespace folded (the test's savepoints aside)."""
    return [
        " ".join(s.sql.split())
        for s in statements
        if not s.command and not s.sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))
    ]

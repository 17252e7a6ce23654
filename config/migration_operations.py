"""A migration operation for changing the indexes of a large, busy table on PostgreSQL.

Django's own operations build an index with a plain CREATE INDEX, which holds a write lock
on the table for the whole build, and replace a `unique=True` by dropping its constraint and
building a new one. On an outbox that takes a row in every money transaction, that stops
the callbacks for as long as the build takes. `OnlineOnPostgreSQL` keeps Django's operations
for the migration state (and runs them on SQLite, where the tables are small), and on
PostgreSQL runs hand-written statements instead: indexes built and dropped CONCURRENTLY,
a constraint renamed rather than rebuilt. The migration that uses it must set
`atomic = False` (CONCURRENTLY cannot run in a transaction), and a test must compare the
schema it leaves with the one Django's operations would (tests/crm/test_schema.py does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.migrations.operations.base import Operation


class OnlineOnPostgreSQL(Operation):
    reduces_to_sql = False
    reversible = True

    def __init__(self, operations: Sequence[Operation], postgresql: Sequence[str]) -> None:
        self.operations = list(operations)
        self.postgresql = list(postgresql)

    def deconstruct(self) -> tuple[str, list, dict[str, Any]]:
        return (self.__class__.__qualname__, [], {"operations": self.operations, "postgresql": self.postgresql})

    def describe(self) -> str:
        return "; ".join(op.describe() for op in self.operations) + " (online on PostgreSQL)"

    def state_forwards(self, app_label: str, state: Any) -> None:
        for operation in self.operations:
            operation.state_forwards(app_label, state)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for sql in self.postgresql:
                schema_editor.execute(sql, params=None)
            return
        state = from_state
        for operation in self.operations:
            after = state.clone()
            operation.state_forwards(app_label, after)
            operation.database_forwards(app_label, schema_editor, state, after)
            state = after

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        # Going back is rare and deliberate: Django's own (locking) operations, in reverse.
        states = [to_state]
        for operation in self.operations:
            after = states[-1].clone()
            operation.state_forwards(app_label, after)
            states.append(after)
        for index in reversed(range(len(self.operations))):
            self.operations[index].database_backwards(app_label, schema_editor, states[index + 1], states[index])

"""timestamptz values read by psycopg's C loader, where Django would read them in Python.

Django registers its own timestamptz loader on every PostgreSQL connection
(`django.db.backends.postgresql.psycopg_any.register_tzloader`): a subclass of psycopg's
*pure-Python* `TimestamptzLoader` that parses the text and then relabels the value with the
connection's time zone. With psycopg's C extension installed (requirements.txt:
`psycopg[binary]`) that replaces a C parser with a Python one: about 2.7 µs against 0.3 µs a
value. A Betsy settle reads its bet, whose times are timestamptz, on every callback, so this
was some 17 µs of each Betsy callback's ~500 (py-spy, docs/benchmarks/betsy.md, session 14),
and every admin list, report and delivery batch reading times pays the same per value.

`loader_for(tz)` gives the loader Django's would be, with the same `timezone` attribute (Django's
`create_cursor` compares it and registers its own again when it differs). Asked for a loader,
it makes psycopg's default one for the connection; when that one already labels its values
with `tz` (Django sets the session's TimeZone to the connection's, so the relabelling is a
no-op) psycopg gets it as it is, and runs it in C with no Python frame per value or per
statement. Otherwise (USE_TZ off, a session whose time zone was changed by hand) psycopg gets
a loader that relabels each value exactly as Django's does.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from typing import Any

from psycopg import adapters
from psycopg.adapt import Loader
from psycopg.postgres import types
from psycopg.pq import Format

TIMESTAMPTZ_OID = types["timestamptz"].oid
_PROBE = b"2000-01-01 00:00:00+00"


def default_loader() -> type[Loader]:
    """psycopg's own timestamptz text loader: the C one when psycopg's C extension is installed."""
    return adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)  # type: ignore[return-value]


@functools.cache
def loader_for(tz: tzinfo | None) -> type[Loader]:
    """A timestamptz loader giving what Django's `register_tzloader(tz, …)` would, one class per
    time zone (so that Django's identity and equality checks see one loader)."""
    parser = default_loader()

    class TimestamptzLoader(Loader):
        timezone = tz  # what Django's create_cursor reads

        def __new__(cls, oid: int, context: Any = None) -> Any:
            parse = parser(oid, context)
            try:  # an ISO text: a session with another DateStyle keeps the relabelling path
                direct = parse.load(_PROBE).tzinfo is tz
            except Exception:
                direct = False
            if direct:
                return parse  # psycopg's own loader, which psycopg then runs in C (__init__ skipped)
            made = super().__new__(cls)
            made._parse = parse
            return made

        def load(self, data: Any) -> datetime:
            return self._parse.load(data).replace(tzinfo=tz)

    return TimestamptzLoader


def install(connection: Any, tz: tzinfo | None) -> None:
    """Use `loader_for(tz)` on this psycopg connection (once: a pooled connection comes back)."""
    loader = loader_for(tz)
    if connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is not loader:
        connection.adapters.register_loader(TIMESTAMPTZ_OID, loader)

"""config/postgresql/timestamps.py: timestamptz values come out exactly as Django's own loader
gives them, parsed by psycopg's C loader instead of its Python one."""

from __future__ import annotations

import datetime

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from config.postgresql import timestamps
from wallet import rows

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db,  # the test database, which the raw connections below open too
]

VALUES = (
    "'2026-01-01 10:00:00.123456+02'",
    "'1999-12-31 23:59:59-09:30'",
    "'2026-03-29 01:30:00+00'",  # a DST change elsewhere
    "'1900-01-01 00:00:00+00'",
    "'9999-12-30 23:59:59.999999+00'",
    "NULL",
    "now()",
)
QUERY = "SELECT " + ", ".join(f"{value}::timestamptz" for value in VALUES) + ", now()::timestamptz - now()::timestamptz"


def _raw(session_zone: str) -> psycopg.Connection:
    settings = connection.get_connection_params()
    raw = psycopg.connect(**{k: v for k, v in settings.items() if k not in ("context", "cursor_factory")})
    raw.execute(f"SET TIME ZONE '{session_zone}'")
    return raw


def _read(raw: psycopg.Connection, loader: object) -> tuple:
    raw.adapters.register_loader("timestamptz", loader)  # type: ignore[arg-type]
    row = raw.execute("SELECT " + ", ".join(f"{v}::timestamptz" for v in VALUES[:-1])).fetchone()
    return tuple((value, repr(value), getattr(value, "tzinfo", None)) for value in row)


def _django_loader(raw: psycopg.Connection, tz: datetime.tzinfo | None) -> object:
    register_tzloader(tz, raw)  # Django's own, on this connection
    return raw.adapters.get_loader(timestamps.TIMESTAMPTZ_OID, Format.TEXT)


@pytest.mark.parametrize("datestyle", ["SQL, DMY", "German"])
def test_another_datestyle_reads_as_djangos_loader_reads_it(datestyle):
    """psycopg reads timestamptz text in ISO only: both refuse the same way, neither fails at set-up."""

    def outcome(raw: psycopg.Connection, loader: object) -> tuple:
        try:
            return ("read", _read(raw, loader))
        except Exception as error:  # noqa: BLE001 - the refusal itself is compared
            return ("refused", type(error).__name__, str(error))

    with _raw("UTC") as raw:
        raw.execute(f"SET DateStyle = '{datestyle}'")
        theirs = outcome(raw, _django_loader(raw, datetime.UTC))
        ours = outcome(raw, timestamps.loader_for(datetime.UTC))
        assert raw.execute("SELECT NULL::timestamptz").fetchone() == (None,)  # our loader was made
    assert ours == theirs
    assert theirs[0] == "refused"


@pytest.mark.parametrize("session_zone", ["UTC", "Europe/Rome"])
@pytest.mark.parametrize("tz", [datetime.UTC, None, "Europe/Rome"], ids=["utc", "naive", "rome"])
def test_the_same_values_as_djangos_loader(session_zone, tz):
    """Whatever the session's zone and Django's (USE_TZ off: None), value for value, repr and
    tzinfo object included; Django relabels, so must this."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    with _raw(session_zone) as raw:
        theirs = _read(raw, _django_loader(raw, tz))
        ours = _read(raw, timestamps.loader_for(tz))
    assert ours == theirs
    assert ours[0][0] is not None and ours[-1] is not None


def test_psycopgs_c_loader_is_used_as_it_is_when_django_would_only_relabel():
    ours = timestamps.loader_for(datetime.UTC)
    assert timestamps.default_loader().__module__.startswith("psycopg_binary")  # requirements.txt: psycopg[binary]
    with _raw("UTC") as raw:
        loader = ours(timestamps.TIMESTAMPTZ_OID, raw)
    assert type(loader) is timestamps.default_loader()  # no Python frame per value, nor per statement
    with _raw("Europe/Rome") as raw:
        relabelled = ours(timestamps.TIMESTAMPTZ_OID, raw)
    assert type(relabelled) is ours  # the session disagrees: relabelled in Python, as Django does


def test_the_projects_connections_use_it_and_django_keeps_it():
    connection.ensure_connection()
    ours = timestamps.loader_for(connection.timezone)
    assert connection.connection.adapters.get_loader(timestamps.TIMESTAMPTZ_OID, Format.TEXT) is ours
    with connection.cursor() as cursor:  # Django's create_cursor compares the loader's timezone
        cursor.execute("SELECT now()")
        (now,) = cursor.fetchone()
    assert connection.connection.adapters.get_loader(timestamps.TIMESTAMPTZ_OID, Format.TEXT) is ours
    assert now.tzinfo is datetime.UTC
    with rows.cursor() as cursor:  # the hot path's lean cursor
        cursor.execute("SELECT '2026-01-01 10:00:00.5+02'::timestamptz")
        assert cursor.fetchone() == (datetime.datetime(2026, 1, 1, 8, 0, 0, 500000, tzinfo=datetime.UTC),)


def test_installing_twice_registers_once():
    with _raw("UTC") as raw:
        timestamps.install(raw, datetime.UTC)
        first = raw.adapters._loaders[Format.TEXT]
        timestamps.install(raw, datetime.UTC)
        assert raw.adapters._loaders[Format.TEXT] is first

"""Row writes and reads for the callback hot path, without the ORM's query compiler.

Each provider callback writes a handful of rows (bet, settlement step, bet state) and reads a
few (the bet it settles, the transaction it reverses). Through the ORM each of those costs
150–400 µs of CPU compiling SQL, several times the statement itself (docs/benchmarks/igpx.md);
on 2 cores that CPU is the wallet's throughput. These helpers build each statement once per
model and column set, and convert values with the model fields' own methods, so what they
write is exactly what `Model.save()` would write (defaults, `auto_now_add`, JSON, decimals)
on PostgreSQL and on SQLite alike.

Use them for rows whose model has no `save()` override or signal receivers that matter
(wallet rows have none).

`cursor()` is the cursor every hot-path statement goes through: on PostgreSQL a lean one over
libpq (config/postgresql/lean.py: psycopg's conversions and statement cache at about half the
CPU of psycopg's cursor, and BEGIN in the same round trip as the transaction's first
statement), not Django's wrapper (which costs about 35 µs of CPU per statement here, a quarter
of the statement), with Django's error translation kept. Such statements do not show in
`connection.queries` or Django's `execute_wrapper` hooks.

`write_behind()`: on PostgreSQL, rows that nothing reads back before the transaction ends
(the CRM outbox) wait for the transaction's last statement and travel in it as
data-modifying CTEs, one round trip fewer per callback. Any other statement sent meanwhile,
through `cursor()` or the ORM, first sends them on their own, so every read sees them.
"""

from __future__ import annotations

import json
import threading
from asyncio import _get_running_loop
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from asgiref.local import Local
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute

try:  # what Django's PostgreSQL backend wraps JSON in (psycopg 3 or psycopg2); absent without either
    from django.db.backends.postgresql.psycopg_any import Jsonb

    from config.postgresql import atomic as _atomic
    from config.postgresql import commit as _piped
    from config.postgresql import lean as _lean
    from config.postgresql.base import DatabaseWrapper as _OurPostgres
except ImportError:  # pragma: no cover - SQLite-only installs
    Jsonb = _atomic = _piped = _lean = _OurPostgres = None

M = TypeVar("M", bound=models.Model)


class _Pending(threading.local):
    def __init__(self) -> None:
        self.depth = 0  # nesting of write_behind() blocks
        self.writes: list[tuple[str, list[Any]]] = []


_pending = _Pending()


def db() -> Any:
    """The default database connection itself. Hot-path code reads its attributes through this
    rather than `django.db.connection`: every attribute read through that proxy is an asgiref
    context-local lookup, about 12,000 instructions (docs/benchmarks/igpx.md, session 3).

    `connections[alias]` itself is such a lookup: asgiref asks `asyncio.get_running_loop()`,
    which raises (and is caught) in every sync thread, ~10,700 instructions, some 9 times per
    callback (issue #18). In a thread with no running event loop asgiref's answer is the
    thread's plain `threading.local`; this reads that one directly, and asks `connections`
    whenever anything else holds (an event loop, no connection yet, another asgiref)."""
    conn = initialized_db()
    return conn if conn is not None else connections[DEFAULT_DB_ALIAS]


def initialized_db() -> Any:
    """The default connection if this thread (or task) has made it, else None: what Django's
    `connections.all(initialized_only=True)` gives for the one alias, at `db()`'s cost."""
    local = connections._connections
    if type(local) is _THREAD_LOCAL and _get_running_loop() is None:
        return getattr(local._storage, DEFAULT_DB_ALIAS, None)
    return connections[DEFAULT_DB_ALIAS] if hasattr(local, DEFAULT_DB_ALIAS) else None


# asgiref's Local(thread_critical=True), which Django's ConnectionHandler keeps connections in:
# in a sync thread its storage is the `_storage` threading.local (asgiref/local.py).
_probe = Local(thread_critical=True)
# A layout this does not know: NoneType, which no ConnectionHandler's storage is, so `db()` always asks `connections`.
_THREAD_LOCAL = type(_probe) if isinstance(getattr(_probe, "_storage", None), threading.local) else type(None)
del _probe


@contextmanager
def cursor() -> Iterator[Any]:
    """A cursor for one hot-path statement (see the module docstring)."""
    conn = db()
    if conn.vendor != "postgresql":  # SQLite needs Django's wrapper (%s -> ? placeholders)
        with conn.cursor() as django_cursor:
            yield django_cursor
        return
    if conn.connection is None:
        conn.ensure_connection()
    raw = conn.connection
    if _lean.usable(raw):
        with conn.wrap_database_errors:
            lean = _lean.Cursor(raw)
            if _pending.writes:
                _send_pending(lean)
            yield lean
        return
    with conn.wrap_database_errors, raw.cursor() as psycopg_cursor:
        if _pending.writes:
            _send_pending(psycopg_cursor)
        yield psycopg_cursor


def _send_pending(cur: Any) -> None:
    sql, params = carrying("SELECT 1", [])
    cur.execute(sql, params)


def durable() -> AbstractContextManager[None]:
    """`transaction.atomic(durable=True)` on the default database; on Touchline's PostgreSQL
    backend at under half its CPU (config/postgresql/atomic.py)."""
    conn = db()
    if _OurPostgres is not None and isinstance(conn, _OurPostgres):
        return _atomic.Durable(conn)
    return transaction.atomic(durable=True)


def execute_and_commit(sql: str, params: list[Any]) -> bool:
    """Send the transaction's last statement (it reads nothing back) with its COMMIT, in one
    round trip (PostgreSQL: config/postgresql/commit.py). False, having sent nothing, where that
    does not apply (SQLite, a savepoint, a test's wrapping transaction): the caller then runs
    `sql` itself and the atomic block commits as usual. Call it as the atomic block's last act."""
    conn = db()
    if conn.vendor != "postgresql" or not _piped.usable(conn):
        return False
    _piped.execute_and_commit(conn, sql, params)
    return True


@contextmanager
def write_behind() -> Iterator[None]:
    """Hold `insert_many(…, write_behind=True)` rows back until a statement built with
    `carrying` takes them, or the block ends (see the module docstring). Use it around the
    work of one transaction whose last statement is built with `carrying`; when the block
    ends with an exception the held rows are dropped with the transaction they belonged to.
    A no-op except on PostgreSQL (SQLite cannot write in a CTE)."""
    conn = db()
    if conn.vendor != "postgresql":
        yield
        return
    _pending.depth += 1
    try:
        with conn.execute_wrapper(_before_orm_statement):
            yield
            _flush()
    finally:
        _pending.depth -= 1
        if not _pending.depth:
            _pending.writes.clear()


def hold(sql: str, params: list[Any]) -> bool:
    """Hold one data-modifying statement (an INSERT or UPDATE nothing reads back before the
    transaction's last statement) as `insert_many(…, write_behind=True)` holds its rows; False,
    having held nothing, outside a `write_behind()` block (the caller then sends it itself)."""
    if not _pending.depth:
        return False
    _pending.writes.append((sql, params))
    return True


def _flush() -> None:
    """Send the held rows now, on their own (`cursor()` sends them before anything else)."""
    if _pending.writes:
        with cursor():
            pass


def _before_orm_statement(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    _flush()  # an ORM statement must see the held rows
    return execute(sql, params, many, context)


def carrying(sql: str, params: list[Any]) -> tuple[str, list[Any]]:
    """`sql` (one statement, plain or starting with WITH) with the held rows' INSERTs in front
    of it as data-modifying CTEs, and the parameters in matching order. Takes them: they are
    written by the returned statement, which must then be executed."""
    if not _pending.writes:
        return sql, params
    writes, _pending.writes = _pending.writes, []
    ctes = ", ".join(f"held_{i} AS ({write})" for i, (write, _) in enumerate(writes))
    held = [p for _, write_params in writes for p in write_params]
    if sql[:5].upper() == "WITH ":
        return f"WITH {ctes}, {sql[5:]}", [*held, *params]
    return f"WITH {ctes} {sql}", [*held, *params]


@cache
def _insert_sql(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...]]:
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING id", fields


# Field classes whose preparation for PostgreSQL (`get_db_prep_save(pre_save(…))`) returns a
# value of this exact type unchanged: for such values the hot path skips Django's call chain,
# which cost about a tenth of a callback's instructions (docs/benchmarks/igpx.md, session 3).
# Any other value, and every other field (integers, which psycopg 3 types as Int2/4/8; JSON;
# auto_now; subclasses), goes through Django. tests/wallet/test_rows.py checks the two agree.
_UNCHANGED: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.DecimalField: Decimal,
}


_MISSING = object()
_JSON = object()  # a JSONField's kind: a list or dict is wrapped for psycopg directly (`_json_dumps`)


@cache
def _json_dumps(encoder: type[json.JSONEncoder] | None) -> Callable[[Any], str] | None:
    """`json.dumps(value, cls=encoder)` (what Django has psycopg call for a JSONField on
    PostgreSQL), without building the encoder instance and its iterencode prologue per value: a
    Betsy bet's selections cost about 45,000 instructions that way (issue #18). None when the
    encoder does more than `default` (or json has no C encoder): Django's own path then."""
    encoder = encoder or json.JSONEncoder
    make = json.encoder.c_make_encoder
    if (
        Jsonb is None
        or make is None
        or any(
            getattr(encoder, name) is not getattr(json.JSONEncoder, name)
            for name in ("__init__", "encode", "iterencode")
        )
    ):
        return None
    instance = encoder()
    default, key_separator, item_separator = instance.default, instance.key_separator, instance.item_separator
    ascii_strings = json.encoder.encode_basestring_ascii

    def dumps(value: Any) -> str:
        # json.JSONEncoder.encode's own steps for a list or dict (fresh markers: circular check).
        return "".join(
            make({}, default, ascii_strings, None, key_separator, item_separator, False, False, True)(value, 0)
        )

    return dumps


# The kinds of a fields tuple, by the tuple's id (with the tuple, to check it is that one): a
# cache keyed by the tuple itself hashed each field through Field.__hash__, in Python, on every
# row written, a sixth of the row's preparation (issue #18, third pass).
_kinds_by_id: dict[int, tuple[tuple[models.Field, ...], tuple[type | None, ...]]] = {}


def _unchanged(fields: tuple[models.Field, ...]) -> tuple[type | None, ...]:
    known = _kinds_by_id.get(id(fields))
    if known is not None and known[0] is fields:
        return known[1]
    kinds = _kinds(fields)
    if len(_kinds_by_id) < 1024:  # the statements' fields tuples are cached (a handful); others are not kept
        _kinds_by_id[id(fields)] = (fields, kinds)
    return kinds


@cache
def _kinds(fields: tuple[models.Field, ...]) -> tuple[type | None, ...]:
    kinds: list[type | None] = []
    for f in fields:
        kind = _UNCHANGED.get(type(f))
        if type(f) is models.JSONField and _json_dumps(f.encoder) is not None:
            kind = _JSON
        elif type(f) is models.DateTimeField and not (f.auto_now or f.auto_now_add) and settings.USE_TZ:
            kind = datetime
        elif isinstance(f, models.ForeignKey) and type(f.target_field) in (models.AutoField, models.BigAutoField):
            kind = int
        kinds.append(kind)
    return tuple(kinds)


def _values(obj: models.Model, fields: tuple[models.Field, ...], add: bool, conn: Any) -> list[Any]:
    """What `Model.save()` would send for `fields` of `obj` (`add`: an INSERT)."""
    if conn.vendor != "postgresql":
        return [f.get_db_prep_save(f.pre_save(obj, add), conn) for f in fields]
    values = []
    state = obj.__dict__
    for f, kind in zip(fields, _unchanged(fields), strict=True):
        if kind is _JSON:
            value = state.get(f.attname)
            if type(value) is list or type(value) is dict:  # adapt_json_value's Jsonb, its dumps built once
                values.append(Jsonb(value, dumps=_json_dumps(f.encoder)))
                continue
        elif kind is not None:
            value = state.get(f.attname, _MISSING)  # a deferred field is missing: Django loads it
            if value is None or (
                type(value) is kind
                and (kind is not Decimal or value.is_finite())
                and (kind is not datetime or value.tzinfo is not None)
            ):
                values.append(value)
                continue
            if kind is str and isinstance(value, str):
                # A TextChoices member (Bet.Status.SETTLED): CharField.to_python returns any str
                # as it is, so Django would send this very value (three per settle; issue #18).
                values.append(value)
                continue
        values.append(f.get_db_prep_save(f.pre_save(obj, add), conn))
    return values


def insert(obj: M) -> M:
    """INSERT `obj` (a new, unsaved instance) and set its primary key, like `obj.save()`."""
    sql, fields = _insert_sql(type(obj))
    params = _values(obj, fields, True, db())
    with cursor() as cur:
        cur.execute(sql, params)
        return saved(obj, cur.fetchone()[0])


def saved(obj: M, pk: int) -> M:
    """Mark `obj` as the row with primary key `pk` that was just written for it."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS
    return obj


@dataclass(frozen=True, slots=True)
class NewRow:
    """A new row's INSERT in parts, for a statement that carries it with other work:
    `{head} SELECT {values} … RETURNING id` (or `{head} VALUES ({values})`)."""

    head: str  # INSERT INTO <table> (<columns>)
    values: str  # %s, %s, …
    params: list[Any]

    @property
    def sql(self) -> str:
        return f"{self.head} VALUES ({self.values}) RETURNING id"


@cache
def _insert_with_pk_sql(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...]]:
    sql, fields = _insert_sql(model)
    pk = model._meta.pk
    head, values = sql[: sql.index(" VALUES ")], sql[sql.index(" VALUES ") :]
    head = head.replace(" (", f" ({connection.ops.quote_name(pk.column)}, ", 1)
    return head + values.replace("(", "(%s, ", 1), (pk, *fields)


def new_row(
    obj: models.Model, expressions: dict[str, str] | None = None, *, with_pk: bool = False, conn: Any = None
) -> NewRow:
    """`obj`'s INSERT (a new, unsaved instance), with the values `insert` would write; set its
    primary key afterwards with `saved`. `expressions`: columns (by attname) whose value is an
    SQL expression of the larger statement instead, e.g. `{"transaction_id": "(SELECT id FROM txn)"}`.
    `with_pk`: the row's primary key is `obj.pk`, taken beforehand (e.g. from its sequence).
    `conn`: `db()`, when the caller has it already."""
    sql, fields = _insert_with_pk_sql(type(obj)) if with_pk else _insert_sql(type(obj))
    params = _values(obj, fields, True, db() if conn is None else conn)
    if not expressions:
        return NewRow(sql[: sql.index(" VALUES ")], ", ".join(["%s"] * len(fields)), params)
    values, kept = [], []
    for f, value in zip(fields, params, strict=True):
        if f.attname in expressions:
            values.append(expressions[f.attname])
        else:
            values.append("%s")
            kept.append(value)
    return NewRow(sql[: sql.index(" VALUES ")], ", ".join(values), kept)


def insert_many(objs: Sequence[models.Model], *, ignore_conflicts: bool = False, write_behind: bool = False) -> None:
    """One multi-row INSERT of new instances of one model, like `bulk_create` (primary keys are
    not read back). `ignore_conflicts` skips rows that break a unique constraint.
    `write_behind`: inside a `write_behind()` block, hold the INSERT back (module docstring)."""
    if not objs:
        return
    model = type(objs[0])
    sql, fields = _insert_sql(model)
    head = sql[: sql.index(" VALUES ")]
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    conn = db()
    params = [value for obj in objs for value in _values(obj, fields, True, conn)]
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    statement = f"{head} VALUES {', '.join([one] * len(objs))}{conflict}"
    if write_behind and _pending.depth:
        _pending.writes.append((statement, params))
        return
    with cursor() as cur:
        cur.execute(statement, params)


@cache
def _update_sql(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, tuple[models.Field, ...]]:
    fields = tuple(model._meta.get_field(name) for name in names)
    sets = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    return f"UPDATE {model._meta.db_table} SET {sets} WHERE id = %s", fields


def update_sql(obj: models.Model, names: Sequence[str], conn: Any = None) -> tuple[str, list[Any]]:
    """The UPDATE `update` sends, and its parameters, for a caller that sends it with other work.
    `conn`: as in `new_row`."""
    sql, fields = _update_sql(type(obj), tuple(names))
    return sql, [*_values(obj, fields, False, db() if conn is None else conn), obj.pk]


def update(obj: models.Model, names: Sequence[str]) -> None:
    """UPDATE the named fields of a saved instance, like `obj.save(update_fields=names)`."""
    sql, params = update_sql(obj, names)
    with cursor() as cur:
        cur.execute(sql, params)


@cache
def _select_sql(model: type[models.Model], lock: bool, where: tuple[str, ...]) -> tuple[str, tuple[models.Field, ...]]:
    fields = tuple(model._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    conditions = " AND ".join(f"{connection.ops.quote_name(model._meta.get_field(w).column)} = %s" for w in where)
    suffix = " FOR NO KEY UPDATE" if lock and connection.vendor == "postgresql" else ""
    return f"SELECT {columns} FROM {model._meta.db_table} WHERE {conditions}{suffix}", fields


def _from_row(model: type[M], row: Sequence[Any]) -> M:
    """`model.from_db` of a row of every concrete field, in the model's order. Without pre/post_init
    receivers the instance is built directly, its __dict__ from the row as Model.__init__ would
    set it (Model.__init__'s setattr per field was most of the cost of the bet a settle locks,
    issue #18). Only fields with converters are converted."""
    conversions, names, direct = _row_plan(model)
    if len(row) != len(names):
        raise ValueError(f"{len(row)} values for {len(names)} fields of {model.__name__}")
    return _loaded(model, names, conversions, direct, row)


def _loaded(model: type[M], names: Sequence[str], conversions: tuple, direct: bool, row: Sequence[Any]) -> M:
    """The instance of `row` (values of the fields `names`, as the database returns them), its
    __dict__ set as Model.__init__ would set it, through Model.from_db when that cannot be done."""
    values = list(row)
    conn = db() if conversions else None  # only when a value needs it
    for index, f, converters in conversions:
        value = values[index]
        for converter in converters:
            value = converter(value, f.cached_col, conn)
        values[index] = value
    if not direct or _has_init_receivers(model):
        return model.from_db(DEFAULT_DB_ALIAS, list(names), values)
    obj = model.__new__(model)
    state = ModelState()
    state.adding = False
    state.db = DEFAULT_DB_ALIAS
    obj.__dict__["_state"] = state
    obj.__dict__.update(zip(names, values, strict=True))
    return obj


@cache
def _row_plan(model: type[models.Model]) -> tuple[tuple[tuple[int, models.Field, tuple], ...], tuple[str, ...], bool]:
    """Per model (a class hashes faster than its 47 fields): the fields to convert, with their
    converters; the attnames; whether no attname is a data descriptor that Model.__init__'s
    setattr would need (else the instance cannot be built from its __dict__)."""
    fields = tuple(model._meta.concrete_fields)
    conversions = tuple((i, f, _converters(f)) for i, f in enumerate(fields) if _converters(f))
    names = tuple(f.attname for f in fields)
    # A foreign key's attname descriptor only clears a cached related object, which a new
    # instance has not got; any other data descriptor must see the value.
    direct = not any(
        hasattr(descriptor, "__set__") and type(descriptor) is not ForeignKeyDeferredAttribute
        for descriptor in (getattr(model, name, None) for name in names)
    )
    return conversions, names, direct


def build(model: type[M], cached: dict[str, models.Model] | None = None, /, **values: Any) -> M:
    """A new, unsaved `model(**values)`, `values` by attname (`bet_id=…`, not `bet=…`), the other
    fields at their defaults; `cached`: related objects the instance holds already, by field name
    (what `model(bet=bet)` would cache). Built without Model.__init__ (its setattr per field, and
    the pre/post_init sends, were a twentieth of a Betsy settle, issue #18) unless a pre/post_init
    receiver exists or an attname is a data descriptor, as `_from_row` does."""
    names, constants, made = _build_plan(model)
    if not names or _has_init_receivers(model):
        obj = model(**values)
        for name, related in (cached or {}).items():
            setattr(obj, name, related)
        return obj
    unknown = values.keys() - constants.keys() - made.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field attname {', '.join(sorted(unknown))}")
    obj = model.__new__(model)
    state = ModelState()  # adding, no database: a new instance's
    if cached:
        state.fields_cache = dict(cached)
    state_dict = obj.__dict__
    state_dict["_state"] = state
    state_dict.update(constants)
    for name, f in made.items():
        if name not in values:
            state_dict[name] = f.get_default()
    state_dict.update(values)
    return obj


@cache
def _build_plan(model: type[models.Model]) -> tuple[tuple[str, ...], dict[str, Any], dict[str, models.Field]]:
    """Per model: the attnames in field order (empty when the instance cannot be built from its
    __dict__, see `_row_plan`), the defaults that are constants, the fields whose default is made
    per instance (a callable)."""
    _, names, direct = _row_plan(model)
    constants: dict[str, Any] = {}
    made: dict[str, models.Field] = {}
    for f in model._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            made[f.attname] = f
        else:
            constants[f.attname] = f.get_default()
    return (names if direct else ()), constants, made


def _has_init_receivers(model: type[models.Model]) -> bool:
    # Any receiver at all, for any model, takes Model.__init__ (has_listeners(model) costs more
    # than the rest of building the instance; the project connects none).
    return bool(models.signals.pre_init.receivers or models.signals.post_init.receivers)


@cache
def _converters(field: models.Field) -> tuple:
    return tuple(connection.ops.get_db_converters(field.cached_col)) + tuple(field.get_db_converters(connection))


def select_sql(
    model: type[models.Model], where: tuple[str, ...], *, lock: bool = False
) -> tuple[str, tuple[models.Field, ...]]:
    """`SELECT <every column> FROM <table> WHERE <field> = %s AND …`, and the fields in order,
    for a caller that embeds the read in a larger statement; `instance` turns its row back.
    `lock` as in `get`."""
    return _select_sql(model, lock, where)


def instance(model: type[M], row: Sequence[Any]) -> M:
    return _from_row(model, row)


def get(model: type[M], *, lock: bool = False, **where: Any) -> M | None:
    """The one row of `model` matching `where` (field=value equalities), or None.

    `lock` takes the row lock FOR NO KEY UPDATE on PostgreSQL (SQLite holds the database's
    only write lock for the whole transaction anyway)."""
    names = tuple(where)
    sql, _ = _select_sql(model, lock, names)
    conn = db()
    params = [model._meta.get_field(n).get_db_prep_value(where[n], conn) for n in names]
    with cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return None if row is None else _from_row(model, row)


def values(sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
    """The first row of a raw query, as a tuple (None if there is none)."""
    with cursor() as cur:
        cur.execute(sql, list(params))
        return cur.fetchone()


def all_rows(sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    with cursor() as cur:
        cur.execute(sql, list(params))
        return cur.fetchall()


def partial(model: type[M], names: Sequence[str], row: Sequence[Any]) -> M:
    """An instance from some of its fields (attnames `names`, values in that order, as the
    database returns them); the other fields are deferred and loaded on first access, as with
    `QuerySet.only()`. Built from its __dict__ like `_from_row` (Model.from_db's __init__ costs
    more than a delivery batch's SQL per row, docs/benchmarks/crm.md), through Model.from_db
    when that cannot be done."""
    return _loaded(model, names, _partial_plan(model, tuple(names)), _row_plan(model)[2], row)


@cache
def _partial_plan(model: type[models.Model], names: tuple[str, ...]) -> tuple[tuple[int, models.Field, tuple], ...]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_attname[name] for name in names]
    return tuple((i, f, _converters(f)) for i, f in enumerate(fields) if _converters(f))

"""Apply an external request exactly once, and answer its repeats with the first response.

The natural key (provider, external id, operation) has a unique constraint. The first
copy of a request inserts its row and does the work in the same transaction; a concurrent
copy's INSERT … ON CONFLICT DO NOTHING waits on the unique index until the first commits,
then reads the stored response. No read-then-write race is possible.

A request that is declined (insufficient funds, blocked player…) is rolled back whole and
its decline is stored in a fresh transaction, so a decline can never leave half a posting
behind, and its repeat gets the same decline.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.utils import timezone

from wallet import rows
from wallet.errors import AlreadyRolledBack, IdempotencyConflict, WalletError
from wallet.models import IdempotencyConflict as ConflictRow
from wallet.models import IdempotencyRecord
from wallet.services import reviews

logger = logging.getLogger("touchline.wallet.idempotency")

APPLIED = IdempotencyRecord.Outcome.APPLIED.value
DECLINED = IdempotencyRecord.Outcome.DECLINED.value
TOMBSTONE = IdempotencyRecord.Outcome.TOMBSTONE.value
PENDING = IdempotencyRecord.Outcome.PENDING.value
TOMBSTONE_FINGERPRINT = "tombstone"


@dataclass(frozen=True, slots=True)
class RequestKey:
    provider: str
    external_id: str
    operation: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the protocol layer answers for an applied request."""

    status: int
    body: str
    transaction_id: int | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: str
    outcome: str  # applied / declined / conflict / tombstone
    replayed: bool = False
    transaction_id: int | None = None


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        # 5, 5.0 and 5.00 are the same amount: a retry that reformats it is not a conflict.
        return format(value.normalize(), "f")
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def fingerprint(content: Mapping[str, Any]) -> str:
    """SHA-256 of the request's canonical content (key order and number format do not matter)."""
    text = json.dumps(_canonical(content), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


_CLAIM = (
    "INSERT INTO wallet_idempotencyrecord"
    " (provider, external_id, operation, fingerprint, outcome, status_code, response, error_code, created_at)"
    " VALUES (%s, %s, %s, %s, %s, 200, '', '', %s)"
    " ON CONFLICT (provider, external_id, operation) DO NOTHING RETURNING id"
)
_LOAD = (
    "SELECT fingerprint, outcome, status_code, response, transaction_id FROM wallet_idempotencyrecord"
    " WHERE provider = %s AND external_id = %s AND operation = %s"
)


@dataclass(frozen=True, slots=True)
class Preload:
    """A one-row read that `apply` needs (e.g. the player's wallet), sent with the key's claim.

    On PostgreSQL the claim, the stored answer of an earlier copy and this read travel in one
    statement: a callback's first round trip does all three. `sql` is a SELECT returning at
    most one row; `apply` receives that row, or None when there is none.
    """

    sql: str
    params: tuple[Any, ...]


def _claim(key: RequestKey, print_: str, outcome: str = PENDING) -> int | None:
    """Insert the key; its id if we own it now, None if it existed (after its writer committed)."""
    now = rows.db().ops.adapt_datetimefield_value(timezone.now())
    with rows.cursor() as cursor:
        cursor.execute(_CLAIM, [key.provider, key.external_id, key.operation, print_, outcome, now])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _claim_and_read(
    key: RequestKey, print_: str, preload: Preload | None, key_sql: Preload | None = None
) -> tuple[int | None, tuple | None, tuple | None, RequestKey]:
    """(our record id or None, the existing record's row when it was not ours, the preloaded row,
    the key). The preloaded row comes back whether or not the record was ours.

    PostgreSQL: one statement. The existing row is visible to it only if its writer committed
    before the statement began; a copy still in flight makes the INSERT wait and then do
    nothing, and its row is read afterwards (`_load`), so it is never missed.
    `key_sql`: the key's external id is this SQL expression's value, computed in the statement.
    """
    if rows.db().vendor != "postgresql":
        if key_sql is not None:
            (external_id,) = rows.values(f"SELECT {key_sql.sql}", key_sql.params)
            key = RequestKey(key.provider, external_id, key.operation)
        record_id = _claim(key, print_)
        preloaded = _preload(preload)
        if record_id is None:
            return None, _load(key), preloaded, key
        return record_id, None, preloaded, key
    now = rows.db().ops.adapt_datetimefield_value(timezone.now())
    lateral_params = () if preload is None else preload.params
    if key_sql is None:
        key_params = [key.provider, key.external_id, key.operation]
        params = [*key_params, print_, PENDING, now, *key_params, *lateral_params]
    else:
        key_params = [key.provider, key.operation]
        params = [*key_sql.params, *key_params, print_, PENDING, now, *key_params, *lateral_params]
    with rows.cursor() as cursor:
        cursor.execute(
            _claim_sql(None if key_sql is None else key_sql.sql, None if preload is None else preload.sql), params
        )
        row = cursor.fetchone()
    record_id, existing, rest = row[0], row[1:6], row[6:]
    if key_sql is not None:
        key, rest = RequestKey(key.provider, rest[0], key.operation), rest[1:]
    preloaded = _found(rest) if preload is not None else None
    if record_id is None:
        return None, existing if existing[0] is not None else _load(key), preloaded, key
    return record_id, None, preloaded, key


@lru_cache(maxsize=256)
def _claim_sql(key_sql: str | None, preload_sql: str | None) -> str:
    """The claim statement of `_claim_and_read` for a key expression and a preload (each SQL
    text or None). Built once per pair: a Betsy settle's is some 2,300 characters, and the same
    string object each time also spares psycopg re-hashing it to find its parsed form."""
    columns, lateral = _lateral(preload_sql)
    if key_sql is None:
        head, claim = "", _CLAIM
        source, named, join_id = "(SELECT 1) AS one", "", "%s"
    else:
        head = f"k AS (SELECT ({key_sql})::varchar AS external_id), "
        claim = _CLAIM.replace("VALUES (%s, %s, %s", "SELECT %s, k.external_id, %s").replace("%s)", "%s FROM k", 1)
        source, named, join_id = "k", ", k.external_id", "k.external_id"
    return (
        f"WITH {head}claim AS ({claim}) SELECT (SELECT id FROM claim), r.fingerprint, r.outcome, r.status_code,"
        f" r.response, r.transaction_id{named}{columns} FROM {source} LEFT JOIN wallet_idempotencyrecord r"
        f" ON r.provider = %s AND r.external_id = {join_id} AND r.operation = %s" + lateral
    )


def _lateral(preload_sql: str | None) -> tuple[str, str]:
    """A preload's place in a claim statement: its columns and its join."""
    if preload_sql is None:
        return "", ""
    return ", w.*", f" LEFT JOIN LATERAL ({preload_sql}) w ON true"


def _found(preloaded: tuple) -> tuple | None:
    # A LEFT JOIN that found nothing reads as a row of NULLs: report it as no row.
    return preloaded if any(v is not None for v in preloaded) else None


def _preload(preload: Preload | None) -> tuple | None:
    if preload is None:
        return None
    with rows.cursor() as cursor:
        cursor.execute(preload.sql, list(preload.params))
        return cursor.fetchone()


def _load(key: RequestKey) -> tuple[str, str, int, str, int | None]:
    with rows.cursor() as cursor:
        cursor.execute(_LOAD, [key.provider, key.external_id, key.operation])
        return cursor.fetchone()


def _store(key: RequestKey, outcome: str, status: int, body: str, transaction_id: int | None, error_code: str) -> None:
    # The transaction's last statement: it carries the rows held back by rows.write_behind(),
    # and travels with the COMMIT where it can (rows.execute_and_commit). The record is found
    # by its key, not by the id the claim returned: nothing later in the transaction then needs
    # the claim's answer, which is what lets the bench's pgbench send its claim with its BEGIN
    # in one round trip, as config/postgresql/lean.py does (bench/_capture.py).
    sql, params = rows.carrying(
        "UPDATE wallet_idempotencyrecord SET outcome = %s, status_code = %s, response = %s,"
        " transaction_id = %s, error_code = %s WHERE provider = %s AND external_id = %s AND operation = %s",
        [outcome, status, body, transaction_id, error_code, key.provider, key.external_id, key.operation],
    )
    if rows.execute_and_commit(sql, params):
        return
    with rows.cursor() as cursor:
        cursor.execute(sql, params)


class _Existing(Exception):
    def __init__(self, row: tuple[str, str, int, str, int | None]) -> None:
        self.row = row


def _answer_existing(
    key: RequestKey,
    print_: str,
    row: tuple[str, str, int, str, int | None],
    render_error: Callable[[WalletError], tuple[int, str]],
    request_body: str,
) -> Reply:
    first_print, outcome, status, body, transaction_id = row
    if outcome == TOMBSTONE:
        # The request's own rollback arrived first: it must never apply now.
        status, body = render_error(AlreadyRolledBack(f"{key.external_id} was rolled back before it arrived"))
        return Reply(status=status, body=body, outcome=TOMBSTONE, replayed=True)
    if first_print != print_:
        # A provider retries a refused result forever: staff need one row per distinct request,
        # not one per retry (docs/CALLBACKS.md). Only conflicts pay for this read.
        seen = ConflictRow.objects.filter(
            provider=key.provider, external_id=key.external_id, operation=key.operation, fingerprint=print_
        ).exists()
        if not seen:
            with transaction.atomic():
                conflict = ConflictRow.objects.create(
                    provider=key.provider,
                    external_id=key.external_id,
                    operation=key.operation,
                    first_fingerprint=first_print,
                    fingerprint=print_,
                    request_body=request_body[:65536],
                )
                reviews.review_on_conflict(conflict)
            logger.warning("idempotency conflict %s:%s:%s", key.provider, key.operation, key.external_id)
        status, body = render_error(IdempotencyConflict(f"{key.external_id} was already used for a different request"))
        return Reply(status=status, body=body, outcome="conflict", replayed=True)
    return Reply(status=status, body=body, outcome=outcome, replayed=True, transaction_id=transaction_id)


def execute_once(
    *,
    key: RequestKey,
    content: Mapping[str, Any],
    apply: Callable[..., Outcome],
    render_error: Callable[[WalletError], tuple[int, str]],
    request_body: str = "",
    preload: Preload | None = None,
    key_sql: Preload | None = None,
    check: Callable[[tuple | None, RequestKey], None] | None = None,
) -> Reply:
    """Run `apply` once for `key`; store and return its response, or replay the stored one.

    `apply` runs inside the durable transaction that claimed the key; with `preload` it is
    called with the preloaded row (or None). A WalletError it raises rolls that transaction
    back and is stored as a decline (rendered by `render_error`). Any other exception rolls
    back and propagates: nothing is stored, and the provider's retry will try again.

    `key_sql`: the key's external id is computed by the claim statement (PostgreSQL), from
    this SQL expression (e.g. one that counts rows); `key.external_id` is then unused.
    `check(preloaded row, key)`: called first, before a replay or `apply`, inside the same
    transaction: what it raises (not a WalletError) rolls back and propagates, stores nothing.
    """
    print_ = fingerprint(content)
    try:
        with rows.durable():
            record_id, existing, preloaded, key = _claim_and_read(key, print_, preload, key_sql)
            if check is not None:
                check(preloaded, key)
            if record_id is not None:
                # Subscribers' outbox rows ride on the answer's UPDATE (rows.write_behind).
                with rows.write_behind():
                    result = apply() if preload is None else apply(preloaded)
                    _store(key, APPLIED, result.status, result.body, result.transaction_id, "")
        # A repeat wrote nothing: its transaction commits rather than rolls back, because
        # psycopg forgets every prepared statement of the connection on a ROLLBACK, and
        # repeats are a fifth of a provider's traffic (docs/benchmarks/igpx.md).
        if record_id is None:
            return _answer_existing(key, print_, existing, render_error, request_body)
        return Reply(status=result.status, body=result.body, outcome=APPLIED, transaction_id=result.transaction_id)
    except WalletError as error:
        status, body = render_error(error)
        try:
            with rows.durable():
                record_id = _claim(key, print_)
                if record_id is None:
                    raise _Existing(_load(key))
                _store(key, DECLINED, status, body, None, error.code)
        except _Existing as existing:
            return _answer_existing(key, print_, existing.row, render_error, request_body)
        return Reply(status=status, body=body, outcome=DECLINED)


def claim_tombstone(key: RequestKey) -> bool:
    """Reserve `key` so the request it names can never apply. True if we placed the tombstone,
    False if the request already exists (or is being written: we wait for it to commit).

    Used by rollbacks that may overtake the bet they cancel. Call inside a transaction.
    """
    return _claim(key, TOMBSTONE_FINGERPRINT, TOMBSTONE) is not None


def tombstone_or_find(key: RequestKey, preload: Preload | None = None) -> tuple[IdempotencyRecord | None, tuple | None]:
    """`claim_tombstone` and `find` in one: (None, None) if we placed the tombstone, else the
    record that was there (after its writer committed). Call inside a transaction.

    `preload`: a one-row read sent in the same statement (PostgreSQL), e.g. the target's bet
    with its row lock; its row comes back only when the record was read by that statement too,
    so that both come from one snapshot. Otherwise (None for it) the caller reads it itself.
    """
    if rows.db().vendor != "postgresql":
        return (None, None) if claim_tombstone(key) else (find(key), None)
    now = rows.db().ops.adapt_datetimefield_value(timezone.now())
    key_params = [key.provider, key.external_id, key.operation]
    sql, fields = rows.select_sql(IdempotencyRecord, ("provider", "external_id", "operation"))
    columns, lateral = _lateral(None if preload is None else preload.sql)
    lateral_params = () if preload is None else preload.params
    with rows.cursor() as cursor:
        cursor.execute(
            f"WITH claim AS ({_CLAIM}) SELECT (SELECT id FROM claim), r.*{columns} FROM"
            f" (SELECT 1) AS one LEFT JOIN ({sql}) r ON true" + lateral,
            [*key_params, TOMBSTONE_FINGERPRINT, TOMBSTONE, now, *key_params, *lateral_params],
        )
        row = cursor.fetchone()
    if row[0] is not None:
        return None, None
    if row[1] is None:  # its writer committed after our statement began: read it now
        return find(key), None
    return rows.instance(IdempotencyRecord, row[1 : 1 + len(fields)]), _found(row[1 + len(fields) :])


def find(key: RequestKey) -> IdempotencyRecord | None:
    return rows.get(IdempotencyRecord, provider=key.provider, external_id=key.external_id, operation=key.operation)

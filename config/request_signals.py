"""request_started and request_finished for the direct callback routes (config/wsgi.py).

What the two signals do for a callback is Django's own receivers' work: clear each open database
connection's query log and close the connection if it broke or aged out (`reset_queries`,
`close_old_connections`), close the caches (`close_caches`) and forget the request's urlconf
(`reset_urlconf`). Sending them was 11.7% of an IGPX callback's samples (py-spy, issue #18): the
dispatcher resolves every weak reference, and each receiver finds the connections and caches
through asgiref's context-local storage, about 10,000 instructions a lookup. Done directly, a
callback's CPU fell by 17-18% for both providers (docs/benchmarks/igpx.md, session 15).

So while those are the only receivers, `started()` and `finished()` do that work directly on
the one open connection (`wallet.rows.initialized_db`, the lookup at `rows.db()`'s cost). The
moment anything else is connected (a library, a test, a project receiver), they send the
signals exactly as Django's handler does. The check is made on every request and costs a set of
two or three keys.

Not repeated: `close_caches` when every configured cache's `close()` is BaseCache's no-op (as
the local-memory and Redis caches' are; a cache whose `close()` does something, memcached's,
makes the routes send the signals), and
`reset_urlconf`, since a direct callback never sets a urlconf (Django's handler resets the one
it set at its own request_finished). Several databases, or a Django other than the one whose
receivers this repeats (`DJANGO_READ`), also send the signals.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, reset_queries
from django.dispatch import Signal
from django.dispatch.dispatcher import _make_id
from django.utils.module_loading import import_string

from wallet import rows


def _keys(*receivers: Any) -> frozenset:
    # The lookup keys Signal.connect gives a receiver connected for every sender.
    return frozenset((_make_id(receiver), _make_id(None)) for receiver in receivers)


DJANGOS_STARTED = _keys(reset_queries, close_old_connections)
DJANGOS_FINISHED = _keys(close_old_connections, close_caches, reset_urlconf)


def _caches_close_nothing() -> bool:
    return all(import_string(cache["BACKEND"]).close is BaseCache.close for cache in settings.CACHES.values())


# The receivers' work below is Django 5.2's: on another Django the signals are sent until
# someone rereads django/db/__init__.py, django/core/cache/__init__.py and
# django/core/handlers/base.py and moves this (tests/test_request_signals.py fails meanwhile).
DJANGO_READ = (5, 2)

# Read once, at start-up, as Django's handler reads its settings.
SHORTCUT = django.VERSION[:2] == DJANGO_READ and len(settings.DATABASES) == 1 and _caches_close_nothing()


def _only_djangos(signal: Signal, known: frozenset) -> bool:
    return SHORTCUT and {receiver[0] for receiver in signal.receivers} == known


def started(sender: type, environ: dict) -> None:
    """request_started, sent by `sender` for the WSGI `environ`."""
    if not _only_djangos(signals.request_started, DJANGOS_STARTED):
        signals.request_started.send(sender=sender, environ=environ)
        return
    conn = rows.initialized_db()
    if conn is not None:
        conn.queries_log.clear()
        conn.close_if_unusable_or_obsolete()


def finished(sender: type) -> None:
    """request_finished, sent by `sender`."""
    if not _only_djangos(signals.request_finished, DJANGOS_FINISHED):
        signals.request_finished.send(sender=sender)
        return
    conn = rows.initialized_db()
    if conn is not None:
        conn.close_if_unusable_or_obsolete()

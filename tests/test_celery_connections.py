"""A Celery worker keeps its database connection from one task to the next, as a WSGI worker
does between requests, and drops it after a task that failed (config/celery.py)."""

from __future__ import annotations

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery import _connections_after_task, _connections_before_task, app

pytestmark = pytest.mark.django_db(transaction=True)


class _Request:
    def __init__(self, eager: bool) -> None:
        self.is_eager = eager


class _Task:
    def __init__(self, eager: bool = False) -> None:
        self.request = _Request(eager)


def _run(fixup: DjangoWorkerFixup, task: _Task, state: str) -> None:
    """What a worker does around one task: Celery's fixup and our handlers, in signal order."""
    fixup.on_task_prerun(sender=task)
    _connections_before_task(task=task)
    connection.ensure_connection()  # the task's own queries
    _connections_after_task(task=task, state=state)
    fixup.on_task_postrun(sender=task)


def test_the_connection_outlives_each_task():
    fixup = DjangoWorkerFixup(app)  # installed in every worker; closes all unless DB_REUSE_MAX
    connection.ensure_connection()
    first = connection.connection
    for _ in range(5):
        _run(fixup, _Task(), "SUCCESS")
    assert connection.connection is first


def test_a_failed_task_leaves_no_connection_behind():
    if connection.vendor == "sqlite":
        pytest.skip("Django never closes SQLite's in-memory test database")
    fixup = DjangoWorkerFixup(app)
    _run(fixup, _Task(), "SUCCESS")
    _run(fixup, _Task(), "FAILURE")
    assert connection.connection is None
    _run(fixup, _Task(), "SUCCESS")  # the next task connects afresh
    assert connection.connection is not None


def test_an_eager_task_leaves_its_callers_connection_alone():
    connection.ensure_connection()
    first = connection.connection
    _connections_before_task(task=_Task(eager=True))
    _connections_after_task(task=_Task(eager=True), state="FAILURE")
    assert connection.connection is first

"""Celery app. Without CELERY_BROKER_URL/REDIS_URL tasks run eagerly in-process (demo, tests)."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("touchline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Database connections in the worker, as Django treats them around a request. Celery's Django
# fixup closes every connection before and after each task unless CELERY_DB_REUSE_MAX is set
# (config/settings.py sets it): every Fast Track delivery then opened a new PostgreSQL backend,
# ~3.5 a second under load, whose start-up and catalog reads cost PostgreSQL more CPU than the
# delivery itself (docs/benchmarks/crm.md, session 9). Instead a task starts by dropping a
# connection past CONN_MAX_AGE or one that saw an error (Django's close_old_connections), and a
# task that failed closes its connections outright: it may have been cut off mid-statement,
# which Django cannot always tell from the connection (why Celery itself went back to closing).
# Eager tasks (demo, tests) run inside the caller's request or transaction: left alone.


def _eager(task: Any) -> bool:
    return bool(getattr(getattr(task, "request", None), "is_eager", False))


@task_prerun.connect
def _connections_before_task(task: Any = None, **kwargs: Any) -> None:
    if not _eager(task):
        from django.db import close_old_connections

        close_old_connections()


@task_postrun.connect
def _connections_after_task(task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    if _eager(task):
        return
    from django.db import close_old_connections, connections

    if state == "SUCCESS":
        close_old_connections()
    else:
        for connection in connections.all(initialized_only=True):
            connection.close()

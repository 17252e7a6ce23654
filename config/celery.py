"""Celery app. Without CELERY_BROKER_URL/REDIS_URL tasks run eagerly in-process (demo, tests)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("touchline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""A bad environment value must stop start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("name", "value", "reader"),
    [
        ("DEBUG", "ture", lambda: env.env_bool("DEBUG", False)),
        ("UOF_NODE_ID", "abc", lambda: env.env_int("UOF_NODE_ID", 1)),
        ("REDIS_URL", "localhost:6379", lambda: env.env_url("REDIS_URL", schemes=("redis",))),
        ("FASTTRACK_TRANSPORT", "sqs", lambda: env.env_choice("FASTTRACK_TRANSPORT", "off", ("rest", "off"))),
        ("DATABASE_URL", "mysql://x/y", lambda: env.env_database("DATABASE_URL", "sqlite:///x")),
        ("DATABASE_URL", "postgres://127.0.0.1:5432", lambda: env.env_database("DATABASE_URL", "sqlite:///x")),
        ("TIME_ZONE", "Nowhere/Land", lambda: env.env_time_zone("TIME_ZONE", "UTC")),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, value, reader):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        reader()


def test_good_values(monkeypatch):
    monkeypatch.setenv("DEBUG", "yes")
    assert env.env_bool("DEBUG", False) is True
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/touchline")
    assert env.env_database("DATABASE_URL", "sqlite:///x")["NAME"] == "touchline"
    monkeypatch.setenv("TIME_ZONE", "Europe/Malta")
    assert env.env_time_zone("TIME_ZONE", "UTC") == "Europe/Malta"


def test_startup_fails_loudly_on_bad_value():
    environment = {**os.environ, "DEBUG": "maybe"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DEBUG='maybe' is invalid" in result.stderr


def test_the_suite_ignores_the_shells_redis_and_broker():
    """A developer who exported REDIS_URL to run the product on Redis still gets the suite CI
    runs: eager tasks and a local cache (a queued task would wait for a worker that is not there)."""
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CELERY_TASK_ALWAYS_EAGER, settings.CACHES['default']['BACKEND'], bool(settings.CELERY_BROKER_URL))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    }
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.core.cache.backends.locmem.LocMemCache", "False"]
    assert "REDIS_URL and CELERY_BROKER_URL ignored" in result.stderr

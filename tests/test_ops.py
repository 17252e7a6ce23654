"""Operational endpoints against the real local services (Redis, RabbitMQ)."""

import os
import socket

import pytest
from django.test import override_settings

REDIS = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP = os.environ.get("TOUCHLINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


needs_services = pytest.mark.skipif(
    not (_listening(6379) and _listening(5672)) and not os.environ.get("CI"),
    reason="needs the local Redis and RabbitMQ (CI starts them)",
)


@needs_services
@pytest.mark.django_db
def test_readyz_checks_every_configured_dependency(client):
    with override_settings(REDIS_URL=REDIS, CELERY_BROKER_URL=REDIS, UOF_AMQP_URL=AMQP):
        data = client.get("/readyz").json()
    assert data["status"] == "ok"
    assert set(data["checks"]) == {"database", "cache", "celery_broker", "redis", "uof_amqp"}


@pytest.mark.django_db
def test_readyz_names_the_dependency_that_is_down(client):
    with override_settings(UOF_AMQP_URL="amqp://guest:guest@127.0.0.1:1/"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["uof_amqp"].startswith("error")


def test_celery_is_eager_without_a_broker():
    """Without a broker, tasks run in-process at the call site (the demo needs no worker).
    Checked in a fresh interpreter: other tests reconfigure the shared Celery app."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from config.celery import app; from wallet.tasks import check_ledger_task;"
        "assert app.conf.task_always_eager is True;"
        "assert check_ledger_task.delay().get() is True; print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["DATABASE_URL"] = "sqlite:///:memory:"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]


@needs_services
def test_redis_url_moves_cache_and_channels_to_redis():
    """Settings read REDIS_URL at start-up: check in a fresh interpreter against real Redis."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django, os; django.setup();"
        "from django.conf import settings; from django.core.cache import cache;"
        "cache.set('tl-test', 'v', 5); assert cache.get('tl-test') == 'v';"
        "assert 'Redis' in settings.CHANNEL_LAYERS['default']['BACKEND'];"
        "assert settings.CELERY_TASK_ALWAYS_EAGER is False; print('ok')"
    )
    env = {**os.environ, "REDIS_URL": REDIS, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "ok", result.stderr

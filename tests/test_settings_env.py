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

"""Production mode: no demo secrets, `check --deploy` clean, /metrics closed."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.security import DEMO_SECRETS

ROOT = Path(__file__).resolve().parent.parent
# What an operator sets in production (README's configuration table, docs/SECURITY.md).
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 10 + "-production-secret-of-fifty-or-more-characters-0123456789",
    "IGPX_SECURITY_HASH": "igpx-production-secret",
    "BETSY_PARTNER_SECRET": "betsy-production-secret",
    "ALLOWED_HOSTS": "touchline.example.com",
}
# Anything in the test environment that would change the mode or the answer.
_CLEARED = {"TOUCHLINE_DEMO", "TOUCHLINE_HTTPS", "SECURE_HSTS_SECONDS", *DEMO_SECRETS, *PRODUCTION_ENV}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings"
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_its_secrets_naming_each():
    result = manage("check", DEBUG="false")
    assert result.returncode != 0
    for name in DEMO_SECRETS:
        assert f"{name} is not set" in result.stderr


def test_production_refuses_a_public_demo_secret():
    result = manage("check", **{**PRODUCTION_ENV, "IGPX_SECURITY_HASH": DEMO_SECRETS["IGPX_SECURITY_HASH"]})
    assert result.returncode != 0
    assert "IGPX_SECURITY_HASH is the public demo value" in result.stderr
    assert "SECRET_KEY" not in result.stderr.split("refuses to start:")[1].split(".")[0]


def test_a_demo_install_runs_on_the_demo_secrets():
    result = manage("check", TOUCHLINE_DEMO="true")
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_the_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- /metrics -----------------------------------------------------------------------------------


@pytest.fixture
def production(settings):
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ()
    return settings


@pytest.mark.django_db
def test_metrics_is_closed_in_production_without_a_token_or_allow_list(client, production):
    assert client.get("/metrics").status_code == 401


@pytest.mark.django_db
def test_metrics_with_a_scrape_token(client, production):
    production.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200 and b"touchline_players" in response.content


@pytest.mark.django_db
def test_metrics_with_an_address_allow_list(client, production):
    production.METRICS_ALLOWED_IPS = (ipaddress.ip_network("10.0.0.0/8"),)
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 401


def test_metrics_allow_list_is_validated(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_networks

    monkeypatch.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8, 192.0.2.7")
    assert [str(n) for n in env_networks("METRICS_ALLOWED_IPS")] == ["10.0.0.0/8", "192.0.2.7/32"]
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8, intranet")
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_IPS"):
        env_networks("METRICS_ALLOWED_IPS")

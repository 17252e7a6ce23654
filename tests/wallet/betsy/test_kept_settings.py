"""The Django settings Betsy's route keeps (wallet/betsy/conf.py DJANGO) follow every change a
test makes, and the answer's time is the general path's (timezone.now) whatever USE_TZ says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from wallet.betsy import answers, conf, protocol

NAMES = ("BETSY_PARTNER_SECRET", "SECRET_KEY", "DATA_UPLOAD_MAX_MEMORY_SIZE", "SECURE_PROXY_SSL_HEADER")


@pytest.mark.parametrize("name", NAMES)
def test_kept_settings_are_django_settings_and_follow_changes(name: str) -> None:
    assert getattr(conf.DJANGO, name) == getattr(settings, name)
    assert name in vars(conf.DJANGO)  # kept after the first read
    changed = ("X-Forwarded-Proto", "https") if name == "SECURE_PROXY_SSL_HEADER" else 12345
    with override_settings(**{name: changed}):
        assert getattr(conf.DJANGO, name) == changed
    assert getattr(conf.DJANGO, name) == getattr(settings, name) != changed


def test_the_settings_fixture_is_followed(settings) -> None:  # noqa: ANN001 (pytest-django's wrapper)
    conf.DJANGO.BETSY_PARTNER_SECRET  # noqa: B018 (kept now)
    settings.BETSY_PARTNER_SECRET = "changed-by-the-test"
    assert conf.DJANGO.BETSY_PARTNER_SECRET == "changed-by-the-test"


def test_an_unknown_setting_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        conf.DJANGO.NO_SUCH_SETTING_HERE  # noqa: B018


@pytest.mark.parametrize("use_tz", [True, False])
def test_success_time_is_timezone_now_in_utc(use_tz: bool) -> None:
    with override_settings(USE_TZ=use_tz):
        before = timezone.now()
        body = json.loads(answers.success("S45"))
        after = timezone.now()
    if not use_tz:  # naive local time, as timezone.now() gives it then
        before, after = before.astimezone(UTC), after.astimezone(UTC)
    moment = datetime.fromisoformat(body["transactionTime"].replace("Z", "+00:00"))
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= moment <= after
    assert body == {"transactionId": "S45", "transactionTime": protocol.format_time(moment)}

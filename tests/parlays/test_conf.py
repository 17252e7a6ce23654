"""Settings: defaults the demo runs on, and validation of the environment."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from parlays import conf


def test_defaults():
    settings = conf.ParlaySettings()
    assert settings.health_timeout_s == 30  # the seed: reconnect after 30 s without health_check
    assert settings.valid_for_s >= 6  # valid_until must be at least 5 s ahead
    assert settings.ladder[0].max_risk == Decimal("200")


def test_ladder_parsing():
    rungs = conf.parse_ladder("1000:0.01, 200:0")
    assert [(r.max_risk, r.extra_margin) for r in rungs] == [
        (Decimal("200"), Decimal("0")),
        (Decimal("1000"), Decimal("0.01")),
    ]
    with pytest.raises(ImproperlyConfigured):
        conf.parse_ladder("200:0.02,1000:0")  # bigger sizes must not be cheaper
    with pytest.raises(ImproperlyConfigured):
        conf.parse_ladder("abc")


def test_environment_is_validated(monkeypatch):
    monkeypatch.setenv("PROPHETX_MARGIN_PER_LEG", "0.02")
    monkeypatch.setenv("PROPHETX_DEVIG_METHOD", "shin")
    monkeypatch.setenv("PROPHETX_LADDER", "100:0,500:0.01")
    loaded = conf.load()
    assert (loaded.margin_per_leg, loaded.devig_method, len(loaded.ladder)) == (Decimal("0.02"), "shin", 2)
    monkeypatch.setenv("PROPHETX_MARGIN_PER_LEG", "lots")
    with pytest.raises(ImproperlyConfigured):
        conf.load()


def test_override():
    with conf.override(margin_per_leg=Decimal("0.05")) as changed:
        assert conf.get().margin_per_leg == Decimal("0.05") == changed.margin_per_leg
    assert conf.get().margin_per_leg == conf.load().margin_per_leg

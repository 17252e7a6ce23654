"""bench/_http_report.py's CPU line: PostgreSQL's CPU for the delivery worker is shown as a part
of PostgreSQL's, never added to the machine's cost a second time."""

from __future__ import annotations

import pytest

from bench._http_report import POSTGRES_FOR_DELIVERY, _cpu


def test_postgres_for_the_delivery_is_part_of_postgres_not_added_to_it(capsys):
    result: dict = {}
    _cpu(result, {"server": 1.0, "postgres": 0.8, POSTGRES_FOR_DELIVERY: 0.2, "unattributed": 0.5})
    line = capsys.readouterr().out
    assert "postgres 0.80 ms (0.20 of it for the crm worker)" in line
    assert POSTGRES_FOR_DELIVERY not in line
    assert result["capacity"] == pytest.approx(2000 / 1.8)  # server + postgres; neither part nor unattributed


def test_without_a_delivery_worker_postgres_reads_as_before(capsys):
    result: dict = {}
    _cpu(result, {"server": 1.0, "postgres": 0.8, POSTGRES_FOR_DELIVERY: 0.0})
    line = capsys.readouterr().out
    assert "postgres 0.80 ms;" in line
    assert "of it" not in line
    assert result["capacity"] == pytest.approx(2000 / 1.8)

"""The pairs' ratios (bench/_http_common.py): each closed loop against the pgbench runs either side."""

from __future__ import annotations

import pytest

from bench._http_common import pair_ratios


def test_a_closed_loop_is_measured_against_the_mean_of_the_pgbench_runs_either_side() -> None:
    # The machine slows down steadily: pgbench 1,000 → 800 → 600 requests/s. A server always at
    # 40% of it reads 360 requests/s between the first two runs, 280 between the last two.
    bracketed, before = pair_ratios([360.0, 280.0], [1000.0, 800.0, 600.0])
    assert bracketed == pytest.approx([0.4, 0.4])
    assert before == pytest.approx([0.36, 0.35])  # the run before alone reads the slow-down as the server's


def test_every_closed_loop_needs_a_pgbench_run_after_it() -> None:
    with pytest.raises(ValueError, match="2 closed loops need 3 pgbench runs, not 2"):
        pair_ratios([360.0, 252.0], [1000.0, 800.0])


def test_an_a_b_variant_is_environment_variables_off_or_as_shipped() -> None:
    from bench.wallet_http_ab import variant_env

    base = {"FASTTRACK_TRANSPORT": "off", "X": "1"}
    assert variant_env(base, "FASTTRACK_REST_CONNECTIONS=1+X=2+nice:10") == (
        {**base, "FASTTRACK_REST_CONNECTIONS": "1", "X": "2"},
        10,
    )
    assert variant_env(base, "") == variant_env(base, "off") == (base, 0)
    with pytest.raises(SystemExit, match="expected NAME=VALUE"):
        variant_env(base, "FASTTRACK_REST_CONNECTIONS")

"""experiments/plan.py `SeedPlan.power`: the half-width the planned seeds are expected to reach (t over the seeds from the
recorded paired std), the fewest seeds that reach a target, and the sentence when the claim is out of reach."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from ksac_cli.experiments.plan import SeedPlan, half_width, seeds_for


def test_the_expected_half_width_is_t_over_the_seeds_and_the_seeds_for_a_target_are_the_fewest():
    assert half_width(0.70, 13) == pytest.approx(scipy_stats.t.ppf(0.975, 12) * 0.70 / math.sqrt(13))
    assert half_width(0.70, 13) == pytest.approx(0.42, abs=0.005)  # the committed 13-seed run's ±0.42
    n = seeds_for(0.70, 0.5)
    assert half_width(0.70, n) < 0.5 <= half_width(0.70, n - 1)


def test_the_lines_name_the_budget_and_say_when_the_claim_cannot_be_resolved():
    short = SeedPlan(5, "budget", round_s=60.0, once_s=30.0).power(0.70, 0.6)
    assert len(short) == 2 and "±0.87 points" in short[0]
    assert "±0.5 needs 11 seeds (--budget 12m here)" in short[0]  # (30 + 11 x 60) s = 11.5 min
    assert short[1].startswith("this run cannot resolve the paper's +0.60 points")
    assert len(SeedPlan(13, "--seeds").power(0.70, 0.6)) == 1  # ±0.42 < 0.6: resolvable, one line
    assert "not known" in SeedPlan(13, "--seeds").power(None, 0.6)[0]

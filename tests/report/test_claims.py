"""report/claims.py: each claim's p-value is below 5% exactly when the 95% interval says so; Holm's
adjustment worked out by hand; families judged apart; verdict wording."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from ksac_cli.report.claims import PRIMARY, Line, holm, judge, p_values
from ksac_cli.report.verdicts import text
from ksac_cli.report.twoway import TwoWay


def interval(delta: float, se: float, df: float = 4.0) -> TwoWay:
    half = scipy_stats.t.ppf(0.975, df) * se
    return TwoWay(delta, delta - half, delta + half, se, df, 5, 100, None, None, None, "test")


@pytest.mark.parametrize("delta,se", [(0.3, 0.2), (1.4, 0.5), (-0.2, 0.1), (0.05, 0.3), (-2.0, 0.4)])
def test_each_p_value_agrees_with_the_95_percent_interval(delta, se):
    ci, margin = interval(delta, se), 1.0
    p = p_values(ci, margin)
    assert (p["difference"] < 0.05) == (ci.low > 0 or ci.high < 0)
    assert (p["equivalence"] < 0.05) == (-margin < ci.low and ci.high < margin)
    assert (p["not_worse"] < 0.05) == (ci.low > -margin)
    assert p["difference"] == pytest.approx(2 * scipy_stats.t.sf(abs(delta) / se, ci.df))


def test_p_values_at_the_boundary_of_the_interval():
    ci = interval(1.0, 0.5)
    assert p_values(ci, 1.0)["difference"] == pytest.approx(2 * scipy_stats.t.sf(2.0, 4.0))
    margin = -ci.low  # the lower bound exactly at -margin: p is exactly 5%
    assert p_values(ci, margin)["not_worse"] == pytest.approx(0.05)
    zero = p_values(interval(0.0, 0.0), 1.0)  # a zero-width interval at 0: equivalent, no difference
    assert zero["difference"] == 1.0 and zero["equivalence"] == 0.0


@pytest.mark.parametrize("delta,low,better", [
    (1.0, 0.01, "KSAC"),
    (1.0, 0.0, None),  # an interval touching 0 does not exclude it
    (-1.0, -0.01, "ASPP"),
    (-1.0, 0.0, None),
])
def test_a_difference_is_claimed_exactly_when_the_interval_excludes_0(delta, low, better):
    """The one verdict rule at its boundary: a lone comparison whose 95% interval ends at `low` (the end nearer
    0), with a margin (0.001) too small for equivalence to be claimed."""
    se = abs(delta - low) / scipy_stats.t.ppf(0.975, 4.0)
    line = Line(PRIMARY, "c", "mIoU", "KSAC", "ASPP", interval(delta, se), 0.001)
    judge([line])
    assert line.verdict.better == better and (line.kind == "difference") == (better is not None)
    if better:
        assert text(line.verdict) == f"{better} better"


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.03, 0.5 (m = 4): 0.04, max(0.04, 0.06), max(0.06, 0.06), max(0.06, 0.5)
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.8]) == [1.0, 1.0] and holm([]) == []


def test_holm_within_each_family_and_the_verdict_wording():
    # raw p of the difference about 0.02 each: alone "KSAC better", four of them in one family only "not worse"
    lines = [Line(PRIMARY, f"c{i}", "mIoU", "KSAC", "ASPP", interval(1.0, 0.3), 1.0) for i in range(4)]
    lone = Line("exploratory: object size", "c", "small", "KSAC", "ASPP", interval(1.0, 0.3), 1.0)
    equivalent = Line("exploratory: scale sweep", "e", "m", "KSAC", "ASPP", interval(0.05, 0.05), 0.5)
    not_worse = Line("exploratory: per class", "n", "disc", "KSAC", "ASPP", interval(0.5, 0.3), 1.0)
    worse = Line("exploratory: per class 2", "w", "disc", "KSAC", "ASPP", interval(-3.0, 0.2), 1.0)
    none = Line(PRIMARY, "x", "mIoU", "KSAC", "ASPP", None, 1.0)
    judge([*lines, lone, equivalent, not_worse, worse, none])
    raw = lines[0].p["difference"][0]
    assert 0.01 < raw < 0.05 and lines[0].p["difference"][1] == pytest.approx(min(1, 4 * raw))
    assert lines[0].verdict.family_size == 4 and lone.verdict.family_size == 1
    assert text(lines[0].verdict) == "KSAC not worse by more than 1.00 points (KSAC better before Holm's correction)"
    assert lines[0].p["not_worse"][1] < 0.05
    assert text(lone.verdict) == "KSAC better"
    assert text(equivalent.verdict) == "equivalent within ±0.50 points"
    assert text(not_worse.verdict) == "KSAC not worse by more than 1.00 points"
    assert text(worse.verdict) == "ASPP better"
    assert text(none.verdict) == "no verdict (no interval)"


def test_a_verdict_resting_on_one_seed_names_it_and_the_claim_stands_where_the_interval_puts_it():
    """Four seeds near +1 and one at -3: over all five no difference is detectable; without the outlying seed
    (14) KSAC is better. The paper's +0.6 is inside the wide interval but not resolvable (half-width > 0.6)."""
    from ksac_cli.report.claims import UNRESOLVABLE
    from ksac_cli.report.twoway import seeds_only

    line = Line(PRIMARY, "c", "mIoU", "KSAC", "ASPP", seeds_only([1.0, 1.1, 0.9, 1.05, -3.0]), 0.3, 0.6,
                (10, 11, 12, 13, 14))
    steady = Line(PRIMARY, "d", "mIoU", "KSAC", "ASPP", seeds_only([0.6, 0.5, 0.7, 0.55, 0.65]), 0.3, 0.6,
                  (10, 11, 12, 13, 14))
    judge([line, steady])
    assert text(line.verdict) == "no difference detectable" and line.kind is None
    assert [(seed, text(v)) for seed, v in line.one_seed_out] == [(14, "KSAC better")]
    assert line.claim_stance == UNRESOLVABLE
    assert (line.verdict.claim, line.verdict.p) == ("difference", line.p["difference"][1])
    assert steady.kind == "difference" and steady.one_seed_out == []
    assert steady.claim_stance == "inside the interval" and (steady.verdict.claim, steady.verdict.p) == (
        "difference", steady.p["difference"][1])

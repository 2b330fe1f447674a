"""report/twoway.py: the seeds x images interval. Its variance pieces against the two-way ANOVA's mean
squares worked out here; its coverage by simulation (seed effects, image effects, seed x image noise at
the sizes of a real ablation); the one-seed and no-evidence cases; mIoU from confusion matrices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ksac_cli.report.stats import miou
from ksac_cli.report.twoway import BOTH, IMAGES_ONLY, SEEDS_ONLY, seeds_and_images, seeds_only

TRUTH = 0.7  # the difference every simulated experiment has, in points


def as_values(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed, per-image differences (S, N) as the evidence of two models: (value, 1) pairs (S, N, 2)."""
    first = np.stack([d, np.ones_like(d)], axis=-1)
    second = np.zeros_like(first)
    second[..., 1] = 1
    return first, second


def mean_score(summed: np.ndarray) -> np.ndarray:
    """The score of per-image values stored as (value, 1) pairs (..., 2): their mean over the images."""
    return summed[..., 0] / summed[..., 1]


def experiment(rng, seeds: int, images: int, seed_sd: float, image_sd: float, noise_sd: float) -> np.ndarray:
    """(S, N) per-image differences: TRUTH + a_s + b_i + e_si (points)."""
    return (TRUTH + seed_sd * rng.standard_normal((seeds, 1)) + image_sd * rng.standard_normal((1, images))
            + noise_sd * rng.standard_normal((seeds, images)))


def test_variance_pieces_are_the_two_way_anova_mean_squares():
    d = experiment(np.random.default_rng(3), 4, 12, 0.5, 1.0, 2.0)
    n, N = d.shape
    grand, rows, cols = d.mean(), d.mean(axis=1), d.mean(axis=0)
    ms_seed = N * ((rows - grand) ** 2).sum() / (n - 1)
    ms_image = n * ((cols - grand) ** 2).sum() / (N - 1)
    ms_res = ((d - rows[:, None] - cols[None, :] + grand) ** 2).sum() / ((n - 1) * (N - 1))
    r = seeds_and_images(*as_values(d), mean_score, resamples=40_000)
    assert r.method == BOTH and (r.seeds, r.images) == (n, N) and r.delta == pytest.approx(grand)
    assert r.seed_var == pytest.approx(ms_seed / (n * N), rel=1e-12)  # exact: no resampling in it
    assert r.image_var == pytest.approx(ms_image / (n * N), rel=0.03)  # bootstrap: Monte Carlo error only
    assert r.residual_var == pytest.approx(ms_res / (n * N), rel=0.03)
    v = (ms_seed + ms_image - ms_res) / (n * N)
    assert r.se ** 2 == pytest.approx(v, rel=0.05)
    df = v ** 2 / sum((ms / (n * N)) ** 2 / k for ms, k in ((ms_seed, n - 1), (ms_image, N - 1), (ms_res, (n - 1) * (N - 1))))
    assert r.df == pytest.approx(df, rel=0.1)
    half = scipy_stats.t.ppf(0.975, r.df) * r.se
    assert (r.low, r.high) == pytest.approx((r.delta - half, r.delta + half), rel=1e-12)


# (seeds, images, seed sd, image sd, noise sd): images dominate, as measured on the committed ablation
# (docs/results.md), at two sizes; training randomness dominates
REALISTIC = [(3, 100, 0.3, 5.0, 3.0), (5, 50, 0.3, 4.0, 3.0), (3, 100, 1.0, 1.0, 2.0)]


def coverage(case: tuple, experiments: int, rng) -> tuple[float, float]:
    """Share of the simulated experiments whose 95% interval holds TRUTH: this procedure's, and Student's
    t over the seeds alone."""
    both = seeds = 0
    for _ in range(experiments):
        d = experiment(rng, *case)
        r = seeds_and_images(*as_values(d), mean_score, resamples=300)
        t = seeds_only(d.mean(axis=1))
        both += r.low <= TRUTH <= r.high
        seeds += t.low <= TRUTH <= t.high
    return both / experiments, seeds / experiments


def test_simulated_95_percent_intervals_cover_the_true_difference_93_to_97_percent():
    rng = np.random.default_rng(2026)
    for case in REALISTIC:
        both, seeds = coverage(case, 600, rng)
        assert 0.93 <= both <= 0.97, (case, both)
        if case[3] > case[2] * 10:  # image effects dominate: the t over seeds alone misses often
            assert seeds < 0.85, (case, seeds)
    # residual noise alone: the interval stays valid, conservative (the floors and df >= n - 1 hold its
    # width at least t over the seeds' own 4 df, where the truth has the residual's (n - 1)(N - 1))
    both, _ = coverage((5, 100, 0.0, 0.0, 8.0), 500, rng)
    assert both >= 0.93


def test_one_seed_rests_on_the_images_and_no_evidence_on_the_seeds():
    d = experiment(np.random.default_rng(5), 1, 30, 0.0, 1.0, 1.0)
    r = seeds_and_images(*as_values(d), mean_score)
    assert r.method == IMAGES_ONLY and r.seed_var is None and r.df == 29
    assert r.se ** 2 == pytest.approx(r.image_var) and r.low < r.delta < r.high
    t = seeds_only([1.0, 2.0, 4.0])
    expected = scipy_stats.ttest_1samp([1.0, 2.0, 4.0], 0.0).confidence_interval(0.95)
    assert t.method == SEEDS_ONLY and (t.low, t.high) == pytest.approx((expected.low, expected.high))
    assert seeds_only([1.5]).low is None


def test_miou_from_confusion_matrices_and_identical_models():
    rng = np.random.default_rng(0)
    conf = rng.integers(0, 30, size=(3, 20, 4, 4)) + 200 * np.eye(4, dtype=np.int64)  # (S, N, K, K)
    other = conf.copy()
    other[..., 0, 0] += rng.integers(0, 40, size=(3, 20))  # the second model gets more class-0 pixels right
    r = seeds_and_images(other, conf, miou)
    per_seed = miou(other.sum(axis=1)) - miou(conf.sum(axis=1))
    assert r.delta == pytest.approx(per_seed.mean()) and r.low > 0
    same = seeds_and_images(conf, conf.copy(), miou)
    assert (same.delta, same.low, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="one shape"):
        seeds_and_images(conf, conf[:2], miou)


def ratio_experiments(rng, experiments: int, seeds: int = 13, images: int = 400, seed_sd: float = 0.01,
                      image_sd: float = 0.03):
    """(E, 2, S, N, 2, 2) confusion matrices of two exchangeable models (the true difference is 0): per image
    a foreground of 50-500 pixels and 2000 background ones; a model's recall is 0.8 + its seed's effect
    (seed_sd, the larger part: a seed-dominated design) + per-image noise; 2% of the background taken for
    foreground. The score is mIoU over the two classes, a ratio of sums over the images."""
    fg = rng.integers(50, 500, size=(experiments, 1, 1, images)).astype(float)
    recall = np.clip(0.8 + seed_sd * rng.standard_normal((experiments, 2, seeds, 1))
                     + image_sd * rng.standard_normal((experiments, 2, seeds, images)), 0, 1)
    tp = np.round(recall * fg)
    fp = np.full(tp.shape, 40.0)
    conf = np.stack([np.stack([2000 - fp, fp], -1), np.stack([fg - tp + 0 * tp, tp], -1)], -2)
    return conf


def test_13_seeds_x_400_images_of_a_seed_dominated_miou_ratio_cover_within_monte_carlo_error():
    rng = np.random.default_rng(39)
    experiments = 400
    conf = ratio_experiments(rng, experiments)
    hits = 0
    for e in range(experiments):
        r = seeds_and_images(conf[e, 0], conf[e, 1], miou, resamples=300)
        hits += r.low <= 0.0 <= r.high
        assert r.se ** 2 >= max(r.seed_var, r.image_var) * (1 - 1e-12) and r.df >= 12
    mc = 3 * np.sqrt(0.95 * 0.05 / experiments)  # three Monte Carlo standard errors
    assert abs(hits / experiments - 0.95) <= mc, hits / experiments


def test_skewed_seed_effects_cover_within_monte_carlo_error_of_the_documented_rate():
    """Seed effects from a centred exponential (skew 2, as the committed per-seed differences' +2.1): the
    interval's coverage falls below 95% (docs/results.md: 91%), which is why a verdict is also shown with each
    seed left out."""
    rng = np.random.default_rng(7)
    experiments, seeds, images = 600, 13, 400
    skewed = 0.8 * (rng.exponential(size=(experiments, seeds, 1)) - 1.0)
    d = TRUTH + skewed + 3.0 * rng.standard_normal((experiments, seeds, images))
    hits = sum(bool((r := seeds_and_images(*as_values(d[e]), mean_score, resamples=300)).low <= TRUTH <= r.high)
               for e in range(experiments))
    documented, mc = 0.91, 3 * np.sqrt(0.91 * 0.09 / experiments)
    assert abs(hits / experiments - documented) <= mc, hits / experiments


def test_residual_noise_alone_keeps_df_at_least_the_seeds_and_a_finite_width():
    """5 seeds x 100 images of seed x image noise only: A + B - C near 0 once sent Satterthwaite's df to
    0.002 and the half-width to 1e151. The df is bounded below by n - 1 and V by max(A, B)."""
    rng = np.random.default_rng(11)
    widest = 0.0
    for _ in range(300):
        d = 8.0 * rng.standard_normal((5, 100))
        r = seeds_and_images(*as_values(d), mean_score, resamples=300)
        t = seeds_only(d.mean(axis=1))
        assert r.df >= 4 and r.se ** 2 >= max(r.seed_var, r.image_var) * (1 - 1e-12)
        widest = max(widest, (r.high - r.low) / (t.high - t.low))
    assert widest < 5, widest  # never the ill-conditioned blow-up, at most a few times t's own width


def test_variance_is_floored_where_the_image_piece_falls_below_the_residual():
    """No image effect: B is below C about half the time, and V = A + B - C alone would be narrower than A
    (the committed headline was). With the floors V = A' + B' - C >= A."""
    rng = np.random.default_rng(1)
    below = 0
    for _ in range(40):
        r = seeds_and_images(*as_values(experiment(rng, 13, 400, 0.7, 0.0, 5.0)), mean_score, resamples=300)
        below += r.image_var < r.residual_var
        assert r.se ** 2 >= r.seed_var * (1 - 1e-12) and r.se ** 2 == pytest.approx(
            max(r.seed_var, r.residual_var) + max(r.image_var, r.residual_var) - r.residual_var)
    assert below > 0  # the case the floor is for occurred


def test_each_seed_left_out_is_the_interval_of_the_other_seeds():
    d = experiment(np.random.default_rng(4), 4, 50, 1.0, 1.0, 2.0)
    r = seeds_and_images(*as_values(d), mean_score, resamples=200)
    assert len(r.dropped) == 4
    for i, without in enumerate(r.dropped):
        alone = seeds_and_images(*as_values(np.delete(d, i, axis=0)), mean_score, resamples=200)
        assert (without.delta, without.seeds) == (pytest.approx(alone.delta), 3)
        assert without.seed_var == pytest.approx(alone.seed_var)  # the same draws: only sampling noise differs
    assert len(seeds_only([1.0, 2.0, 3.0]).dropped) == 3 and seeds_only([1.0, 2.0]).dropped == ()

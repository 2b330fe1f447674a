"""The report's plots: error bars are 95% t intervals over seeds and say so; one seed draws none and says
"1 seed"; the training-curves figure never spreads single evaluations over an iteration axis."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from handmade import ablation_row
from scipy import stats as scipy_stats

from ksac_cli.report import ablation_plots


@pytest.fixture
def drawn(monkeypatch):
    """The figures handed to save_figure, instead of PNG files."""
    figs = []
    monkeypatch.setattr(ablation_plots, "save_figure", lambda fig, path: figs.append(fig))
    return figs


def rows(mious: dict, run_dir="/nonexistent") -> pd.DataFrame:
    """{(head, rates): [miou per seed]} -> the ablation rows as report/ablation.load makes them."""
    out = [ablation_row(head, rates, seed, {"miou": m, "iou_small": m / 2, "iou_medium": m, "iou_large": m},
                        f"{run_dir}/{head}-{rates}-{seed}")
           for (head, rates), values in mious.items() for seed, m in enumerate(values)]
    df = pd.DataFrame(out)
    df["model"] = [("ASPP" if h == "aspp" else f"KSAC ({m})") + f" {r}"
                   for h, m, r in zip(df["head"], df["merge"], df["rates"])]
    return df


def errorbar_half_widths(ax) -> list[float]:
    """Half the height of every vertical error bar of `ax` (errorbar() and bar(yerr=...) both add an
    ErrorbarContainer)."""
    halves = []
    for container in ax.containers:
        if getattr(container, "has_yerr", False):
            for segment in container.lines[2][0].get_segments():
                halves.append((segment[1][1] - segment[0][1]) / 2)
    return halves


def test_error_bars_are_95_percent_t_intervals_over_seeds(drawn, tmp_path):
    values = [0.50, 0.54, 0.49]
    df = rows({("aspp", "6,12,18"): values, ("ksac", "6,12,18"): [0.6, 0.61, 0.62]})
    ablation_plots.miou_vs_params(df, tmp_path / "a.png")
    ax = drawn[0].axes[0]
    ci = scipy_stats.ttest_1samp(100 * np.array(values), 0).confidence_interval(0.95)
    assert errorbar_half_widths(ax)[0] == pytest.approx((ci.high - ci.low) / 2)
    assert "95% t-CI over 3 seeds" in ax.get_title()



def test_miou_by_rates_shows_every_seed_with_its_pair_joined(drawn, tmp_path):
    aspp, ksac = [0.50, 0.54, 0.49], [0.51, 0.56, 0.49]
    ablation_plots.miou_by_rates(rows({("aspp", "6,12,18"): aspp, ("ksac", "6,12,18"): ksac}), tmp_path / "b.png")
    ax = drawn[0].axes[0]
    joins = [line for line in ax.lines if len(line.get_xdata()) == 2]  # one line per seed, ASPP to KSAC
    assert [y for line in joins for y in line.get_ydata()] == pytest.approx(
        [v for a, k in zip(aspp, ksac) for v in (100 * a, 100 * k)])
    assert errorbar_half_widths(ax) == [] and not ax.patches  # no bars from 0
    assert ax.get_ylim()[0] > 40  # the axis spans the data: one-point differences show
    assert "3 seeds" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["seed 0", "seed 1", "seed 2"]


def test_thirteen_seeds_draw_thirteen_line_styles(drawn, tmp_path):
    """A budget's default ablation runs 13 seeds: each seed's join keeps a style of its own."""
    mious = list(np.linspace(0.5, 0.6, 13))
    ablation_plots.miou_by_rates(rows({("aspp", "6,12,18"): mious, ("ksac", "6,12,18"): mious}), tmp_path / "c.png")
    joins = [line for line in drawn[0].axes[0].lines if len(line.get_xdata()) == 2]
    styles = {str(line._dash_pattern) for line in joins}  # (offset, dash sequence) as drawn
    assert len(joins) == 13 and len(styles) == 13


def test_one_seed_draws_no_error_bars_and_says_so(drawn, tmp_path):
    df = rows({("aspp", "6,12,18"): [0.5], ("ksac", "6,12,18"): [0.55]})
    ablation_plots.miou_vs_params(df, tmp_path / "a.png")
    ablation_plots.miou_by_rates(df, tmp_path / "b.png")
    ablation_plots.size_bars(df, tmp_path / "c.png")
    for fig in drawn:
        ax = fig.axes[0]
        assert "1 seed" in ax.get_title() and errorbar_half_widths(ax) == []


def write_logs(run_dir, evals: list[int]) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"iteration": i, "loss": 2.0 / i}) + "\n"
                                                   for i in range(1, 201)))
    (run_dir / "eval.jsonl").write_text("".join(json.dumps({"iteration": i, "miou": 0.3 + i / 1000}) + "\n"
                                                for i in evals))


def test_training_curves_with_one_evaluation_per_run_show_final_miou_by_model(drawn, tmp_path):
    df = rows({("aspp", "6,12,18"): [0.5, 0.52], ("ksac", "6,12,18"): [0.55, 0.56]}, run_dir=tmp_path)
    for r in df.itertuples():
        write_logs(tmp_path / f"{r.head}-{r.rates}-{r.seed}", evals=[200])
    assert ablation_plots.training_curves(df, tmp_path / "t.png") is True
    miou_ax = drawn[0].axes[1]
    assert [t.get_text() for t in miou_ax.get_xticklabels()] == ["ASPP 6,12,18", "KSAC (concat) 6,12,18"]
    assert miou_ax.get_xlim() == (-0.5, 1.5)  # categories, not an iteration axis around 200
    assert "one evaluation per run" in miou_ax.get_title()


def test_training_curves_with_several_evaluations_plot_val_miou_over_iterations(drawn, tmp_path):
    df = rows({("aspp", "6,12,18"): [0.5]}, run_dir=tmp_path)
    write_logs(tmp_path / "aspp-6,12,18-0", evals=[100, 200])
    ablation_plots.training_curves(df, tmp_path / "t.png")
    miou_ax = drawn[0].axes[1]
    assert miou_ax.get_xlabel() == "iteration" and list(miou_ax.lines[0].get_xdata()) == [100, 200]
    assert ablation_plots.training_curves(rows({("aspp", "6,12,18"): [0.5]}), tmp_path / "u.png") is False  # no logs


def test_erf_figure_has_colour_bars_a_log_head_row_and_says_how_many_images(monkeypatch, tmp_path):
    from matplotlib.colors import LogNorm

    from ksac_cli.report import analysis

    figs = []
    monkeypatch.setattr(analysis, "save_figure", lambda fig, path: figs.append(fig))
    head = np.full((9, 9), 1e-4)
    head[4, 4], head[[0, 0, 8, 8], [0, 8, 0, 8]] = 1.0, 0.01  # the centre cell and four atrous taps
    np.savez(tmp_path / "maps.npz", **{"r0/model": np.ones((9, 9)), "r0/head": head})
    erf = pd.DataFrame([{"run": "r0", "model": "ASPP 6", "part": p, "images": 8} for p in ("model", "head")])
    assert analysis.erf_plot(erf, tmp_path / "maps.npz", tmp_path / "erf.png")
    fig = figs[0]
    panels = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == len(panels) + 2  # a colour bar per row
    shown = panels[1].images[0]
    assert isinstance(shown.norm, LogNorm) and shown.norm(0.01) > 0.3  # the taps are not lost beside the centre
    assert "8 val images" in fig._suptitle.get_text()


def test_the_forest_plot_colours_each_line_by_its_verdicts_kind_not_its_words(drawn, tmp_path):
    """Each interval is drawn in the colour of its verdict's kind; the sides are named so that no wording
    ("better", "equivalent") could be read back from them."""
    from ksac_cli.report.claims import PRIMARY, Line, Verdict
    from ksac_cli.report.twoway import seeds_only

    kinds = ["difference", "equivalence", "not_worse", None]
    lines = []
    for i, kind in enumerate(kinds):
        line = Line(PRIMARY, f"c{i}", "mIoU", "equivalent", "better", seeds_only([0.1 * i, 0.2, 0.3]), 0.5)
        line.verdict = Verdict(kind, line.first, line.second, 0.2, 0.5, kind or "difference", 0.01, 4)
        lines.append(line)
    assert ablation_plots.forest_plot(lines, tmp_path / "forest.png")
    ax = drawn[0].axes[0]
    # the interval of each line is the 2-point line at its row's height (y = 1, 2, ...; row 0 is the family)
    drawn_colours = {round(ln.get_ydata()[0]): ln.get_color() for ln in ax.get_lines()
                     if len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1] and ln.get_linewidth() == 2}
    assert [drawn_colours[y] for y in range(1, 5)] == [ablation_plots.VERDICT_COLOURS[k][0] for k in kinds]
    assert len(set(drawn_colours.values())) == 4

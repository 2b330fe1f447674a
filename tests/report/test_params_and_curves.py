"""The report's numbers against independent sources: the KSAC-vs-ASPP reduction table (report/params.py)
against parameters counted here (p.numel() of the built models, and a closed form of each head), and
the training-curves figure (report/ablation_plots.py) against the logs of two real `ksac train` runs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from handmade import ablation_row

from ksac_cli import io
from ksac_cli.config import ModelConfig, ProfileConfig, from_dict
from ksac_cli.errors import KsacWarning
from ksac_cli.experiments.rows import COLUMNS
from ksac_cli.models import build_model
from ksac_cli.report import ablation, ablation_plots
from ksac_cli.report.params import reduction_table

C_IN = 320  # channels of MobileNetV2's last inverted-residual block (Sandler et al. 2018): the head's input
C = 256  # head channels (DeepLab's, the ModelConfig default)
K = 21  # classes
RATE_SETS = ((6, 12, 18), (6, 12, 18, 24))


def bn(channels: int) -> int:
    return 2 * channels  # weight and bias (running statistics are buffers)


def head_params(head: str, merge: str, rates: tuple[int, ...]) -> int:
    """Parameters of the head, from models/heads/{aspp,ksac}.py and models/layers.py (convolutions have no
    bias; each is followed by a BN):
      1x1 branch     C_in*C + BN(C)
      atrous         ASPP: per rate its own 3x3 kernel, R * (9*C_in*C + BN(C));
                     KSAC: ONE 3x3 kernel 9*C_in*C, and per rate its own BN: R * BN(C)
      image pooling  C_in*C + BN(C)
      projection     1x1 from the concatenation: (2 + R) * C slices for ASPP and KSAC concat, 3 * C for
                     KSAC sum (the rates summed into one slice), to C: n*C*C + BN(C)."""
    r = len(rates)
    pointwise = pooling = C_IN * C + bn(C)
    if head == "aspp":
        atrous, slices = r * (9 * C_IN * C + bn(C)), 2 + r
    else:
        atrous, slices = 9 * C_IN * C + r * bn(C), (2 + r if merge == "concat" else 3)
    return pointwise + atrous + pooling + slices * C * C + bn(C)


def numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def profiled(tmp_path_factory) -> pd.DataFrame:
    """`ksac profile`'s rows (workflows.profile, no timing) of MobileNetV2 DeepLabV3 as in
    recipes/paper_params.yaml, read back from its CSV the way `ksac report` reads it. The input is small
    (65 px: MACs are counted by tracing a forward pass); parameter counts do not depend on it."""
    from ksac_cli.workflows.profile import profile

    out = tmp_path_factory.mktemp("profile") / "params.csv"
    rates = [list(r) for r in RATE_SETS]
    cfg = from_dict(ProfileConfig, {
        "size": 65, "num_classes": K, "latency": False, "out": str(out),
        "grids": [{"backbone": ["mobilenetv2"], "decoder": [False], "head": ["aspp", "ksac"],
                   "merge": ["concat", "sum"], "ksac_impl": ["taps"], "rates": rates, "output_stride": [16]}]},
        "profile")
    with warnings.catch_warnings():  # at 65 px the rates exceed the feature map: a warning, not our subject
        warnings.simplefilter("ignore", KsacWarning)
        profile(cfg)
    return pd.read_csv(out, dtype={"rates": str})


def test_closed_form_head_counts_match_the_built_modules():
    for rates in RATE_SETS:
        models = {(head, merge): build_model(ModelConfig(backbone="mobilenetv2", head=head, merge=merge,
                                                         rates=rates, decoder=False, num_classes=K))
                  for head, merge in (("aspp", "concat"), ("ksac", "concat"), ("ksac", "sum"))}
        for (head, merge), model in models.items():
            assert model.head.pointwise[0].weight.shape[1] == C_IN
            assert numel(model.head) == head_params(head, merge, rates), (head, merge, rates)
            # DeepLabV3: the rest is the backbone and a 1x1 classifier with bias
            assert numel(model) == numel(model.backbone) + head_params(head, merge, rates) + C * K + K
        r = len(rates)  # what sharing saves: R - 1 kernels of 9*C_in*C (and, with sum, R - 1 projection slices)
        aspp = numel(models["aspp", "concat"])
        assert aspp - numel(models["ksac", "concat"]) == (r - 1) * 9 * C_IN * C
        assert aspp - numel(models["ksac", "sum"]) == (r - 1) * (9 * C_IN * C + C * C)


def test_reduction_table_numbers_equal_independent_counts(profiled):
    table = reduction_table(profiled)
    # one line per KSAC model: per rate set, concat and sum
    assert sorted(zip(table["rates"], table["KSAC merge"])) == sorted(
        (",".join(map(str, r)), m) for r in RATE_SETS for m in ("concat", "sum"))
    for row in table.itertuples(index=False):
        rates = tuple(int(x) for x in row.rates.split(","))
        merge = row[table.columns.get_loc("KSAC merge")]
        aspp_model = build_model(ModelConfig(backbone="mobilenetv2", head="aspp", rates=rates, decoder=False,
                                             num_classes=K))
        ksac_model = build_model(ModelConfig(backbone="mobilenetv2", head="ksac", merge=merge, rates=rates,
                                             decoder=False, num_classes=K))
        aspp, ksac = numel(aspp_model), numel(ksac_model)
        head_a, head_k = head_params("aspp", "concat", rates), head_params("ksac", merge, rates)
        assert (numel(aspp_model.head), numel(ksac_model.head)) == (head_a, head_k)
        got = dict(zip(table.columns, row))
        assert (got["backbone"], got["decoder"], got["OS"]) == ("mobilenetv2", "V3", 16)
        assert got["ASPP params (M)"] == pytest.approx(aspp / 1e6, abs=5e-7)
        assert got["KSAC params (M)"] == pytest.approx(ksac / 1e6, abs=5e-7)
        assert got["saved (M)"] == pytest.approx((head_a - head_k) / 1e6, abs=5e-7)  # only the head differs
        assert got["saved (%)"] == pytest.approx(100 * (aspp - ksac) / aspp, rel=1e-9)
        assert got["head saved (%)"] == pytest.approx(100 * (head_a - head_k) / head_a, rel=1e-9)


# ---- training curves from real runs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(pair) -> list[tuple[dict, Path]]:
    """Two real `ksac train` runs (ASPP and KSAC, seed 0; 4 iterations, evaluated at 2 and 4; conftest.py:
    pair) as rows of ablation.csv: [(row, run directory)]."""
    return [(ablation_row(head, "1,2", 0, {"miou": 0.5, "iou_small": 0.1, "iou_medium": 0.2, "iou_large": 0.3},
                          pair[head][1]), pair[head][1]) for head in ("aspp", "ksac")]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_training_curves_plot_what_the_runs_logged(two_runs, tmp_path, monkeypatch):
    csv = tmp_path / "ablation.csv"
    io.write_csv(csv, [row for row, _ in two_runs], COLUMNS)
    df = ablation.load(csv)  # as `ksac report` reads it (report/document.py)
    drawn = []
    save = ablation_plots.save_figure
    monkeypatch.setattr(ablation_plots, "save_figure", lambda fig, path: (drawn.append(fig), save(fig, path)))
    assert ablation_plots.training_curves(df, tmp_path / "curves.png") is True
    assert (tmp_path / "curves.png").stat().st_size > 0 and len(drawn) == 1
    loss_ax, miou_ax = drawn[0].axes

    names = ["ASPP 1,2 s0", "KSAC (concat) 1,2 s0"]
    assert [line.get_label() for line in loss_ax.lines] == names  # one line per run, labelled by the run
    legend = [t.get_text() for t in drawn[0].legends[0].get_texts()]  # below the axes: it covers no data
    assert legend == ["ASPP 1,2", "KSAC (concat) 1,2", "seed 0"] and loss_ax.get_legend() is None
    assert [line.get_label() for line in miou_ax.lines] == names
    assert miou_ax.get_xlabel() == "iteration"  # evaluated twice: mIoU over iterations
    logged = []
    for (_, run_dir), loss_line, miou_line in zip(two_runs, loss_ax.lines, miou_ax.lines, strict=True):
        metrics, evals = jsonl(run_dir / "metrics.jsonl"), jsonl(run_dir / "eval.jsonl")
        assert [m["iteration"] for m in metrics] == [1, 2, 3, 4] and [e["iteration"] for e in evals] == [2, 4]
        assert list(loss_line.get_xdata()) == [1, 2, 3, 4]
        assert list(loss_line.get_ydata()) == [m["loss"] for m in metrics]
        assert list(miou_line.get_xdata()) == [2, 4]
        assert list(miou_line.get_ydata()) == pytest.approx([100 * e["miou"] for e in evals], rel=1e-12)
        assert miou_line.get_color() == loss_line.get_color()  # a run's two curves share its colour
        logged.append([m["loss"] for m in metrics])
    assert logged[0] != logged[1]  # the runs differ, so a swapped or repeated run would show
    assert loss_ax.lines[0].get_color() != loss_ax.lines[1].get_color()

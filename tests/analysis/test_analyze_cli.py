"""`ksac analyze` as a real subprocess on real checkpoints, and its report section from its files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from tiny_run import ksac

from ksac_cli.report import analysis


@pytest.fixture(scope="module")
def runs(pair) -> dict[str, Path]:
    """Two tiny trained runs (ASPP and KSAC; conftest.py: pair), each with its final evaluation."""
    return {head: run for head, (_, run) in pair.items()}


@pytest.fixture(scope="module")
def analysed(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("analysis")
    proc = ksac("analyze", *[a for r in runs.values() for a in ("--checkpoint", str(r / "checkpoints/last.pt"))],
                "--scales", "0.5,1.0,1.5", "--erf-images", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_scale_one_is_ksac_eval(runs, analysed):
    scales = rows(analysed / "analysis_scales.csv")
    assert [(r["run"], float(r["scale"])) for r in scales] == [(h, s) for h in runs for s in (0.5, 1.0, 1.5)]
    for head, run in runs.items():
        final = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
        at_one = next(r for r in scales if r["run"] == head and float(r["scale"]) == 1.0)
        assert float(at_one["miou"]) == final["miou"]  # the same evaluation, to the last bit
        assert {int(r["images"]) for r in scales if r["run"] == head} == {4}
        others = [float(r["miou"]) for r in scales if r["run"] == head and float(r["scale"]) != 1.0]
        assert all(m != final["miou"] for m in others)  # the factor really rescaled the inputs

    branches = rows(analysed / "analysis_branches.csv")
    assert [(r["run"], int(r["rate"])) for r in branches] == [(h, rate) for h in runs for rate in (1, 2)]
    for r in branches:
        assert float(r["drop"]) == pytest.approx(float(r["miou_all"]) - float(r["miou"]), abs=1e-12)

    erf = rows(analysed / "analysis_erf.csv")
    assert [(r["run"], r["part"]) for r in erf] == [(h, p) for h in runs for p in ("model", "head")]
    with np.load(analysed / "analysis_erf.npz") as maps:
        assert maps["ksac/model"].shape == (64, 64)  # the training crop
        assert maps["ksac/head"].shape == (4, 4)  # its feature map at output stride 16
        assert maps["aspp/model"].sum() > 0


def test_a_rerun_skips_the_models_done_and_a_changed_setting_recomputes(runs, analysed, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(analysed, out)
    checkpoints = [a for r in runs.values() for a in ("--checkpoint", str(r / "checkpoints/last.pt"))]
    same = ksac("analyze", *checkpoints, "--scales", "0.5,1.0,1.5", "--erf-images", "2", "--out", str(out))
    assert same.returncode == 0, same.stderr[-2000:]
    assert "skipped 2 of 2 models: already analysed with the same checkpoint and settings" in same.stdout
    assert "[1/2]" not in same.stdout and "[2/2]" not in same.stdout
    for name in ("analysis_scales.csv", "analysis_branches.csv", "analysis_erf.csv"):
        assert (out / name).read_bytes() == (analysed / name).read_bytes()
    with np.load(out / "analysis_erf.npz") as again, np.load(analysed / "analysis_erf.npz") as first:
        assert again.files == first.files and all(np.array_equal(again[k], first[k]) for k in first.files)

    changed = ksac("analyze", *checkpoints, "--scales", "1.0", "--erf-images", "0", "--out", str(out))
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert "skipped" not in changed.stdout and "[1/2]" in changed.stdout and "[2/2]" in changed.stdout
    assert [(r["run"], float(r["scale"])) for r in rows(out / "analysis_scales.csv")] == [(h, 1.0) for h in runs]
    assert rows(out / "analysis_erf.csv") == []
    with np.load(out / "analysis_erf.npz") as maps:
        assert maps.files == []


def test_report_adds_the_analysis_section(analysed, tmp_path):
    proc = ksac("report", "--results", str(analysed), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (tmp_path / "report.md").read_text()
    for title in ("(e) Scale sweep", "(f) Per-rate contribution", "(g) Effective receptive field"):
        assert title in text
    assert (tmp_path / "analysis_scales.png").stat().st_size > 0 and (tmp_path / "analysis_erf.png").stat().st_size > 0
    # one seed per model: a difference without an interval; the sweep never claims a verdict
    diff = pd.read_csv(tmp_path / "report_analysis_scales_diff.csv", keep_default_na=False)
    assert set(diff["95% CI over seeds only (t)"]) == {"-"} and "verdict" not in diff


def test_robustness_and_differences_by_hand():
    """Three seeds of an ASPP and a KSAC model at factors 0.5, 1, 2: the numbers worked out by hand."""
    aspp = {0: (0.30, 0.50, 0.40), 1: (0.28, 0.52, 0.38), 2: (0.33, 0.47, 0.41)}
    ksac = {0: (0.36, 0.51, 0.46), 1: (0.30, 0.50, 0.45), 2: (0.40, 0.49, 0.44)}
    records = [{"run": f"{h}{s}", "head": h, "merge": "concat" if h == "ksac" else "", "rates": "6,12,18", "seed": s,
                "iteration": 10, "scale": f, "miou": m}
               for h, table in (("aspp", aspp), ("ksac", ksac)) for s, values in table.items()
               for f, m in zip((0.5, 1.0, 2.0), values)]
    df = pd.DataFrame(records)
    df["model"] = [analysis.label(r) for r in df.itertuples()]
    per_run = analysis.robustness(df).set_index("run")
    # mean over the range: trapezoids (0.5 wide, then 1 wide) divided by the range 1.5
    a0 = 100 * ((0.30 + 0.50) / 2 * 0.5 + (0.50 + 0.40) / 2 * 1.0) / 1.5
    assert per_run.loc["aspp0", "mean_over_range"] == pytest.approx(a0)
    assert per_run.loc["ksac2", "change_at_0.5"] == pytest.approx(100 * (0.40 - 0.49))
    assert per_run.loc["ksac1", "change_at_2"] == pytest.approx(100 * (0.45 - 0.50))
    lines = analysis.ksac_minus_aspp(per_run.reset_index())
    diffs = analysis.diff_table(lines)
    row = diffs[diffs["metric"] == "change at 2"].iloc[0]
    d = [100 * ((ksac[s][2] - ksac[s][1]) - (aspp[s][2] - aspp[s][1])) for s in range(3)]
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert row["KSAC - ASPP (points)"] == pytest.approx(np.mean(d))
    assert row["95% CI over seeds only (t)"] == f"[{ci.low:+.2f}, {ci.high:+.2f}]"
    assert ci.low < 0 < ci.high  # differences 5, 9, 1 points: their interval holds 0
    assert "verdict" not in diffs  # over the seeds only (no per-image evidence): no verdict made from it
    assert any("change at 2" in line.metric for line in lines)


@pytest.mark.parametrize("args,fragment", [
    (["--checkpoint", "{tmp}/missing.pt"], "checkpoint {tmp}/missing.pt does not exist"),
    (["--checkpoint", "{tmp}/other.pt"], "lacks the key(s) model, iteration, config"),
    (["--checkpoint", "{tmp}/other.pt", "--scales", "0.5,0"], "--scales: '0.5,0' holds a factor <= 0"),
    (["--checkpoint", "{tmp}/other.pt", "--scales", "-1,1"], "holds a factor <= 0"),
    (["--ablation", "{tmp}"], "no <cell>/checkpoints/last.pt"),
    ([], "give --checkpoint (repeatable) or --ablation"),
], ids=["missing", "other-toolkit", "zero-scale", "negative-scale", "empty-ablation", "nothing"])
def test_bad_input_is_one_line_and_exit_2(args, fragment, tmp_path):
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}, "epoch": 3}, tmp_path / "other.pt")  # mmseg-like
    proc = ksac("analyze", *[a.format(tmp=tmp_path) for a in args], "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert fragment.format(tmp=tmp_path) in lines[0]
    assert not (tmp_path / "out").exists()

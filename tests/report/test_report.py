"""`ksac report` on a hand-made ablation.csv: every table and plot, numbers equal to the CSV's."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tiny_run import ksac as ksac_command

from ksac_cli import io
from ksac_cli.experiments.rows import COLUMNS

CLASSES = ["background", "disc", "square"]


def row(head, rates, seed, miou, small, merge="concat", params=5_000_000):
    return {
        "grid": "g", "cell": f"{head}-{rates}-{seed}", "seed": seed, "config_hash": "abc", "status": "ok",
        "backbone": "mobilenetv2_050", "head": head, "merge": merge, "rates": rates, "output_stride": 8,
        "decoder": True, "dataset": "synthetic", "iterations": 10, "crop_size": 64, "batch_size": 2,
        "params_total": params, "params_head": params // 2, "gmacs_total": 1.5, "gmacs_head": 0.5,
        "miou": miou, "pixel_accuracy": 0.9, "iou_small": small, "iou_medium": 0.5, "iou_large": 0.7,
        "per_class_iou": json.dumps(dict(zip(CLASSES, [0.9, miou, 0.3]))), "best_miou": miou,
        "best_iteration": 10, "train_seconds": 12.0, "images_per_s": 3.0, "run_dir": "/nonexistent",
        "error": "", "git_commit": "x", "toolkit_version": "0.1.0", "torch_version": "2", "device": "cpu",
        "date": "2026-11-24",
    }


@pytest.fixture
def results(tmp_path):
    rows = [row("aspp", "6,12,18", 0, 0.50, 0.20, params=6_000_000), row("aspp", "6,12,18", 1, 0.54, 0.22, params=6_000_000),
            row("ksac", "6,12,18", 0, 0.53, 0.30), row("ksac", "6,12,18", 1, 0.55, 0.26),
            row("aspp", "6,12,18,24", 0, 0.48, 0.10, params=7_000_000), row("ksac", "6,12,18,24", 0, 0.56, 0.40)]
    failed = row("ksac", "6,12", 0, None, None)
    failed.update(status="failed", error="boom")
    io.write_csv(tmp_path / "ablation.csv", rows + [failed], COLUMNS)
    return tmp_path


def test_report_writes_every_table_and_plot_with_the_csv_numbers(results, tmp_path):
    out = tmp_path / "out"
    proc = ksac_command("report", "--results", str(results), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for slug in ("params", "rates", "paired", "per_class", "size"):
        assert (out / f"report_{slug}.csv").is_file() and (out / f"report_{slug}.tex").is_file(), slug
        assert r"\toprule" in (out / f"report_{slug}.tex").read_text()
    for png in ("miou_vs_params.png", "miou_by_rates.png", "per_class_iou.png", "size_iou.png"):
        assert (out / png).stat().st_size > 1000, png
        assert f"]({png})" in (out / "report.md").read_text()

    rates = pd.read_csv(out / "report_rates.csv")
    by_model = dict(zip(rates["model"], rates["mIoU (%)"]))
    assert by_model["ASPP 6,12,18"] == "52.00 ± 2.83"  # mean and sample std of 50 and 54
    assert by_model["KSAC (concat) 6,12,18"] == "54.00 ± 1.41"
    assert by_model["KSAC (concat) 6,12,18,24"] == "56.00"  # one seed: no spread
    assert "KSAC (concat) 6,12" not in set(rates["model"])  # the failed cell is not in the tables
    assert len(rates) == 4

    paired = pd.read_csv(out / "report_paired.csv", dtype={"rates": str})
    deltas = {(r["rates"], r["seed"]): r["KSAC - ASPP (points)"] for _, r in paired.iterrows()}
    assert deltas[("6,12,18", 0)] == pytest.approx(3.0) and deltas[("6,12,18", 1)] == pytest.approx(1.0)
    assert deltas[("6,12,18,24", 0)] == pytest.approx(8.0)

    size = pd.read_csv(out / "report_size.csv")
    ksac = size[size["model"] == "KSAC (concat) 6,12,18"].iloc[0]
    assert ksac["small (%)"] == pytest.approx(28.0) and ksac["small vs ASPP"] == pytest.approx(7.0)

    params = pd.read_csv(out / "report_params.csv")
    k = params[params["model"] == "KSAC (concat) 6,12,18"].iloc[0]
    assert k["saved vs ASPP (M)"] == pytest.approx(1.0) and k["saved vs ASPP (%)"] == pytest.approx(100 / 6)

    per_class = pd.read_csv(out / "report_per_class.csv")
    assert per_class[per_class["model"] == "ASPP 6,12,18"]["disc"].iloc[0] == pytest.approx(52.0)
    md = (out / "report.md").read_text()
    assert "no profile.csv" in md and "ksac profile" in md  # missing inputs are reported, not fatal


def test_report_on_an_empty_folder_says_what_is_missing(tmp_path):
    proc = ksac_command("report", "--results", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "no ablation.csv" in proc.stderr and "ksac ablate" in proc.stderr
    assert (tmp_path / "report.md").is_file()

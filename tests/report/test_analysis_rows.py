"""`ksac report` uses only the `ksac analyze` rows of the runs in ablation.csv (their config_hash and date),
and says how many it left out and why; an analysis of an earlier run of the same config (the same hash,
another date: trained by other code, say) is left out; one written before rows carried config_hash is left
out whole."""

from __future__ import annotations

import pandas as pd
from handmade import ablation_row

from ksac_cli import io
from ksac_cli.experiments.rows import COLUMNS
from ksac_cli.report.analysis import SCALE_COLUMNS
from ksac_cli.report.document import make_report

METRICS = {"miou": 0.5, "iou_small": 0.2, "iou_medium": 0.5, "iou_large": 0.7}
DATE = "2026-11-24"  # the date of every handmade ablation row


def scale_rows(config_hash: dict, run_date: dict | None = None) -> list[dict]:
    """Scale-sweep rows of 3 seeds x 2 heads; seed 2's runs (another config or run) have KSAC far ahead.
    `run_date`: the date of each seed's run (default: the ablation rows' own)."""
    run_date = run_date or {0: DATE, 1: DATE, 2: DATE}
    rows = []
    for seed in range(3):
        for head in ("aspp", "ksac"):
            for scale, base in ((0.5, 0.30), (1.0, 0.50), (2.0, 0.40)):
                lift = 0.3 if seed == 2 and head == "ksac" else 0.01 * seed * (head == "ksac")
                rows.append({"run": f"{head}-s{seed}", "head": head, "merge": "concat" if head == "ksac" else "",
                             "rates": "6,12,18", "seed": seed, "iteration": 10,
                             "config_hash": config_hash[seed], "run_date": run_date[seed], "amp": "off",
                             "scale": scale,
                             "miou": base + lift + (0.02 * seed if scale == 0.5 else 0), "iou_small": 0.1,
                             "iou_medium": 0.2, "iou_large": 0.3, "images": 5})
    return rows


def write(folder, analysis_rows, columns=SCALE_COLUMNS):
    rows = [ablation_row(h, "6,12,18", s, METRICS, folder / "gone") for h in ("aspp", "ksac") for s in range(2)]
    io.write_csv(folder / "ablation.csv", rows, COLUMNS)  # config_hash "abc", seeds 0 and 1
    io.write_csv(folder / "analysis_scales.csv", [{c: r[c] for c in columns} for r in analysis_rows], columns)


def test_only_the_ablations_runs_are_analysed_and_the_rest_is_counted(tmp_path):
    write(tmp_path, scale_rows({0: "abc", 1: "abc", 2: "old"}))
    make_report(tmp_path, tmp_path / "out")
    diff = pd.read_csv(tmp_path / "out" / "report_analysis_scales_diff.csv")
    assert set(diff["seeds"]) == {2}  # seed 2 (another config_hash) is not in the comparison
    assert len(diff) == 3 and "95% CI over seeds only (t)" in diff and "verdict" not in diff  # no verdict from it
    verdicts = pd.read_csv(tmp_path / "out" / "report_verdicts.csv")
    assert not verdicts["family"].str.contains("scale sweep").any()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "2 of 6 analysed runs left out: 2 whose config_hash is not among ablation.csv's rows" in md


def test_an_earlier_run_of_the_same_config_is_left_out_and_said_so(tmp_path):
    write(tmp_path, scale_rows({0: "abc", 1: "abc", 2: "abc"}, {0: DATE, 1: DATE, 2: "2026-11-01"}))
    make_report(tmp_path, tmp_path / "out")
    diff = pd.read_csv(tmp_path / "out" / "report_analysis_scales_diff.csv")
    assert set(diff["seeds"]) == {2}  # seed 2's analysis is of another run with the same config_hash
    md = (tmp_path / "out" / "report.md").read_text()
    assert "2 of 6 analysed runs left out: 2 of an earlier run of the same config" in md


def test_rows_without_a_run_date_are_matched_by_their_config_hash(tmp_path):
    no_date = [c for c in SCALE_COLUMNS if c != "run_date"]
    write(tmp_path, scale_rows({0: "abc", 1: "abc", 2: "old"}), no_date)
    make_report(tmp_path, tmp_path / "out")
    assert set(pd.read_csv(tmp_path / "out" / "report_analysis_scales_diff.csv")["seeds"]) == {2}


def test_an_analysis_without_config_hash_is_left_out_and_said_so(tmp_path):
    old = [c for c in SCALE_COLUMNS if c not in ("config_hash", "amp")]
    write(tmp_path, scale_rows({0: "abc", 1: "abc", 2: "abc"}), old)
    make_report(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / "report_analysis_scales_diff.csv").exists()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "all 6 analysed runs left out: analysis_scales.csv has no config_hash column" in md
    assert "rerun `ksac analyze`" in md

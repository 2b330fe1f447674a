"""Titles and columns name the heads compared, from the head registry (ksac_cli/heads.py): 'KSAC - ASPP' for
KSAC, the candidate's own display name for any other head (here a user's `module:Class`)."""

from __future__ import annotations

import pandas as pd
import pytest
from handmade import ablation_row

from ksac_cli import io
from ksac_cli.experiments.rows import COLUMNS
from ksac_cli.report.document import answer, make_report
from ksac_cli.report.params import reduction_table

USER = "torchvision.models.segmentation.deeplabv3:ASPP"  # named "deeplabv3:ASPP" by heads.spec


def write_rows(folder, candidate: str):
    rows = [ablation_row(head, "6,12,18", seed, {"miou": miou, "iou_small": 0.2, "iou_medium": 0.5, "iou_large": 0.7},
                         "", merge="concat" if head == "ksac" else "-")
            for seed in range(3) for head, miou in (("aspp", 0.50 + seed / 100), (candidate, 0.52 + seed / 90))]
    io.write_csv(folder / "ablation.csv", rows, COLUMNS)
    return folder / "ablation.csv"


@pytest.mark.parametrize("candidate,named", [("ksac", "KSAC"), (USER, "deeplabv3:ASPP")])
def test_the_summary_and_the_comparison_tables_name_the_candidate(tmp_path, candidate, named):
    title, _ = answer(write_rows(tmp_path, candidate), "g")
    assert title.startswith(f"{named} - ASPP on mIoU after 10 training iterations")
    report = make_report(tmp_path, tmp_path / "out")
    assert {f"{named} vs ASPP: mIoU", f"(b') {named} minus ASPP, paired by seed"} <= set(report.tables)
    paired = report.tables[f"(b') {named} minus ASPP, paired by seed"]
    assert f"{named} - ASPP (points)" in paired and f"{named} mIoU (%)" in paired
    assert f"{named} (%)" in report.tables[f"{named} vs ASPP: mIoU"]


@pytest.mark.parametrize("candidate,named", [("ksac", "KSAC"), (USER, "deeplabv3:ASPP")])
def test_the_reduction_table_names_the_candidate(candidate, named):
    rows = pd.DataFrame([{"head": head, "merge": "concat", "backbone": "b", "decoder": True, "output_stride": 16,
                          "rates": "6,12,18", "params_total": total, "params_head": total // 4, "gmacs_total": 1.0}
                         for head, total in (("aspp", 6_000_000), (candidate, 5_000_000))])
    (line,) = reduction_table(rows).to_dict("records")
    assert line["ASPP params (M)"] == 6.0 and line[f"{named} params (M)"] == 5.0 and f"{named} GMACs" in line

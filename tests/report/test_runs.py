"""A verdict describes one run (report/protocol.py): a results folder holding the user's new rows beside the
committed reference rows of another commit and precision gives the newest run's verdicts, the other run's
beside them with their own, never one pooled over both; --pool pools only compatible runs. The verdict table's
columns mean their names: the p beside a verdict is that verdict's own Holm p; primary rows name the claim."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from handmade import ablation_row

from ksac_cli import io
from ksac_cli.errors import KsacError
from ksac_cli.experiments.rows import COLUMNS
from ksac_cli.report.claims import CLAIMS
from ksac_cli.report.document import make_report
from ksac_cli.report.verdicts import P_COLUMNS

USER = {"git_commit": "new1234", "amp": "off", "device": "cpu (Intel, 2 threads, x86_64 AVX2)",
        "date": "2026-12-07T10:00:00Z"}
REFERENCE = {"git_commit": "941495c", "amp": "bf16", "device": "cpu (AMD EPYC, 2 threads, x86_64 AVX512, native bf16)",
             "date": "2026-12-06T13:00:00Z"}


def run_rows(run: dict, seeds, gains) -> list[dict]:
    """Rows of one run: ASPP and KSAC at rates 6,12,18 per seed, KSAC ahead by gains[i] points."""
    rows = []
    for seed, gain in zip(seeds, gains):
        for head, miou in (("aspp", 0.70 + 0.003 * seed), ("ksac", 0.70 + 0.003 * seed + gain / 100)):
            metrics = {"miou": miou, "iou_small": miou, "iou_medium": miou, "iou_large": miou}
            rows.append({**ablation_row(head, "6,12,18", seed, metrics, ""), **run, "margin": 1.0, "claim": 0.6})
    return rows


def folder(tmp_path, reference_amp: str = "bf16"):
    rng = np.random.default_rng(3)
    rows = run_rows({**REFERENCE, "amp": reference_amp}, range(13), 0.2 + 0.7 * rng.standard_normal(13))
    rows += run_rows(USER, range(2), [1.5, -0.9])  # the user's own seeds 0 and 1, made again here
    io.write_csv(tmp_path / "ablation.csv", rows, COLUMNS)
    return tmp_path


def test_mixed_runs_give_the_newest_runs_verdicts_and_the_others_beside_never_pooled(tmp_path):
    make_report(folder(tmp_path), tmp_path / "out")
    verdicts = pd.read_csv(tmp_path / "out" / "report_verdicts.csv")
    mine = verdicts[(verdicts["family"] == "primary") & (verdicts["metric"] == "mIoU")]
    assert mine["seeds"].tolist() == [2]  # exactly the user's 2 seeds
    assert mine["delta"].item() == pytest.approx((1.5 - 0.9) / 2)
    theirs = verdicts[verdicts["family"].str.endswith(" / primary", na=False)]
    assert theirs["seeds"].tolist() == [13] and "commit 941495c, bf16" in theirs["family"].item()
    assert not (verdicts["seeds"] > 13).any()  # no verdict pools 15 seeds of two runs
    lead = (tmp_path / "out" / "report.md").read_text().split("## Verdicts", 1)[1].split("\n## ", 1)[0]
    assert "These results hold 2 runs; the verdicts above are those of one run, the newest: commit new1234, " \
           "float32, cpu (Intel, 2 threads, x86_64 AVX2), 2026-12-07 (2 seeds per cell)" in lead


def test_pool_refuses_runs_of_two_precisions_and_pools_compatible_ones(tmp_path):
    with pytest.raises(KsacError, match="different precisions.*bf16 \\(26 rows\\), float32 \\(4 rows\\)"):
        make_report(folder(tmp_path), tmp_path / "out", pool=True)
    make_report(folder(tmp_path, reference_amp="off"), tmp_path / "out", pool=True)
    verdicts = pd.read_csv(tmp_path / "out" / "report_verdicts.csv")
    pooled = verdicts[(verdicts["family"] == "primary") & (verdicts["metric"] == "mIoU")]
    assert pooled["seeds"].tolist() == [13]  # seeds 0 and 1 from the newer run, 2-12 from the other
    assert "pooled with --pool" in (tmp_path / "out" / "report.md").read_text()


def test_the_p_beside_each_verdict_is_its_own_holm_p_and_primary_rows_name_the_claim(tmp_path):
    make_report(folder(tmp_path), tmp_path / "out")
    full = pd.read_csv(tmp_path / "out" / "report_verdicts.csv", keep_default_na=False)
    full = full[full["verdict"].str.len() > 0]
    for _, row in full.iterrows():
        claim = row["verdict_claim"] or "difference"
        assert claim in CLAIMS and row["verdict_p_holm"] == row[P_COLUMNS[claim] + "_holm"]
        if row["verdict_claim"]:
            assert float(row["verdict_p_holm"]) < 0.05
    md = (tmp_path / "out" / "report.md").read_text()
    lead = md.split("## Verdicts", 1)[1].split("\n## ", 1)[0]
    table = [line.split(" | ") for line in lead.splitlines() if line.startswith("| mob")]  # the compact table
    assert [cells[7].split(" ")[0] for cells in table] == [f"{p:.3f}" for p in full["verdict_p_holm"].astype(float)]
    primary = full[full["family"].str.endswith("primary")]
    assert (primary["claim"].astype(float) == 0.6).all()
    assert set(primary["claim_stance"]) <= {"inside the interval", "not resolvable", "excluded (above the interval)",
                                            "excluded (below the interval)"}
    assert primary["claim_stance"].tolist()[0] == "not resolvable"  # 2 seeds: ±8, far wider than 0.6


def test_two_protocols_pooled_over_the_same_runs_differ_by_protocol_alone(tmp_path):
    """A run is its grid, commit, precision and device, not its rows' dates: the pretrained rows of the same
    two runs, made an hour later, are the same pooled run, so their row group names the protocol alone (its run
    would print the same as the main group's) and no second run is announced."""
    rows = run_rows({**REFERENCE, "amp": "off"}, range(3), [0.5, 0.1, 0.3]) + run_rows(USER, range(2), [1.5, -0.9])
    later = [{**r, "backbone_weights": "timm:imagenet", "date": r["date"].replace("T1", "T2")} for r in rows]
    io.write_csv(tmp_path / "ablation.csv", rows + later, COLUMNS)
    make_report(tmp_path, tmp_path / "out", pool=True)
    md = (tmp_path / "out" / "report.md").read_text()
    assert 'In the row group "from random weights, for comparison", every model starts' in md
    assert "These results hold" not in md

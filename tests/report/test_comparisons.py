"""`ksac report` on a hand-made ablation with 3 seeds and hand-made run directories: the intervals and
verdicts of the KSAC-vs-ASPP and rate-24 tables, numbers worked out here with scipy and the engine's
metrics (the seeds x images interval from the same matrices through report/twoway.py, checked on its own in
test_twoway.py); a CSV whose run directories are gone; no "nan" anywhere; the qualitative figure."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from handmade import CLASSES, IDS, ablation_row, engine_metrics, matrices, truth_counts, write_npz, write_samples
from scipy import stats as scipy_stats

from ksac_cli import io
from ksac_cli.engine.metrics import ConfusionMatrix
from ksac_cli.experiments.rows import COLUMNS
from ksac_cli.report.document import make_report
from ksac_cli.report.stats import miou, size_iou
from ksac_cli.report.twoway import seeds_and_images

# share of right pixels per seed 0, 1, 2 of each cell
QUALITY = {("aspp", "6,12,18"): (0.60, 0.64, 0.57), ("ksac", "6,12,18"): (0.66, 0.69, 0.63),
           ("aspp", "6,12,18,24"): (0.61, 0.63, 0.58), ("ksac", "6,12,18,24"): (0.70, 0.72, 0.68)}


def build(results, runs, keep_dirs: bool = True, samples: bool = True) -> dict:
    """ablation.csv (+ run directories); returns {(head, rates, seed): (metrics, per-image matrices)}."""
    truth = truth_counts()
    cells, rows = {}, []
    for (head, rates), qualities in QUALITY.items():
        for seed, q in enumerate(qualities):
            conf = matrices(q, truth)
            run_dir = runs / f"{head}-{rates}-s{seed}"
            if keep_dirs:
                # stored in another image order than the ASPP runs': the report must pair by id
                order = np.arange(len(IDS))[::-1] if head == "ksac" else np.arange(len(IDS))
                write_npz(run_dir, conf[order], [IDS[i] for i in order])
                if samples and seed == 0:
                    write_samples(run_dir, ["img_a", "img_d"], shift=0 if head == "aspp" else 1)
            metrics = engine_metrics(conf)
            cells[(head, rates, seed)] = (metrics, conf)
            rows.append(ablation_row(head, rates, seed, metrics, run_dir))
    io.write_csv(results / "ablation.csv", rows, COLUMNS)
    return cells


def fmt(low: float, high: float) -> str:
    return f"[{low:+.2f}, {high:+.2f}]"


def expected_t(cells, first, second, key="miou") -> tuple[float, float, float]:
    a = np.array([cells[(*first, s)][0][key] for s in range(3)])
    b = np.array([cells[(*second, s)][0][key] for s in range(3)])
    ci = scipy_stats.ttest_rel(100 * a, 100 * b).confidence_interval(0.95)
    return float(np.mean(100 * (a - b))), float(ci.low), float(ci.high)


def brute_bootstrap(conf_a: np.ndarray, conf_b: np.ndarray, resamples: int = 1000) -> tuple[float, float]:
    """The percentile interval (points) of mIoU(a) - mIoU(b) over the report's draws, one resample at a time."""
    order = np.argsort(IDS)  # the report pairs the images in the order of their sorted ids
    conf_a, conf_b = conf_a[order], conf_b[order]
    draws = np.random.default_rng(0).integers(0, len(conf_a), size=(resamples, len(conf_a)))
    diffs = []
    for idx in draws:
        scores = []
        for conf in (conf_a, conf_b):
            cm = ConfusionMatrix(len(CLASSES))
            cm.mat += torch_from(conf[idx].sum(axis=(0, 1)))
            scores.append(cm.compute()["miou"])
        diffs.append(100 * (scores[0] - scores[1]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def torch_from(array: np.ndarray):
    import torch

    return torch.from_numpy(array.astype(np.int64))


def expected_joint(cells, first, second, group=None):
    """The seeds x images interval (points) of first minus second from the hand-made matrices, images in
    the order of their sorted ids."""
    order = np.argsort(IDS)
    stack = [np.stack([(cells[(*side, s)][1].sum(axis=1) if group is None else cells[(*side, s)][1][:, group])[order]
                       for s in range(3)]) for side in (first, second)]
    j = seeds_and_images(*stack, miou if group is None else size_iou)
    return 100 * j.delta, 100 * j.low, 100 * j.high


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    cells = build(results, results / "runs")
    report = make_report(results, results / "out")
    return cells, results / "out", report


def test_ksac_vs_aspp_shows_the_t_interval_the_bootstrap_per_seed_and_the_verdict(full):
    cells, out, _ = full
    table = pd.read_csv(out / "report_ksac_vs_aspp.csv", dtype={"rates": str})
    line = table[table["rates"] == "6,12,18"].iloc[0]
    delta, low, high = expected_t(cells, ("ksac", "6,12,18"), ("aspp", "6,12,18"))
    assert low > 0  # the hand-made KSAC is better in every seed
    assert line["seeds"] == 3 and line["metric"] == "mIoU"
    assert line["Δ (points)"] == pytest.approx(delta)
    aspp = [cells[("aspp", "6,12,18", s)][0]["miou"] for s in range(3)]
    assert line["ASPP (%)"] == pytest.approx(100 * np.mean(aspp))
    assert line["95% CI of Δ (t, seeds only)"] == fmt(low, high)
    _, j_low, j_high = expected_joint(cells, ("ksac", "6,12,18"), ("aspp", "6,12,18"))
    assert line["95% CI of Δ (seeds + images)"] == fmt(j_low, j_high) + " (t over seeds + bootstrap over images)"
    assert j_low > 0 and line["verdict"] == "KSAC better" and line["δ (points)"] == 0.3  # half the paper's +0.6
    boot = line["95% CI of Δ (bootstrap over images, per seed)"].split("; ")
    assert [b.split(" ")[0] for b in boot] == ["s0", "s1", "s2"]
    for seed in range(3):
        conf_k, conf_a = cells[("ksac", "6,12,18", seed)][1], cells[("aspp", "6,12,18", seed)][1]
        assert boot[seed] == f"s{seed} " + fmt(*brute_bootstrap(conf_k, conf_a))


def test_per_size_table_uses_the_size_groups(full):
    cells, out, _ = full
    table = pd.read_csv(out / "report_ksac_vs_aspp_size.csv", dtype={"rates": str})
    assert list(table[table["rates"] == "6,12,18"]["metric"]) == ["small", "medium", "large"]
    for size in ("small", "large"):
        line = table[(table["rates"] == "6,12,18") & (table["metric"] == size)].iloc[0]
        delta, low, high = expected_t(cells, ("ksac", "6,12,18"), ("aspp", "6,12,18"), f"iou_{size}")
        assert line["Δ (points)"] == pytest.approx(delta)
        assert line["95% CI of Δ (t, seeds only)"] == fmt(low, high)
        group = {"small": 1, "large": 3}[size]
        _, j_low, j_high = expected_joint(cells, ("ksac", "6,12,18"), ("aspp", "6,12,18"), group)
        assert line["95% CI of Δ (seeds + images)"].startswith(fmt(j_low, j_high))


def test_rate_24_table_per_head(full):
    cells, out, _ = full
    table = pd.read_csv(out / "report_rate24.csv")
    aspp = table[(table["model"] == "ASPP") & (table["metric"] == "mIoU")].iloc[0]
    assert aspp["rates"] == "6,12,18 → 6,12,18,24"
    delta, low, high = expected_t(cells, ("aspp", "6,12,18,24"), ("aspp", "6,12,18"))
    assert low < 0 < high  # +1, -1, +1 points of quality: no difference
    assert aspp["95% CI of Δ (t, seeds only)"] == fmt(low, high) and aspp["Δ (points)"] == pytest.approx(delta)
    _, j_low, j_high = expected_joint(cells, ("aspp", "6,12,18,24"), ("aspp", "6,12,18"))
    assert j_low < 0 < j_high and aspp["verdict"] == "no difference detectable"
    ksac = table[(table["model"] == "KSAC (concat)") & (table["metric"] == "mIoU")].iloc[0]
    _, j_low, j_high = expected_joint(cells, ("ksac", "6,12,18,24"), ("ksac", "6,12,18"))
    assert j_low > 0 and ksac["verdict"] == "with rate 24 better"


def test_report_opens_with_one_compact_verdict_table_and_prints_no_nan(full):
    cells, out, report = full
    md = (out / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[0] == "Verdicts"
    verdicts = md.split("## Verdicts", 1)[1].split("\n## ", 1)[0]
    assert verdicts.index("](forest.png)") < verdicts.index("| comparison |")  # the forest plot opens it
    assert (out / "forest.png").stat().st_size > 1000
    assert not re.search(r"^- ", verdicts, flags=re.M)  # no bullets repeating one sentence per comparison
    tables = re.findall(r"(?:^\|.*\|\n)+", verdicts, flags=re.M)
    assert len(tables) == 1  # ONE table, then the long tables follow
    lines = tables[0].splitlines()
    assert lines[0] == ("| comparison | metric | family | Δ (points) | 95% CI | ±δ | verdict | p (Holm) of the verdict "
                        "| paper's claim | one seed out |")
    delta, low, high = expected_joint(cells, ("ksac", "6,12,18"), ("aspp", "6,12,18"))
    assert any(line.startswith(f"| mobilenetv2_050 OS16 rates 6,12,18: KSAC (concat) vs ASPP | mIoU | primary | "
                               f"{delta:.2f} | {fmt(low, high)} (3 seeds x 5 images) | 0.30 | ") for line in lines)
    assert len(lines) == 2 + 4 + 4 * 3 + 2 * 2  # header, rule; 4 comparisons x (mIoU + 3 sizes); 2 x 2 classes (square: null)
    # the primary family (KSAC - ASPP, each naming the paper's claim) first, then adding rate 24, its own family
    assert [line.split(" | ")[2] for line in lines[2:6]] == ["primary"] * 2 + ["second: adding rate 24"] * 2
    assert all(line.split(" | ")[-2].startswith("paper +0.60: ") for line in lines[2:4])
    assert all(line.split(" | ")[-2] == "" for line in lines[4:])
    assert all("EXPLORATORY" in line.split(" | ")[2] for line in lines[6:])
    assert headings.index("KSAC vs ASPP: mIoU") == 1
    table = pd.read_csv(out / "report_verdicts.csv")
    assert len(table) == 20 and {"family", "delta", "low", "high", "margin", "seeds", "images", "df", "method",
                                  "p", "p_holm", "p_not_worse_holm", "p_equivalent_holm", "verdict"} <= set(table.columns)
    primary = table[table["family"] == "primary"]
    assert (primary["family_size"] == 2).all() and (primary["images"] == 5).all()
    assert (primary["claim"] == 0.6).all() and primary["claim_stance"].str.len().gt(0).all()
    assert primary["p_holm"].tolist() == pytest.approx(
        __import__("ksac_cli.report.claims", fromlist=["holm"]).holm(primary["p"].tolist()))
    for path in [out / "report.md", *out.glob("report_*.csv"), *out.glob("report_*.tex")]:
        assert not re.search(r"\bnan\b", path.read_text(), flags=re.I), path
    size = pd.read_csv(out / "report_size.csv", keep_default_na=False)
    assert (size[size["model"].str.startswith("ASPP")]["small vs ASPP"] == "").all()  # empty, not nan
    for name in ("qualitative_mobilenetv2_050_os16_r6-12-18.png", "qualitative_mobilenetv2_050_os16_r6-12-18-24.png"):
        assert (out / name).stat().st_size > 1000 and f"]({name})" in md
    assert "run directory missing" not in md


def test_one_seed_verdict_rests_on_the_bootstrap(tmp_path):
    truth = truth_counts()
    rows = []
    for head, q in (("aspp", 0.5), ("ksac", 0.8)):
        conf = matrices(q, truth)
        write_npz(tmp_path / head, conf)
        rows.append(ablation_row(head, "6,12,18", 0, engine_metrics(conf), tmp_path / head))
    io.write_csv(tmp_path / "ablation.csv", rows, COLUMNS)
    from ksac_cli.report import compare
    from ksac_cli.report.ablation import load
    from ksac_cli.report.evidence import EvidenceStore

    from ksac_cli.report.claims import PRIMARY, judge
    from ksac_cli.report.verdicts import compact_frame

    (c,) = compare.ksac_vs_aspp(load(tmp_path / "ablation.csv"), EvidenceStore())
    joint = c.line.interval
    assert c.seeds == 1 and c.t.low is None and joint.method == "bootstrap over images, 1 seed"
    judge([c.to_line(PRIMARY)])
    line = compare.comparison_table([c], "KSAC", "ASPP").iloc[0]
    assert line["95% CI of Δ (t, seeds only)"] == "-" and line["verdict"] == "KSAC better"
    row = compact_frame([c.line]).iloc[0]  # the verdict table names the interval it rests on
    assert row["95% CI"] == f"{fmt(joint.low, joint.high)} (1 seeds x 5 images, bootstrap over images, 1 seed)"


def test_run_directories_gone_every_other_number_is_made(tmp_path):
    cells = build(tmp_path, tmp_path / "gone", keep_dirs=False)
    report = make_report(tmp_path, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report_ksac_vs_aspp.csv", dtype={"rates": str})
    line = table[table["rates"] == "6,12,18"].iloc[0]
    delta, low, high = expected_t(cells, ("ksac", "6,12,18"), ("aspp", "6,12,18"))
    assert line["95% CI of Δ (t, seeds only)"] == fmt(low, high) and line["verdict"] == "KSAC better"
    assert line["95% CI of Δ (seeds + images)"] == fmt(low, high) + " (t over seeds only; run directory missing)"
    assert line["95% CI of Δ (bootstrap over images, per seed)"] == "; ".join(
        f"s{s} run directory missing" for s in range(3))
    md = (tmp_path / "out" / "report.md").read_text()
    not_made = md.split("## Not made", 1)[1]
    assert "run directory missing" in not_made and "qualitative_*.png" in not_made
    assert not re.search(r"\bnan\b", md, flags=re.I)
    assert any("qualitative" in m for m in report.missing)


def test_an_npz_from_another_evaluation_is_not_used(tmp_path):
    build(tmp_path, tmp_path / "runs", samples=False)
    # `ksac eval` with other scales rewrote one cell's npz: its matrices no longer give the row's mIoU
    write_npz(tmp_path / "runs" / "ksac-6,12,18-s1", matrices(0.9, truth_counts()))
    from ksac_cli.report import compare
    from ksac_cli.report.ablation import load
    from ksac_cli.report.evidence import EvidenceStore

    comparisons = compare.ksac_vs_aspp(load(tmp_path / "ablation.csv"), EvidenceStore())
    per_seed = dict(comparisons[0].per_seed)
    assert per_seed[1] == "eval_images.npz of ksac-6,12,18-s1 is from another evaluation"
    assert not isinstance(per_seed[0], str)

"""Paired comparisons with 95% intervals, from results/ablation.csv and the cells' eval_images.npz:

- KSAC minus ASPP with the same backbone, output stride and rates (one line per KSAC merge);
- adding rate 24: (rates + 24) minus (rates) with the same backbone, output stride, head and merge.

Each line pairs the two cells by seed. Over seeds: the mean difference and its Student's t interval (n - 1
degrees of freedom; none with one seed), which carries the verdict. Over images, per seed: a paired
bootstrap of the difference from the two runs' per-image confusion matrices. All values in percent
(IoU) and points (differences); the CSV holds fractions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ksac_cli.errors import KsacError
from ksac_cli.report.evidence import EVAL_IMAGES, EvidenceStore, aligned
from ksac_cli.report.stats import Interval, paired_bootstrap, size_iou, t_interval, verdict
from ksac_cli.report.stats import miou as miou_of

# metric name -> (CSV column, size group in eval_images.npz: None = every pixel)
METRICS = {"mIoU": ("miou", None), "small": ("iou_small", 1), "medium": ("iou_medium", 2), "large": ("iou_large", 3)}
LABELS = {"mIoU": "mIoU", "small": "IoU of small objects", "medium": "IoU of medium objects",
          "large": "IoU of large objects"}
ONE_SEED = "1 seed, over images only"
ROW_TOLERANCE = 1e-6  # |mIoU of the npz - the row's mIoU| above which the npz is from another evaluation


@dataclass
class Comparison:
    setting: dict  # the columns that say what is compared (backbone, OS, rates, ...)
    title: str  # the same in words: "mobilenetv2 OS16 rates 6,12,18: KSAC (concat) vs ASPP"
    metric: str  # a key of METRICS
    better: str  # the first side's name ("KSAC", "with rate 24"): differences are first minus second
    worse: str
    seeds: int
    first: float  # mean over the paired seeds, %
    second: float
    delta: float  # mean of the per-seed differences, points
    t: Interval  # over seeds, points (low/high None with one seed)
    per_seed: list  # [(seed, Interval in points | why there is none)]

    @property
    def verdict(self) -> str:
        if self.t.low is not None:
            return verdict(self.t.low, self.t.high, self.better, self.worse)
        boot = self.per_seed[0][1] if self.per_seed else None
        if isinstance(boot, Interval):  # one seed: only the test images' sampling is measured
            said = verdict(boot.low, boot.high, self.better, self.worse)
            return f"{said[:-1]}; {ONE_SEED})" if said.endswith(")") else f"{said} ({ONE_SEED})"
        return "no verdict (1 seed, no bootstrap interval)"


def fmt_interval(ci: Interval | None) -> str:
    return "-" if ci is None or ci.low is None else f"[{ci.low:+.2f}, {ci.high:+.2f}]"


def per_seed_text(per_seed: list) -> str:
    return "; ".join(f"s{seed} {fmt_interval(v) if isinstance(v, Interval) else v}" for seed, v in per_seed)


def bootstrap_cell(first: pd.Series, second: pd.Series, group: int | None, store: EvidenceStore) -> Interval | str:
    """The paired bootstrap interval (points) of first minus second over the val images of one seed, or a
    short phrase saying why there is none (a run directory or its npz gone, another evaluation's npz)."""
    if not all(isinstance(row["run_dir"], str) and row["run_dir"] for row in (first, second)):
        return "no run_dir in the row"
    evidence = [store.get(row["run_dir"]) for row in (first, second)]
    for e in evidence:
        if isinstance(e, str):
            return e
    for e, row in zip(evidence, (first, second)):
        if abs(e.split_miou - float(row["miou"])) > ROW_TOLERANCE:
            return f"{EVAL_IMAGES} of {row['cell']} is from another evaluation"
    a, b = evidence
    try:
        conf_a, conf_b = aligned(a, b, group)
    except KsacError:
        return "the two runs' val images differ"
    ci = paired_bootstrap(conf_a, conf_b, score=miou_of if group is None else size_iou)
    if ci is None:
        return "no such pixels"
    return Interval(100 * ci.mean, 100 * ci.low, 100 * ci.high)


def compare(first: pd.DataFrame, second: pd.DataFrame, metric: str, setting: dict, title: str,
            store: EvidenceStore, better: str, worse: str) -> Comparison | None:
    """first minus second on `metric`, paired by seed (seeds where either value is missing are left out);
    None when no seed pairs."""
    column, group = METRICS[metric]
    a = first.dropna(subset=[column]).drop_duplicates("seed", keep="last").set_index("seed")
    b = second.dropna(subset=[column]).drop_duplicates("seed", keep="last").set_index("seed")
    seeds = sorted(set(a.index) & set(b.index))
    if not seeds:
        return None
    va, vb = 100 * a.loc[seeds, column].to_numpy(float), 100 * b.loc[seeds, column].to_numpy(float)
    return Comparison(setting, title, metric, better, worse, len(seeds), float(va.mean()), float(vb.mean()),
                      float(np.mean(va - vb)), t_interval(va - vb),
                      [(int(s), bootstrap_cell(a.loc[s], b.loc[s], group, store)) for s in seeds])


def ksac_vs_aspp(df: pd.DataFrame, store: EvidenceStore, metrics=("mIoU",)) -> list[Comparison]:
    """KSAC (each merge) minus ASPP, same backbone, output stride and rates."""
    out = []
    for (backbone, stride, rates), group in df.groupby(["backbone", "output_stride", "rates"], sort=False):
        aspp = group[group["head"] == "aspp"]
        for merge, ksac in group[group["head"] == "ksac"].groupby("merge", sort=False):
            setting = {"backbone": backbone, "OS": int(stride), "rates": rates, "KSAC merge": merge}
            title = f"{backbone} OS{int(stride)} rates {rates}: KSAC ({merge}) vs ASPP"
            out += [c for m in metrics if (c := compare(ksac, aspp, m, setting, title, store, "KSAC", "ASPP"))]
    return out


def with_rate(df: pd.DataFrame, store: EvidenceStore, rate: int = 24, metrics=tuple(METRICS)) -> list[Comparison]:
    """(rates + `rate`) minus (rates), same backbone, output stride, head and merge: the paper's second
    claim (adding rate 24)."""
    out = []
    name = f"rate {rate}"
    heads = ["ASPP" if h == "aspp" else f"KSAC ({m})" for h, m in zip(df["head"], df["merge"])]
    for (backbone, stride, model), group in df.assign(head_name=heads).groupby(
            ["backbone", "output_stride", "head_name"], sort=False):
        for rates in dict.fromkeys(group["rates"]):
            added = group[group["rates"] == f"{rates},{rate}"]
            if added.empty:
                continue
            setting = {"backbone": backbone, "OS": int(stride), "model": model, "rates": f"{rates} → {rates},{rate}"}
            title = f"{backbone} OS{int(stride)} {model}: rates {rates},{rate} vs {rates}"
            out += [c for m in metrics
                    if (c := compare(added, group[group["rates"] == rates], m, setting, title, store,
                                     f"with {name}", f"without {name}"))]
    return out


def comparison_table(comparisons: list[Comparison], first: str, second: str) -> pd.DataFrame:
    """One line per comparison: its setting, seeds, both means (%), the mean difference (points), the t
    interval over seeds, the bootstrap interval over images per seed, and the verdict."""
    rows = []
    for c in comparisons:
        rows.append({**c.setting, "metric": c.metric, "seeds": c.seeds, f"{second} (%)": c.second,
                     f"{first} (%)": c.first, "Δ (points)": c.delta, "95% CI of Δ (t, seeds)": fmt_interval(c.t),
                     "95% CI of Δ (bootstrap over images, per seed)": per_seed_text(c.per_seed),
                     "verdict": c.verdict})
    return pd.DataFrame(rows)


def verdict_row(c: Comparison) -> dict:
    """One line of the report's verdict table: what was compared, the metric, the mean difference, the
    interval the verdict rests on (t over seeds; with one seed the bootstrap over images) and the verdict."""
    boot = c.per_seed[0][1] if c.per_seed else None
    if c.t.low is not None:
        ci, basis = c.t, f"{fmt_interval(c.t)} (t, {c.seeds} seeds)"
    elif isinstance(boot, Interval):
        ci, basis = boot, f"{fmt_interval(boot)} (bootstrap over images, 1 seed)"
    else:
        ci, basis = None, f"- (1 seed: {boot or 'no bootstrap interval'})"
    said = "no verdict" if ci is None else verdict(ci.low, ci.high, c.better, c.worse, detail=False)
    return {"comparison": c.title, "metric": LABELS[c.metric], "Δ (points)": c.delta, "95% CI": basis, "verdict": said}

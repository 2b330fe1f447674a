"""Paired comparisons with 95% intervals, from results/ablation.csv and the cells' eval_images.npz:
each candidate head minus ASPP (`ksac_vs_aspp`), adding rate 24 (`with_rate`) and the A/A check (`a_a`), the
two cells paired by seed, each verdict resting on the interval over seeds AND val images (report/twoway.py).
Values in percent (IoU) and points (differences); metrics: mIoU, IoU per object size and IoU of each class."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ksac_cli.errors import KsacError
from ksac_cli.config import parse_rates
from ksac_cli.heads import BASELINE, CANDIDATE, by_role, spec
from ksac_cli.config.schema import PAPER_CLAIMS, margin_for
from ksac_cli.report import verdicts
from ksac_cli.report.claims import Line
from ksac_cli.report.evidence import EVAL_IMAGES, EvidenceStore, aligned
from ksac_cli.report.ablation import head_labels
from ksac_cli.report.stats import Interval, class_iou, interval_text, paired_bootstrap, size_iou, t_interval
from ksac_cli.report.stats import miou as miou_of
from ksac_cli.report.twoway import TwoWay, scaled, seeds_and_images, seeds_only

# metric name -> (CSV column, size group in eval_images.npz: None = every pixel, label)
METRICS = {"mIoU": ("miou", None, "mIoU"), "small": ("iou_small", 1, "IoU of small objects"),
           "medium": ("iou_medium", 2, "IoU of medium objects"), "large": ("iou_large", 3, "IoU of large objects")}
CLASS = "class:"  # a metric "class:<name>": the IoU of that class
DEFAULT_CLAIM = PAPER_CLAIMS["mobilenetv2"]  # rows written before the `claim` column: the quick recipe's
ROW_TOLERANCE = 1e-6  # |mIoU of the npz - the row's mIoU| above which the npz is from another evaluation


@dataclass
class Comparison:
    """The numbers of one line of the comparison tables; `line` carries its title, sides, the interval over
    seeds and images its verdict rests on (points), δ and the paper's claim."""

    setting: dict  # the columns that say what is compared (backbone, OS, rates, ...)
    metric: str  # a key of METRICS or "class:<name>"
    seeds: int
    first: float  # mean over the paired seeds, %
    second: float
    t: Interval  # of the per-seed differences over seeds, points (low/high None with one seed)
    per_seed: list  # [(seed, Interval in points | why there is none)]
    why: str  # "" or why the images were not resampled (line.interval is then over seeds only)
    line: Line  # the verdict table's line (its family set by `to_line`, its verdict by claims.judge)

    def to_line(self, family: str, group: str = "") -> Line:
        self.line.family, self.line.group = family, group
        return self.line


def label_of(metric: str) -> str:
    return f"IoU of class {metric[len(CLASS):]}" if metric.startswith(CLASS) else METRICS[metric][2]


def score_of(metric: str, classes: list[str]):
    if metric.startswith(CLASS):
        return class_iou(classes.index(metric[len(CLASS):]))
    return miou_of if METRICS[metric][1] is None else size_iou


def evidence_pair(first: pd.Series, second: pd.Series, metric: str, store: EvidenceStore):
    """(first's, second's (N, K, K) matrices in the order of the sorted ids, those ids, the metric's score)
    of one seed, or a short phrase saying why there are none (a run directory or its npz gone, another
    evaluation's npz, other images)."""
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
    if metric.startswith(CLASS) and metric[len(CLASS):] not in a.classes:
        return f"no class {metric[len(CLASS):]} in {EVAL_IMAGES}"
    try:
        conf_a, conf_b = aligned(a, b, None if metric.startswith(CLASS) else METRICS[metric][1])
    except KsacError:
        return "the two runs' val images differ"
    return conf_a, conf_b, sorted(a.ids), score_of(metric, a.classes)


def bootstrap_cell(pair) -> Interval | str:
    """The paired bootstrap interval (points) of first minus second over the val images of one seed's
    `evidence_pair`, or a short phrase saying why there is none."""
    if isinstance(pair, str):
        return pair
    ci = paired_bootstrap(pair[0], pair[1], score=pair[3])
    return "no such pixels" if ci is None else Interval(100 * ci.mean, 100 * ci.low, 100 * ci.high)


def joint_interval(pairs: list, deltas: np.ndarray) -> tuple[TwoWay, str]:
    """The interval over seeds and images (points) of the paired seeds' `evidence_pair`s, and "" ; or
    Student's t over the seeds' differences `deltas` alone and why the images could not be resampled."""
    why = next((p for p in pairs if isinstance(p, str)), "")
    if not why and len({tuple(p[2]) for p in pairs}) > 1:
        why = "the seeds were evaluated on different val images"
    if not why:
        joint = seeds_and_images(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), pairs[0][3])
        if joint is not None:
            return scaled(joint, 100.0), ""
        why = "no such pixels"
    return seeds_only(deltas), why


def values_of(rows: pd.DataFrame, metric: str) -> pd.Series:
    """The rows' value of `metric` (fractions; NaN where missing), indexed like `rows`."""
    if not metric.startswith(CLASS):
        return pd.to_numeric(rows[METRICS[metric][0]], errors="coerce")
    name = metric[len(CLASS):]
    per_class = [json.loads(v) if isinstance(v, str) and v else {} for v in rows["per_class_iou"]]
    return pd.Series([np.nan if d.get(name) is None else float(d[name]) for d in per_class], index=rows.index,
                     dtype=float)


def reading_of(rows: pd.DataFrame) -> tuple[float, float]:
    """(δ, the paper's claim), points, of the rows' run: the claim their `claim` column records (the quick
    recipe's, DEFAULT_CLAIM, where the column is absent or empty) and their `margin` where it is at most that
    claim, else half the claim (config.margin_for: rows written before the rule recorded 1.00)."""
    def first(column: str) -> float | None:
        values = pd.to_numeric(rows[column], errors="coerce").dropna() if column in rows else pd.Series(dtype=float)
        return float(values.iloc[0]) if len(values) else None

    claim = first("claim")
    claim = DEFAULT_CLAIM if claim is None else claim
    return margin_for(claim, first("margin")), claim


def compare(first: pd.DataFrame, second: pd.DataFrame, metric: str, setting: dict, title: str,
            store: EvidenceStore, better: str, worse: str, claimed: bool = False) -> Comparison | None:
    """first minus second on `metric` (a key of METRICS or "class:<name>"), paired by seed (seeds where
    either value is missing are left out); None when no seed pairs. `claimed`: the paper claims a value for
    this difference (the rows' claim)."""
    a, b = (d.assign(_value=values_of(d, metric)).dropna(subset=["_value"]).drop_duplicates("seed", keep="last")
            .set_index("seed") for d in (first, second))
    seeds = sorted(set(a.index) & set(b.index))
    if not seeds:
        return None
    va, vb = 100 * a.loc[seeds, "_value"].to_numpy(float), 100 * b.loc[seeds, "_value"].to_numpy(float)
    pairs = [evidence_pair(a.loc[s], b.loc[s], metric, store) for s in seeds]
    joint, why = joint_interval(pairs, va - vb)
    margin, claim = reading_of(pd.concat([first, second]))
    line = Line("", title, label_of(metric), better, worse, joint, margin, claim if claimed else None,
                tuple(int(s) for s in seeds))
    return Comparison(setting, metric, len(seeds), float(va.mean()), float(vb.mean()), t_interval(va - vb),
                      [(int(s), bootstrap_cell(p)) for s, p in zip(seeds, pairs)], why, line)


def streams(df: pd.DataFrame) -> pd.Series:
    """Each row's seed stream (0 where the CSV has no `stream` column: written before A/A checks existed)."""
    return pd.to_numeric(df["stream"], errors="coerce").fillna(0).astype(int) if "stream" in df else \
        pd.Series(0, index=df.index)


def first_stream(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of seed stream 0: the experiment itself (other streams are A/A copies, compared by `a_a`)."""
    return df[streams(df) == 0]


def a_a(df: pd.DataFrame, store: EvidenceStore) -> list[Comparison]:
    """The A/A check (ksac ablate --streams 2; docs/training.md): each model's stream s minus its stream 0,
    paired by the grid's seed."""
    out = []
    keys = ["backbone", "output_stride", "rates", "head", "merge"]
    for (backbone, stride, rates, head, merge), group in df.assign(_stream=streams(df)).groupby(keys, sort=False):
        model = spec(head).label(merge)
        for s in sorted(set(group["_stream"]) - {0}):
            setting = {"backbone": backbone, "OS": int(stride), "rates": rates, "model": model, "streams": f"{s} vs 0"}
            title = f"{backbone} OS{int(stride)} rates {rates}: {model} stream {s} vs stream 0 (A/A)"
            if (c := compare(group[group["_stream"] == s], group[group["_stream"] == 0], "mIoU", setting, title,
                             store, f"stream {s}", "stream 0")):
                out.append(c)
    return out


def ksac_vs_aspp(df: pd.DataFrame, store: EvidenceStore, metrics=("mIoU",)) -> list[Comparison]:
    """Each candidate head (KSAC per merge, every user head: ksac_cli/heads.py) minus the baseline ASPP, same
    backbone, output stride and rates (seed stream 0); the paper's claim is read on its own head's lines."""
    out = []
    df = first_stream(df)
    for (backbone, stride, rates), group in df.groupby(["backbone", "output_stride", "rates"], sort=False):
        aspp = group[by_role(group["head"], BASELINE)]
        for (head, merge), other in group[by_role(group["head"], CANDIDATE)].groupby(["head", "merge"], sort=False):
            s = spec(head)
            setting = {"backbone": backbone, "OS": int(stride), "rates": rates, "model": s.label(merge)}
            title = f"{backbone} OS{int(stride)} rates {rates}: {s.label(merge)} vs ASPP"
            out += [c for m in metrics if (c := compare(other, aspp, m, setting, title, store, s.display, "ASPP",
                                                        claimed=m == "mIoU" and s.paper))]
    return out


def with_rate(df: pd.DataFrame, store: EvidenceStore, rate: int = 24, metrics=tuple(METRICS)) -> list[Comparison]:
    """(rates + `rate`) minus (rates), same backbone, output stride, head and merge: the paper's second
    claim (adding rate 24). The partner is the rate set equal to this one plus {rate}, in whatever order."""
    out = []
    df = first_stream(df)
    for (backbone, stride, model), group in df.assign(head_name=head_labels(df)).groupby(
            ["backbone", "output_stride", "head_name"], sort=False):
        sets = {text: set(parse_rates(text, option="ablation.csv: rates")) for text in dict.fromkeys(group["rates"])}
        for rates, members in sets.items():
            partner = next((t for t, m in sets.items() if rate not in members and m == members | {rate}), None)
            if partner is None:
                continue
            setting = {"backbone": backbone, "OS": int(stride), "model": model, "rates": f"{rates} → {partner}"}
            title = f"{backbone} OS{int(stride)} {model}: rates {partner} vs {rates}"
            out += [c for m in metrics
                    if (c := compare(group[group["rates"] == partner], group[group["rates"] == rates], m, setting,
                                     title, store, f"with rate {rate}", f"without rate {rate}"))]
    return out


def class_metrics(df: pd.DataFrame) -> list[str]:
    """"class:<name>" for every class named in the rows' per_class_iou, in their order."""
    names = [json.loads(v) for v in df.get("per_class_iou", pd.Series(dtype=object)) if isinstance(v, str) and v]
    return [CLASS + name for name in dict.fromkeys(n for d in names for n in d)]


def comparison_table(comparisons: list[Comparison], first: str, second: str) -> pd.DataFrame:
    """One row per comparison: its setting, means, Δ, its three intervals, δ and the verdict (after `claims.judge`);
    `first`, `second` name the sides in the column titles."""
    rows = []
    for c in comparisons:
        j = c.line.interval
        joint = "-" if j.low is None else f"{interval_text(j)} ({j.method}{'; ' + c.why if c.why else ''})"
        per_seed = "; ".join(f"s{seed} {interval_text(v) if isinstance(v, Interval) else v}" for seed, v in c.per_seed)
        rows.append({**c.setting, "metric": c.metric.removeprefix(CLASS), "seeds": c.seeds, f"{second} (%)": c.second,
                     f"{first} (%)": c.first, "Δ (points)": c.t.mean, "95% CI of Δ (seeds + images)": joint,
                     "95% CI of Δ (t, seeds only)": interval_text(c.t),
                     "95% CI of Δ (bootstrap over images, per seed)": per_seed,
                     "δ (points)": c.line.margin, "verdict": verdicts.text(c.line.verdict)})
    return pd.DataFrame(rows)

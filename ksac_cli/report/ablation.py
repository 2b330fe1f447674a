"""Paper-style tables from results/ablation.csv (rows: see experiments/rows.py and results/README.md).

All mIoU/IoU values are shown in percent; the CSV holds fractions."""

from __future__ import annotations

import json

import pandas as pd

from ksac_cli.config import parse_rates
from ksac_cli.conventions import SIZE_BUCKETS
from ksac_cli.experiments.rows import RUN
from ksac_cli.heads import BASELINE, CANDIDATE, HEADS, by_role, model_label, spec
from ksac_cli.report import protocol
from ksac_cli.report.stats import interval_text, t_interval

SETTING = ["backbone", "output_stride", "rates"]  # a candidate is compared with the baseline of its setting


def load(path, grid: str | None = None) -> pd.DataFrame:
    """The successful rows (of `grid` only, when given), in file order. Of a cell and seed that one run made
    again after its config changed, the newest row wins (by `date`, then the later in the file); rows from
    another backbone or made by another run (report/protocol.py) are another result, kept beside it."""
    df = pd.read_csv(path, dtype={"rates": str, "backbone_weights": str, "backbone_sha256": str, "grid": str})
    df = protocol.normalise(df if grid is None else df[df["grid"] == grid])
    df = protocol.newest(df[df["status"] == "ok"], ["cell", "seed", *protocol.COLUMNS, *RUN])
    df["model"] = [label(r) for r in df.itertuples()]
    return df


def label(row) -> str:
    """A row's model, named as everywhere else (config.model_label)."""
    return model_label(row.head, row.merge, parse_rates(row.rates))


def head_labels(df: pd.DataFrame) -> pd.Series:
    """Each row's head and the options it takes: 'ASPP', 'KSAC (concat)' (ksac_cli/heads.py)."""
    return pd.Series([spec(h).label(m) for h, m in zip(df["head"], df["merge"])], index=df.index, dtype=object)


def heads_compared(heads) -> tuple[str, str]:
    """(candidates, baseline): how titles and columns name the candidate and the baseline heads among `heads`
    (head names), from the head registry: ('KSAC', 'ASPP'), ('Toy / deeplabv3:ASPP', 'ASPP'); a role that
    none of `heads` plays is named by the registered heads of that role."""
    specs = [spec(h) for h in dict.fromkeys(heads)]

    def names(role: str) -> str:
        shown = [s for s in specs if s.role == role] or [s for s in HEADS.values() if s.role == role]
        return " / ".join(dict.fromkeys(s.display for s in shown))

    return names(CANDIDATE), names(BASELINE)


def with_baseline(rows: pd.DataFrame, keys: list[str], candidates_only: bool = True) -> pd.DataFrame:
    """The candidate rows that have a baseline row of the same `keys` (with `candidates_only`; else every
    row), each beside the first such baseline row, whose columns are suffixed "_base" (NaN where none)."""
    base = rows[by_role(rows["head"], BASELINE)].drop_duplicates(keys)
    left = rows[by_role(rows["head"], CANDIDATE)] if candidates_only else rows
    return left.merge(base, on=keys, how="inner" if candidates_only else "left", suffixes=("", "_base"))


def params_table(df: pd.DataFrame) -> pd.DataFrame:
    """(a) parameters and MACs of each model, with the reduction vs the ASPP model of the same setting."""
    models = with_baseline(df.drop_duplicates(protocol.MODEL), SETTING, candidates_only=False)
    saved = models["params_total_base"] - models["params_total"]
    return pd.DataFrame({
        "backbone": models["backbone"], "OS": models["output_stride"].astype(int), "model": models["model"],
        "params (M)": models["params_total"] / 1e6, "head params (M)": models["params_head"] / 1e6,
        "GMACs": models["gmacs_total"].astype(float), "head GMACs": models["gmacs_head"].astype(float),
        "saved vs ASPP (M)": saved / 1e6, "saved vs ASPP (%)": 100.0 * saved / models["params_total_base"],
    })


def _mean_std(values: pd.Series) -> str:
    values = 100.0 * values.dropna()
    if len(values) == 0:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def _t_ci(values: pd.Series) -> str:
    """The 95% Student's t interval of the mean over seeds, in %; "-" with fewer than 2 seeds."""
    values = 100.0 * values.dropna()
    return interval_text(t_interval(values) if len(values) else None, sign="")


def rates_table(df: pd.DataFrame) -> pd.DataFrame:
    """(b) mIoU per head and rate set: mean ± std over seeds (n seeds) and the 95% t interval of the mean."""
    out = []
    for (backbone, stride, model), group in df.groupby(["backbone", "output_stride", "model"], sort=False):
        out.append({"backbone": backbone, "OS": int(stride), "model": model, "seeds": len(group),
                    "mIoU (%)": _mean_std(group["miou"]), "mIoU 95% CI (t)": _t_ci(group["miou"]),
                    "best mIoU (%)": _mean_std(group["best_miou"]),
                    "params (M)": group["params_total"].iloc[0] / 1e6})
    return pd.DataFrame(out)


def paired_table(df: pd.DataFrame) -> pd.DataFrame:
    """(b') each candidate head (KSAC, a user's) minus ASPP, paired by seed (same backbone, output stride,
    rates and seed); the columns name the heads (`heads_compared`)."""
    pairs = with_baseline(df, [*SETTING, "seed"])
    first, second = heads_compared(df["head"])
    return pd.DataFrame({
        "backbone": pairs["backbone"], "OS": pairs["output_stride"].astype(int), "rates": pairs["rates"],
        "model": pairs["model"], "seed": pairs["seed"].astype(int), f"{second} mIoU (%)": 100 * pairs["miou_base"],
        f"{first} mIoU (%)": 100 * pairs["miou"],
        f"{first} - {second} (points)": 100 * (pairs["miou"] - pairs["miou_base"]),
    })


def per_class_table(df: pd.DataFrame) -> pd.DataFrame:
    """(c) per-class IoU (%) of each model, averaged over seeds."""
    rows = []
    for model, group in df.groupby("model", sort=False):
        per_seed = [json.loads(v) for v in group["per_class_iou"]]
        classes = list(per_seed[0])
        row = {"model": model}
        for c in classes:
            values = [s[c] for s in per_seed if s.get(c) is not None]
            row[c] = 100 * sum(values) / len(values) if values else None
        rows.append(row)
    return pd.DataFrame(rows)


def size_table(df: pd.DataFrame) -> pd.DataFrame:
    """(d) IoU (%) over pixels of ground-truth objects of each size, averaged over seeds, and each candidate
    minus ASPP per size for the same rates (the paper's claim is about scale)."""
    sizes = {s: f"iou_{s}" for s in SIZE_BUCKETS}
    base = {key: g[list(sizes.values())].mean() for key, g in df[by_role(df["head"], BASELINE)].groupby(SETTING)}
    rows = []
    for (backbone, stride, rates, model), group in df.groupby([*SETTING, "model"], sort=False):
        mean = group[list(sizes.values())].mean()
        compared = (backbone, stride, rates) in base and spec(group["head"].iloc[0]).role == CANDIDATE
        rows.append({"backbone": backbone, "OS": int(stride), "model": model,
                     **{f"{s} (%)": 100 * mean[c] for s, c in sizes.items()},
                     **{f"{s} vs ASPP": 100 * (mean[c] - base[backbone, stride, rates][c]) if compared else None
                        for s, c in sizes.items()}})
    return pd.DataFrame(rows)

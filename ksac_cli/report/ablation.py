"""Paper-style tables from results/ablation.csv (rows: see experiments/rows.py and results/README.md).

All mIoU/IoU values are shown in percent; the CSV holds fractions."""

from __future__ import annotations

import json

import pandas as pd

from ksac_cli.config import parse_rates
from ksac_cli.heads import BASELINE, CANDIDATE, by_role, model_label, spec
from ksac_cli.conventions import SIZE_BUCKETS
from ksac_cli.experiments.rows import RUN
from ksac_cli.report import protocol
from ksac_cli.report.stats import t_interval

SIZES = SIZE_BUCKETS


def load(path, grid: str | None = None) -> pd.DataFrame:
    """The successful rows, in file order. A cell and seed run again by the same run after its config changed
    (a new config_hash) leaves two rows: the newest wins, by `date`, and among rows of one date the later in
    the file (ksac ablate replaces a row or appends it, so the file runs oldest to newest). Rows that started
    from another backbone, or made by another run (report/protocol.py), are another result and are kept
    beside it; a CSV written before those columns existed reads as random weights and one run."""
    df = pd.read_csv(path, dtype={"rates": str, "backbone_weights": str, "backbone_sha256": str, "grid": str})
    df = protocol.normalise(df if grid is None else df[df["grid"] == grid])  # `grid`: that grid's rows only
    when = pd.to_datetime(df.get("date", pd.Series(None, index=df.index, dtype=object)), utc=True,
                          errors="coerce", format="ISO8601")
    newest_last = df.assign(_when=when).sort_values("_when", kind="stable", na_position="first")
    df = newest_last[newest_last["status"] == "ok"].drop_duplicates(
        ["cell", "seed", *protocol.COLUMNS, *RUN], keep="last").drop(columns="_when").sort_index()
    df["model"] = [label(r) for r in df.itertuples()]
    return df


def label(row) -> str:
    """A row's model, named as everywhere else (config.model_label)."""
    return model_label(row.head, row.merge, parse_rates(row.rates))


def params_table(df: pd.DataFrame) -> pd.DataFrame:
    """(a) parameters and MACs of each model, with the reduction vs the ASPP model of the same setting."""
    models = df.drop_duplicates(["backbone", "output_stride", "rates", "head", "merge"])
    out = []
    for r in models.itertuples():
        aspp = models[by_role(models["head"], BASELINE) & (models["backbone"] == r.backbone)
                      & (models["output_stride"] == r.output_stride) & (models["rates"] == r.rates)]
        base = aspp.iloc[0] if len(aspp) else None
        saved = None if base is None else int(base["params_total"]) - int(r.params_total)
        out.append({
            "backbone": r.backbone, "OS": int(r.output_stride), "model": r.model,
            "params (M)": r.params_total / 1e6, "head params (M)": r.params_head / 1e6,
            "GMACs": float(r.gmacs_total), "head GMACs": float(r.gmacs_head),
            "saved vs ASPP (M)": None if saved is None else saved / 1e6,
            "saved vs ASPP (%)": None if saved is None else 100.0 * saved / int(base["params_total"]),
        })
    return pd.DataFrame(out)


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
    if len(values) < 2:
        return "-"
    ci = t_interval(values.to_numpy(float))
    return f"[{ci.low:.2f}, {ci.high:.2f}]"


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
    """(b') each candidate head (KSAC, a user's) minus ASPP, paired by seed (same backbone, output stride, rates and seed)."""
    keys = ["backbone", "output_stride", "rates", "seed"]
    aspp = df[by_role(df["head"], BASELINE)].set_index(keys)
    out = []
    for r in df[by_role(df["head"], CANDIDATE)].itertuples():
        key = (r.backbone, r.output_stride, r.rates, r.seed)
        if key not in aspp.index:
            continue
        a = aspp.loc[key]
        a = a.iloc[0] if isinstance(a, pd.DataFrame) else a
        out.append({"backbone": r.backbone, "OS": int(r.output_stride), "rates": r.rates, "model": r.model,
                    "seed": int(r.seed), "ASPP mIoU (%)": 100 * a["miou"], "KSAC mIoU (%)": 100 * r.miou,
                    "KSAC - ASPP (points)": 100 * (r.miou - a["miou"])})
    return pd.DataFrame(out)


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
    """(d) IoU (%) over pixels of ground-truth objects of each size, averaged over seeds, and the
    KSAC - ASPP difference per size for the same rates (the paper's claim is about scale)."""
    rows = []
    for (backbone, stride, rates, model), group in df.groupby(["backbone", "output_stride", "rates", "model"], sort=False):
        row = {"backbone": backbone, "OS": int(stride), "model": model}
        for s in SIZES:
            row[f"{s} (%)"] = 100 * group[f"iou_{s}"].mean()
        aspp = df[by_role(df["head"], BASELINE) & (df["backbone"] == backbone) & (df["output_stride"] == stride)
                  & (df["rates"] == rates)]
        for s in SIZES:
            row[f"{s} vs ASPP"] = (100 * (group[f"iou_{s}"].mean() - aspp[f"iou_{s}"].mean())
                                   if len(aspp) and spec(group["head"].iloc[0]).role == CANDIDATE else None)
        rows.append(row)
    return pd.DataFrame(rows)

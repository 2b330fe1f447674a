"""Each candidate head (KSAC, a user's) vs ASPP: parameter and MAC reductions, from `ksac profile` rows
(profile.csv / paper_params.csv)."""

from __future__ import annotations

import pandas as pd

from ksac_cli.heads import spec
from ksac_cli.report.ablation import heads_compared, with_baseline

KEYS = ["backbone", "decoder", "output_stride", "rates"]


def reduction_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per candidate model (ksac_cli/heads.py): its parameters and MACs beside the ASPP model with the
    same backbone, decoder, output stride and rates, and the reduction in millions and in percent of the whole
    model; the columns name the heads (ablation.heads_compared)."""
    rows = rows.copy()
    rows["rates"] = rows["rates"].astype(str)
    if "ksac_impl" not in rows:  # written before the taps implementation existed: conv
        rows["ksac_impl"] = rows["head"].map(lambda h: spec(h).value("ksac_impl", "conv"))
    rows = rows.drop_duplicates(subset=["head", "merge", "ksac_impl", *KEYS])  # timing variants: same counts
    first, second = heads_compared(rows["head"])
    pairs = with_baseline(rows, KEYS)
    saved = pairs["params_total_base"] - pairs["params_total"]
    return pd.DataFrame({
        "model": [spec(h).label(m, i) for h, m, i in zip(pairs["head"], pairs["merge"], pairs["ksac_impl"])],
        "backbone": pairs["backbone"], "decoder": ["V3+" if bool(d) else "V3" for d in pairs["decoder"]],
        "OS": pairs["output_stride"].astype(int), "rates": pairs["rates"], "KSAC merge": pairs["merge"],
        "KSAC impl": pairs["ksac_impl"], f"{second} params (M)": pairs["params_total_base"] / 1e6,
        f"{first} params (M)": pairs["params_total"] / 1e6, "saved (M)": saved / 1e6,
        "saved (%)": 100.0 * saved / pairs["params_total_base"],
        "head saved (%)": 100.0 * (pairs["params_head_base"] - pairs["params_head"]) / pairs["params_head_base"],
        f"{second} GMACs": pairs["gmacs_total_base"].astype(float),
        f"{first} GMACs": pairs["gmacs_total"].astype(float),
    })

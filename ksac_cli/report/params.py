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
    out = []
    for _, k in with_baseline(rows, KEYS).iterrows():
        base, saved = int(k["params_total_base"]), int(k["params_total_base"]) - int(k["params_total"])
        out.append({
            "model": spec(k["head"]).label(k["merge"], k["ksac_impl"]), "backbone": k["backbone"],
            "decoder": "V3+" if bool(k["decoder"]) else "V3", "OS": int(k["output_stride"]), "rates": k["rates"],
            "KSAC merge": k["merge"], "KSAC impl": k["ksac_impl"],
            f"{second} params (M)": base / 1e6, f"{first} params (M)": int(k["params_total"]) / 1e6,
            "saved (M)": saved / 1e6, "saved (%)": 100.0 * saved / base,
            "head saved (%)": 100.0 * (int(k["params_head_base"]) - int(k["params_head"])) / int(k["params_head_base"]),
            f"{second} GMACs": float(k["gmacs_total_base"]), f"{first} GMACs": float(k["gmacs_total"]),
        })
    return pd.DataFrame(out)

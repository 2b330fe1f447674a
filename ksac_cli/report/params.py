"""KSAC vs ASPP parameter and MAC reductions, from `ksac profile` rows (profile.csv / paper_params.csv)."""

from __future__ import annotations

import pandas as pd

KEYS = ["backbone", "decoder", "output_stride", "rates"]


def reduction_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per KSAC model: its parameters and MACs beside the ASPP model with the same backbone,
    decoder, output stride and rates, and the reduction in millions and in percent of the whole model."""
    rows = rows.copy()
    rows["rates"] = rows["rates"].astype(str)
    if "ksac_impl" not in rows:  # written before the taps implementation existed: conv
        rows["ksac_impl"] = rows["head"].map(lambda h: "conv" if h == "ksac" else "-")
    rows = rows.drop_duplicates(subset=["head", "merge", "ksac_impl", *KEYS])  # timing variants: same counts
    aspp = rows[rows["head"] == "aspp"].set_index(KEYS)
    out = []
    for _, k in rows[rows["head"] == "ksac"].iterrows():
        key = tuple(k[c] for c in KEYS)
        if key not in aspp.index:
            continue
        a = aspp.loc[key]
        if isinstance(a, pd.DataFrame):
            a = a.iloc[0]
        saved = int(a["params_total"]) - int(k["params_total"])
        out.append({
            "backbone": k["backbone"],
            "decoder": "V3+" if bool(k["decoder"]) else "V3",
            "OS": int(k["output_stride"]),
            "rates": k["rates"],
            "KSAC merge": k["merge"],
            "KSAC impl": k["ksac_impl"],
            "ASPP params (M)": int(a["params_total"]) / 1e6,
            "KSAC params (M)": int(k["params_total"]) / 1e6,
            "saved (M)": saved / 1e6,
            "saved (%)": 100.0 * saved / int(a["params_total"]),
            "head saved (%)": 100.0 * (int(a["params_head"]) - int(k["params_head"])) / int(a["params_head"]),
            "ASPP GMACs": float(a["gmacs_total"]),
            "KSAC GMACs": float(k["gmacs_total"]),
        })
    return pd.DataFrame(out)

"""Each candidate head (KSAC, a user's) vs ASPP: parameter and MAC reductions, from `ksac profile` rows (profile.csv / paper_params.csv)."""

from __future__ import annotations

import pandas as pd

from ksac_cli.heads import BASELINE, CANDIDATE, by_role, spec

KEYS = ["backbone", "decoder", "output_stride", "rates"]


def reduction_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per candidate model (ksac_cli/heads.py): its parameters and MACs beside the ASPP model with the same backbone,
    decoder, output stride and rates, and the reduction in millions and in percent of the whole model."""
    rows = rows.copy()
    rows["rates"] = rows["rates"].astype(str)
    if "ksac_impl" not in rows:  # written before the taps implementation existed: conv
        rows["ksac_impl"] = rows["head"].map(lambda h: spec(h).value("ksac_impl", "conv"))
    rows = rows.drop_duplicates(subset=["head", "merge", "ksac_impl", *KEYS])  # timing variants: same counts
    aspp = rows[by_role(rows["head"], BASELINE)].set_index(KEYS)
    out = []
    for _, k in rows[by_role(rows["head"], CANDIDATE)].iterrows():
        key = tuple(k[c] for c in KEYS)
        if key not in aspp.index:
            continue
        a = aspp.loc[key]
        if isinstance(a, pd.DataFrame):
            a = a.iloc[0]
        saved = int(a["params_total"]) - int(k["params_total"])
        out.append({
            "model": spec(k["head"]).label(k["merge"], k["ksac_impl"]), "backbone": k["backbone"],
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

"""Resolving power of an ablation protocol on this machine: what a 15-minute `ksac ablate` can tell apart.

For a named protocol (the quick recipe plus any `ksac ablate` flags), runs `ksac ablate --seeds N` into a
scratch folder (or reads an existing ablation's rows with --rows) and measures, per KSAC-vs-ASPP rate set:

- round_s: seconds per seed round (the 4 cells of one seed), the median of the gaps between the last rows of
  consecutive seeds (row dates, 1 s resolution); the first round, which also pays the dataset's generation,
  the seed plan and the start-up, is left out and its excess over a round reported as once_s;
- paired_sd: the std over seeds of the per-seed KSAC - ASPP val mIoU difference (points): the term that
  more seeds shrink;
- the variance components of report/twoway.py when the runs left per-image evidence (as
  benchmarks/interval_levers.py computes them), else the seeds-only model;

and from them the seeds the budget buys, floor((budget - once_s) / round_s), the half-width those seeds are
expected to reach, and the seeds and minutes +-target would need. One row per rate set, with the CPU, its
instruction set (emulated or not) and the precision, appended to --out (results/resolving_power.csv).

    python benchmarks/resolving_power.py --protocol quick --seeds 6
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \\
        python benchmarks/resolving_power.py --protocol quick --seeds 6 -- --amp off   # AVX2 float32, emulated
    python benchmarks/resolving_power.py --protocol quick --rows results/ablation.csv  # rows already made
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interval_levers import half_width, pair_evidence, predicted  # noqa: E402
from rows_out import append_rows, save_beside, split_flags  # noqa: E402

from ksac_cli.experiments.plan import half_width as t_half_width  # noqa: E402
from ksac_cli.experiments.rows import RUN  # noqa: E402
from ksac_cli.report import ablation  # noqa: E402
from ksac_cli.report.evidence import EvidenceStore  # noqa: E402

COLUMNS = ["protocol", "rates", "seeds", "images", "round_s", "once_s", "paired_sd", "half_width",
           "budget_min", "seeds_in_budget", "half_width_in_budget", "target", "seeds_for_target",
           "minutes_for_target", "min_cell_miou", "min_class_iou", "interval_model", "cpu", "isa", "precision",
           "flags", "git_commit", "date"]


def isa(device: str, ran_here: bool) -> str:
    """The instruction set the rows' device string names (machine.device_name), and whether this script ran
    them with it lowered by the environment (AVX2 emulated on a newer CPU)."""
    capability = next((w for w in ("AVX512", "AVX2", "DEFAULT") if w in device), "?")
    lowered = ran_here and (os.environ.get("ATEN_CPU_CAPABILITY") or os.environ.get("ONEDNN_MAX_CPU_ISA"))
    return f"{capability} (emulated via ATEN_CPU_CAPABILITY/ONEDNN_MAX_CPU_ISA)" if lowered else capability


def run_ablation(work: Path, seeds: int, flags: list[str]) -> tuple[Path, float]:
    """`ksac ablate --seeds N` into `work`; returns its rows' CSV and the command's wall seconds."""
    results = work / "results"
    command = [sys.executable, "-m", "ksac_cli", "ablate", "--seeds", str(seeds), "--out", str(work / "runs"), "--results",
               f"{results}/", *flags]
    print("running:", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    print(f"ksac ablate took {wall:.0f} s", flush=True)
    return results / "ablation.csv", wall


def newest_run(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of one run (rows.RUN: grid, commit, amp, device), the newest: a file may hold several runs,
    whose seeds are never pooled (the report's rule)."""
    run = [c for c in RUN if c in df]
    last = df.loc[pd.to_datetime(df["date"]).idxmax(), run]
    return df[(df[run] == last).all(axis=1)]


def round_seconds(df: pd.DataFrame) -> float:
    """The median seconds per seed round after the first (the gaps between the last rows of consecutive seeds)."""
    ends = pd.to_datetime(df["date"]).groupby(df["seed"]).max().sort_index()
    gaps = ends.diff().dropna().dt.total_seconds().tolist()
    if not gaps:
        raise SystemExit("one seed round only: give --seeds 3 or more to time a round")
    return statistics.median(gaps)


def evaluate_protocol(df: pd.DataFrame, protocol: str, flags: list[str], budget_min: float, target: float,
                      round_s: float, once_s: float, ran_here: bool) -> list[dict]:
    """One row per rate set (the rows `df` with status ok); `round_s`: seconds per seed round (`round_seconds`),
    `once_s`: the one-off seconds a fresh clone's run pays before its rounds."""
    classes = [json.loads(v) for v in df["per_class_iou"] if isinstance(v, str) and v]
    store, rows = EvidenceStore(), []
    for rates in dict.fromkeys(df["rates"]):
        part = df[df["rates"] == rates]
        per_seed = part.pivot_table(index="seed", columns="head", values="miou", aggfunc="last").dropna()
        if {"ksac", "aspp"} - set(per_seed.columns) or len(per_seed) < 2:
            continue
        diffs = 100 * (per_seed["ksac"] - per_seed["aspp"]).to_numpy()
        n = len(diffs)
        sd = float(np.std(diffs, ddof=1))
        in_budget = max(int((60 * budget_min - once_s) // round_s), 0)
        try:  # the two-way model, from the runs' per-image evidence
            first, second, _ = pair_evidence(part, rates, store)
            measured, joint = half_width(first, second)
            a, b, c = joint.seed_var, joint.image_var, joint.residual_var
            images = first.shape[1]
            comp = {"a": max(a - c, 0.0) * n, "b": max(b - c, 0.0) * images, "e": c * n * images}
            model = "two-way (seeds x images)"

            def width(k: int) -> float:
                return predicted(comp, k, images) if k >= 2 else math.inf
        except (SystemExit, KeyError, ValueError, FileNotFoundError):
            images, model = 0, "seeds only (no per-image evidence)"
            measured = t_half_width(sd, n)

            def width(k: int) -> float:
                return t_half_width(sd, k) if k >= 2 else math.inf
        need = next((k for k in range(2, 501) if width(k) <= target), None)
        rows.append({
            "protocol": protocol, "rates": rates, "seeds": n, "images": images, "round_s": round(round_s, 1),
            "once_s": round(once_s, 1), "paired_sd": round(sd, 3), "half_width": round(measured, 3),
            "budget_min": budget_min, "seeds_in_budget": in_budget,
            "half_width_in_budget": round(width(in_budget), 3) if in_budget >= 2 else "",
            "target": target, "seeds_for_target": need or "",
            "minutes_for_target": round((once_s + need * round_s) / 60, 1) if need else "",
            "min_cell_miou": round(100 * df["miou"].min(), 2),
            "min_class_iou": round(100 * min(min(c.values()) for c in classes), 2) if classes else "",
            "interval_model": model, "cpu": df["device"].iloc[-1], "isa": isa(df["device"].iloc[-1], ran_here),
            "precision": "/".join(sorted(set(df["amp"].astype(str)))), "flags": " ".join(flags),
            "git_commit": df["git_commit"].iloc[-1], "date": df["date"].max(),
        })
    return rows


def plot(csv_path: Path) -> Path:
    """One horizontal bar per row (protocol, ISA, precision, rates): the half-width the budget is expected to buy,
    on a log axis (rows range from +-0.2 to +-10), with the two targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.read_csv(csv_path)
    labels = [f"{r.protocol} | {r.isa.split(' ')[0]} {r.precision} | {r.rates}" for r in df.itertuples()]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(df) + 1.2))
    ax.barh(range(len(df)), df["half_width_in_budget"].fillna(0), color="#4c72b0")
    ax.axvline(0.5, color="k", ls="--", lw=1, label="+-0.5 (AVX2 target)")
    ax.axvline(0.3, color="grey", ls=":", lw=1, label="+-0.3 (native bf16 target)")
    ax.set_yticks(range(len(df)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("expected 95% half-width of KSAC - ASPP in the budget (points, log scale)")
    ax.set_title("What the budget resolves, per protocol (benchmarks/resolving_power.py)", fontsize=9)
    ax.legend(fontsize=7)
    return save_beside(fig, csv_path)


def main(argv: list[str] | None = None) -> None:
    argv, flags = split_flags(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", required=True, help="a name for the protocol (the flags after -- define it)")
    parser.add_argument("--seeds", type=int, default=6, help="seeds per cell to run (3 or more)")
    parser.add_argument("--rows", help="an existing ablation CSV to read instead of running one")
    parser.add_argument("--work", help="the scratch folder [default: runs/resolving_power/<protocol>]")
    parser.add_argument("--budget", type=float, default=15.0, help="minutes")
    parser.add_argument("--once", type=float, help="one-off seconds of a fresh clone's run (dataset, plan, start-up) "
                                                   "[default: the run's wall time less its rounds; 0 with --rows]")
    parser.add_argument("--target", type=float, default=0.5, help="half-width to plan for, points")
    parser.add_argument("--out", default="results/resolving_power.csv", help="the CSV to append to (+ a .png)")
    args = parser.parse_args(argv)
    work = Path(args.work or f"runs/resolving_power/{args.protocol}")
    rows_csv, wall = (Path(args.rows), None) if args.rows else run_ablation(work, args.seeds, flags)
    df = ablation.load(rows_csv)
    df = newest_run(df[df["status"] == "ok"] if "status" in df else df)
    round_s = round_seconds(df)
    once = args.once if args.once is not None else (max(wall - df["seed"].nunique() * round_s, 0.0) if wall else 0.0)
    rows = evaluate_protocol(df, args.protocol, flags, args.budget, args.target, round_s, once, not args.rows)
    out = Path(args.out)
    append_rows(out, COLUMNS, rows)
    for r in rows:
        print(f"{r['protocol']} rates {r['rates']} ({r['isa']}, {r['precision']}): {r['round_s']} s/round, "
              f"paired sd {r['paired_sd']} points, +-{r['half_width']} at {r['seeds']} seeds; {args.budget:g} min "
              f"buy {r['seeds_in_budget']} seeds -> +-{r['half_width_in_budget']}; +-{args.target} needs "
              f"{r['seeds_for_target']} seeds ({r['minutes_for_target']} min)")
    print(f"wrote {out} and {plot(out)}")


if __name__ == "__main__":
    main()

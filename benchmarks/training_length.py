"""Does KSAC - ASPP depend on how long the models train? One ablation per training length, the same seeds.

For each length in --iters, runs `ksac ablate --iters N --seeds S` (the default grid: ASPP and KSAC at rates
6,12,18 and 6,12,18,24, on the recipe's protocol plus the flags after --) into <work>/iters_<N>/. Every
length uses seeds 0..S-1, so the cells of one seed start from the same weights (models/init.py keys them by
seed and module name) and see the same data stream at every length; only the schedule's length changes (the
poly schedule and warm-up are a function of progress, so each length decays to zero at its own end). Then,
per length and rate set, the paired KSAC - ASPP mIoU difference with the interval `ksac report` gives it
(report/twoway.py over seeds and val images, from the cells' per-image evidence), appended to --out
(results/training_length.csv, one row per length and rate set, with the CPU and precision), and a plot of the
difference against the length (.png beside it).

    python benchmarks/training_length.py --iters 35,70,140,280 --seeds 8                  # frozen backbone
    python benchmarks/training_length.py --iters 280 --seeds 4 --label unfrozen -- --no-freeze-backbone

Rerunning the same command resumes: each length's ablation skips its finished cells.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interval_levers import half_width, pair_evidence  # noqa: E402
from resolving_power import isa, newest_run  # noqa: E402
from rows_out import append_rows, save_beside, split_flags  # noqa: E402

from ksac_cli.report import ablation  # noqa: E402
from ksac_cli.report.evidence import EvidenceStore  # noqa: E402
from ksac_cli.report.protocol import PRECISION  # noqa: E402

COLUMNS = ["label", "iters", "rates", "seeds", "images", "aspp_miou", "ksac_miou", "delta", "low", "high",
           "half_width", "seed_sd", "min_cell_miou", "minutes", "cpu", "isa", "precision", "flags", "git_commit",
           "date"]


def run_length(work: Path, iters: int, seeds: int, flags: list[str]) -> tuple[Path, float]:
    """`ksac ablate` at `iters` iterations into work/iters_<iters>; its rows' CSV and wall seconds."""
    folder = work / f"iters_{iters}"
    command = [sys.executable, "-m", "ksac_cli", "ablate", "--iters", str(iters), "--save-every", str(iters),
               "--seeds", str(seeds), "--out", str(folder / "runs"), "--results", f"{folder / 'results'}/", *flags]
    print("running:", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return folder / "results" / "ablation.csv", time.perf_counter() - started


def length_rows(df: pd.DataFrame, label: str, iters: int, minutes: float, flags: list[str]) -> list[dict]:
    """One row per rate set: each head's mean mIoU and KSAC - ASPP with its two-way interval (points)."""
    store, rows = EvidenceStore(), []
    for rates in dict.fromkeys(df["rates"]):
        part = df[df["rates"] == rates]
        first, second, seeds = pair_evidence(part, rates, store)
        if len(seeds) < 2:
            continue
        width, joint = half_width(first, second)
        per_seed = part.pivot_table(index="seed", columns="head", values="miou", aggfunc="last").loc[seeds]
        device = df["device"].iloc[-1]
        rows.append({
            "label": label, "iters": iters, "rates": rates, "seeds": len(seeds), "images": first.shape[1],
            "aspp_miou": round(100 * per_seed["aspp"].mean(), 2), "ksac_miou": round(100 * per_seed["ksac"].mean(), 2),
            "delta": round(100 * joint.delta, 3), "low": round(100 * joint.low, 3), "high": round(100 * joint.high, 3),
            "half_width": round(width, 3), "seed_sd": round(100 * (per_seed["ksac"] - per_seed["aspp"]).std(), 3),
            "min_cell_miou": round(100 * part["miou"].min(), 2), "minutes": round(minutes, 1), "cpu": device,
            "isa": isa(device, True), "precision": "/".join(sorted(set(df["amp"].astype(str)))),
            "flags": " ".join(flags), "git_commit": df["git_commit"].iloc[-1], "date": df["date"].max(),
        })
    return rows


def plot(csv_path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.read_csv(csv_path, dtype={"rates": str})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    groups = list(df.groupby(["label", "rates", "precision"], sort=False))
    for i, ((label, rates, precision), g) in enumerate(groups):
        g = g.sort_values("iters")
        x = g["iters"] * (1 + 0.04 * (i - (len(groups) - 1) / 2))  # side by side on the log axis
        ax.errorbar(x, g["delta"], yerr=[g["delta"] - g["low"], g["high"] - g["delta"]], marker="o", capsize=3,
                    ls="-" if label == "frozen" else "none",
                    label=f"{label}, rates {rates}, {PRECISION.get(precision, precision)}")
    ax.axhline(0, color="k", lw=0.8)
    ax.axhline(0.6, color="grey", ls="--", lw=1, label="paper (MobileNetV2): +0.6")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sorted(df["iters"].unique()), [str(i) for i in sorted(df["iters"].unique())])
    ax.set_xlabel("training iterations (each its own schedule)")
    ax.set_ylabel("KSAC - ASPP val mIoU (points), 95% interval")
    isas = ", ".join(dict.fromkeys(isa.split(" ")[0] for isa in df["isa"]))
    ax.set_title(f"KSAC - ASPP against training length ({isas})", fontsize=9)
    ax.legend(fontsize=7)
    return save_beside(fig, csv_path)


def main(argv: list[str] | None = None) -> None:
    argv, flags = split_flags(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", default="35,70,140,280", help="training lengths, a comma list")
    parser.add_argument("--seeds", type=int, default=8, help="seeds per cell at every length (fixed before any run)")
    parser.add_argument("--label", default="frozen", help="the rows' label (e.g. unfrozen with --no-freeze-backbone)")
    parser.add_argument("--work", default="runs/training_length", help="the runs' folder")
    parser.add_argument("--out", default="results/training_length.csv", help="the CSV to append to (+ a .png)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    for iters in (int(i) for i in args.iters.split(",")):
        rows_csv, wall = run_length(Path(args.work) / args.label, iters, args.seeds, flags)
        df = ablation.load(rows_csv)
        df = newest_run(df[df["status"] == "ok"])
        rows = length_rows(df, args.label, iters, wall / 60, flags)
        append_rows(out, COLUMNS, rows)
        for r in rows:
            print(f"{args.label} {iters} iterations, rates {r['rates']}: ASPP {r['aspp_miou']}, KSAC {r['ksac_miou']}, "
                  f"KSAC - ASPP {r['delta']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}] over {r['seeds']} seeds x "
                  f"{r['images']} images ({r['minutes']} min)", flush=True)
    print(f"wrote {out} and {plot(out)}")


if __name__ == "__main__":
    main()

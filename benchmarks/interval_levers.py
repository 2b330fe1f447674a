"""What narrows the KSAC - ASPP interval: more seeds, or more val images? From an ablation's own runs.

For each KSAC-vs-ASPP pair of the ablation (results/ablation.csv, seed stream 0), the cells' per-image
confusion matrices (eval_images.npz) give the interval of report/twoway.py on every subset of the first n
seeds and the first N val images. The full data's variance components then predict the half-width of any
(n, N) by the two-way crossed model of twoway.py's docstring:

    V(n, N) = sigma_a^2 / n + sigma_b^2 / N + sigma_e^2 / (n N)
    sigma_e^2 = n0 N0 C,  sigma_a^2 = n0 (A - C),  sigma_b^2 = N0 (B - C)   (components below 0 taken as 0)

and the seeds needed for a half-width <= --target at each val size (Student's t on seeds - 1 df).
Prints a table and writes a CSV.

    python benchmarks/interval_levers.py --results results --out results/interval_levers.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from ksac_cli.report import ablation, compare
from ksac_cli.report.evidence import EvidenceStore, aligned
from ksac_cli.report.stats import miou
from ksac_cli.report.twoway import seeds_and_images


def pair_evidence(df, rates: str, store: EvidenceStore) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(KSAC's, ASPP's (S, N, K, K) matrices, the seeds), paired by seed, images in sorted-id order."""
    rows = compare.first_stream(df[df["rates"] == rates])
    ksac = rows[rows["head"] == "ksac"].drop_duplicates("seed", keep="last").set_index("seed")
    aspp = rows[rows["head"] == "aspp"].drop_duplicates("seed", keep="last").set_index("seed")
    seeds = sorted(set(ksac.index) & set(aspp.index))
    first, second = [], []
    for seed in seeds:
        a, b = store.get(ksac.loc[seed, "run_dir"]), store.get(aspp.loc[seed, "run_dir"])
        if isinstance(a, str) or isinstance(b, str):
            sys.exit(f"seed {seed} of rates {rates}: {a if isinstance(a, str) else b}")
        conf_a, conf_b = aligned(a, b)
        first.append(conf_a)
        second.append(conf_b)
    return np.stack(first), np.stack(second), seeds


def half_width(first: np.ndarray, second: np.ndarray) -> tuple[float, object]:
    joint = seeds_and_images(first, second, miou)
    return 100 * (joint.high - joint.low) / 2, joint


def predicted(components: dict, seeds: int, images: int, confidence: float = 0.95) -> float:
    """The half-width (points) of the two-way model at `seeds` x `images`, with Student's t quantile on
    seeds - 1 degrees of freedom (the seeds' term dominates here; the image term's df is in the hundreds)."""
    v = components["a"] / seeds + components["b"] / images + components["e"] / (seeds * images)
    return 1e2 * scipy_stats.t.ppf(0.5 + confidence / 2, seeds - 1) * np.sqrt(v)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the folder of ablation.csv")
    parser.add_argument("--out", default="results/interval_levers.csv", help="the CSV to write")
    parser.add_argument("--target", type=float, default=0.5, help="half-width to plan for, points")
    args = parser.parse_args(argv)
    df = ablation.load(Path(args.results) / "ablation.csv")
    store, out = EvidenceStore(), []
    for rates in dict.fromkeys(df["rates"]):
        first, second, seeds = pair_evidence(df, rates, store)
        n0, n_images = first.shape[:2]
        if n0 < 2:
            continue
        full, joint = half_width(first, second)
        a, b, c = joint.seed_var, joint.image_var, joint.residual_var
        components = {"a": max(a - c, 0.0) * n0, "b": max(b - c, 0.0) * n_images, "e": c * n0 * n_images}
        print(f"rates {rates}: delta {100 * joint.delta:+.2f} points, +-{full:.2f} with {n0} seeds x {n_images} "
              f"images; components (points^2): seed {1e4 * components['a']:.3f}, image {1e4 * components['b']:.1f}, "
              f"residual {1e4 * components['e']:.1f}")
        sizes = sorted({s for s in (50, 100, 200, n_images) if s <= n_images})
        for images in sizes:
            for n in range(2, n0 + 1):
                measured, _ = half_width(first[:n, :images], second[:n, :images])
                row = {"rates": rates, "seeds": n, "images": images, "measured_half_width": round(measured, 3),
                       "predicted_half_width": round(predicted(components, n, images), 3)}
                out.append(row)
                print(f"  {n:2d} seeds x {images:4d} images: measured +-{measured:.2f}, "
                      f"model +-{row['predicted_half_width']:.2f}")
        for images in (*sizes, 2 * n_images, 4 * n_images):
            need = next((n for n in range(2, 201) if predicted(components, n, images) <= args.target), None)
            print(f"  seeds for +-{args.target} at {images} images: {need if need else 'over 200'}")
            out.append({"rates": rates, "seeds": need or "", "images": images, "measured_half_width": "",
                        "predicted_half_width": args.target})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, ["rates", "seeds", "images", "measured_half_width", "predicted_half_width"])
        writer.writeheader()
        writer.writerows(out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

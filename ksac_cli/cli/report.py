"""`ksac report`: paper-style tables (Markdown, CSV, LaTeX) and plots from results/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli.cli import options, output


def report(
    results: Annotated[Path, typer.Option("--results", help="The results FOLDER to read (the files listed above; what ksac ablate --results, ksac profile --out and ksac analyze --out write into).")] = Path("results"),
    out: Annotated[Optional[Path], typer.Option("--out", help="The FOLDER to write report.md, the report_*.csv/.tex tables and the plots into [default: --results].")] = None,
    pool: Annotated[bool, typer.Option("--pool", help="Pool the runs of ablation.csv (rows of other commits, precisions or machines) into one verdict; refused unless they share one precision and, for every cell and seed two runs made, one config. Default: the verdicts are the newest run's (one grid, commit, precision and device), every other run's rows (e.g. the committed reference rows) beside them with their own.")] = False,
) -> None:
    """Write paper-style tables and plots from the toolkit's files. A missing input is reported (under "Not made" in
    report.md) with the command that makes it; every other table is still made.

    Reads, in --results: ablation.csv (ksac ablate) and, through its run_dir column, each cell's eval_images.npz
    (the bootstrap over val images), samples/ (the qualitative figures), metrics.jsonl and eval.jsonl (the
    training curves); analysis_scales.csv, analysis_branches.csv, analysis_erf.csv and analysis_erf.npz (ksac
    analyze; only the runs whose config_hash is in ablation.csv); profile.csv (ksac profile) and paper_params.csv
    (ksac profile --recipe paper_params).

    Writes, in --out: report.md, which leads with a forest plot (forest.png) and the verdicts (KSAC minus ASPP,
    and adding rate 24, paired by seed, each with its 95% interval over seeds AND val images, δ at most the
    paper's claim, the claim's place against the interval, Holm's correction within each family, the verdict with
    each seed left out; docs/results.md), then every table, each also as report_<name>.csv and report_<name>.tex
    (booktabs): verdicts; ksac_vs_aspp, ksac_vs_aspp_size, ksac_vs_aspp_class and rate24 (the paired
    comparisons); (a) params: parameters and MACs; (b) rates: mIoU per head and rate set; (b') paired: KSAC minus
    ASPP per seed; (c) per_class: per-class IoU; (d) size: IoU per object size; (e) analysis_scales and (e')
    analysis_scales_diff: the scale sweep; (f) analysis_branches: the per-rate contributions; (g) analysis_erf:
    the effective receptive fields; profile_reduction and paper_params_reduction: KSAC vs ASPP parameters and
    MACs. Plots: miou_vs_params.png, miou_by_rates.png, per_class_iou.png, size_iou.png, training_curves.png,
    qualitative*.png (image | truth | ASPP | KSAC), analysis_scales.png, analysis_erf.png.
    """
    if results.is_dir():  # else the workflow says what is wrong with --results
        options.writable_folder(out or results, "--out")
    from ksac_cli.workflows.report import report as make_report  # pandas and matplotlib: imported on use

    result = make_report(results, out, pool)
    for title, df in result.tables.items():
        output.frame_table(title, df)
    for message in result.missing:
        output.warning(message)
    output.info(f"wrote {len(result.files)} files, starting with {result.files[0]}")


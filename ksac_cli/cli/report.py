"""`ksac report`: paper-style tables (Markdown, CSV, LaTeX) and plots from results/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ksac_cli.cli import output


def report(
    results: Annotated[Path, typer.Option("--results", help="Folder holding ablation.csv, profile.csv and paper_params.csv.")] = Path("results"),
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md, report_*.csv/.tex and the plots [default: --results].")] = None,
) -> None:
    """Write paper-style tables and plots from the toolkit's CSVs. First the verdicts: KSAC minus ASPP, and
    adding rate 24, paired by seed, each with its 95% confidence interval (Student's t over seeds) and a
    paired bootstrap over val images per seed (1000 resamples, from each run's eval_images.npz); then
    (a) parameters and MACs, (b) mIoU per head and rate set, (c) per-class IoU, (d) IoU per object size,
    a qualitative figure (image | truth | ASPP | KSAC) and the plots. Each table as Markdown (report.md),
    CSV and LaTeX (booktabs). A missing input is reported with the command that makes it."""
    from ksac_cli.workflows.report import report as make_report  # pandas and matplotlib: imported on use

    result = make_report(results, out)
    for title, df in result.tables.items():
        rows = [[_fmt(v) for v in row] for row in df.itertuples(index=False)]
        output.table(title, [str(c) for c in df.columns], rows)
    for message in result.missing:
        output.warning(message)
    output.info(f"wrote {len(result.files)} files, starting with {result.files[0]}")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)

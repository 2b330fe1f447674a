"""`ksac report`: tables and plots from results/."""

from __future__ import annotations

from pathlib import Path

from ksac_cli.errors import KsacError


def report(results: str | Path = "results", out: str | Path | None = None, pool: bool = False):
    """Tables and plots from what `results` holds (see report/document.py); returns the Report. The verdicts
    are the newest run's; `pool` joins compatible runs (report/protocol.py)."""
    from ksac_cli.report.document import make_report

    results = Path(results)
    if results.is_file():
        raise KsacError(f"--results: {results} is a file; give the FOLDER that holds ablation.csv, profile.csv, "
                        f"analysis_*.csv (e.g. {results.parent})")
    if not results.is_dir():
        raise KsacError(f"--results: folder {results} does not exist; run ksac ablate or ksac profile first")
    return make_report(results, Path(out) if out else results, pool)


def answer(csv_path: str | Path, grid: str):
    """(title, table) of the newest run's primary verdicts among `grid`'s rows of the ablation CSV `csv_path`,
    or None (report/document.py `answer`): what ksac ablate ends with."""
    from ksac_cli.report.document import answer as primary

    return primary(Path(csv_path), grid) if Path(csv_path).is_file() else None

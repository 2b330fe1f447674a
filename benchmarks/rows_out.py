"""What the benchmarks that append result rows share: the `ksac ablate` flags after `--`, appending rows
to a CSV (the header written once, when the file is new), and the plot written beside it."""

from __future__ import annotations

import csv
from pathlib import Path


def split_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the script's own arguments, the `ksac ablate` flags after `--`)."""
    if "--" not in argv:
        return argv, []
    return argv[:argv.index("--")], argv[argv.index("--") + 1:]


def append_rows(out: Path, columns: list[str], rows: list[dict]) -> None:
    new = not out.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", newline="") as f:
        writer = csv.DictWriter(f, columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def save_beside(fig, csv_path: Path) -> Path:
    """`fig` laid out and written as the .png beside `csv_path`, then closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = csv_path.with_suffix(".png")
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out

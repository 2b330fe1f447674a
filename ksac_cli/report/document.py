"""`ksac report`: read what results/ holds, write every table (Markdown, CSV, LaTeX) and plot it can,
and one report.md; a missing input is reported with the command that makes it, never fatal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ksac_cli import io
from ksac_cli.report import ablation, figures
from ksac_cli.report.params import reduction_table
from ksac_cli.report.tables import to_latex, to_markdown

MAKERS = {
    "ablation.csv": "ksac ablate",
    "profile.csv": "ksac profile",
    "paper_params.csv": "ksac profile --recipe recipes/paper_params.yaml",
}


@dataclass
class Report:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # title -> table
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be made, and how to make its input


def make_report(results: Path, out: Path) -> Report:
    results, out = Path(results), Path(out)
    report = Report()
    sections: list[str] = []

    def table(slug: str, title: str, df: pd.DataFrame, note: str) -> None:
        if df.empty:
            return
        report.tables[title] = df
        for suffix, text in ((".csv", df.to_csv(index=False)), (".tex", to_latex(df, caption=title))):
            io.write_text(out / f"report_{slug}{suffix}", text)
            report.files.append(out / f"report_{slug}{suffix}")
        sections.append(f"## {title}\n\n{note}\n\n{to_markdown(df)}\nFiles: `report_{slug}.csv`, `report_{slug}.tex`.\n")

    def plot(name: str, title: str, draw) -> None:
        path = out / name
        if draw(path) is False:
            return
        report.files.append(path)
        sections.append(f"![{title}]({name})\n")

    for name in ("paper_params.csv", "profile.csv"):
        if (results / name).is_file():
            rows = pd.read_csv(results / name, dtype={"rates": str})
            table(name.removesuffix(".csv") + "_reduction", f"Parameters and MACs from {name}",
                  reduction_table(rows), f"KSAC vs ASPP with the same backbone, decoder, output stride and rates; "
                  f"whole-model parameters. Input: `{name}` ({MAKERS[name]}).")
        else:
            report.missing.append(f"no {name}: the parameter table from it needs `{MAKERS[name]}`")

    if (results / "ablation.csv").is_file():
        df = ablation.load(results / "ablation.csv")
        if df.empty:
            report.missing.append("ablation.csv has no successful rows: rerun `ksac ablate`")
        else:
            source = "Input: `ablation.csv` (ksac ablate)."
            table("params", "(a) Parameters and MACs of the ablation's models", ablation.params_table(df),
                  f"MACs from fvcore at the training crop, batch 1 (one multiply-add = one flop). {source}")
            table("rates", "(b) mIoU per head and rate set", ablation.rates_table(df),
                  f"Final val mIoU, mean ± std over seeds. {source}")
            table("paired", "(b') KSAC minus ASPP, paired by seed", ablation.paired_table(df),
                  f"Same backbone, output stride, rates and seed. {source}")
            table("per_class", "(c) Per-class IoU (%)", ablation.per_class_table(df), f"Mean over seeds. {source}")
            size = ablation.size_table(df)
            table("size", "(d) IoU by object size (%)", size,
                  "IoU over the pixels of ground-truth objects of each size (connected components: small < "
                  f"32x32 px, medium < 96x96 px, large); 'vs ASPP' is KSAC minus ASPP in points. {source}")
            sections.append("## Plots\n")
            plot("miou_vs_params.png", "mIoU vs parameters", lambda p: figures.miou_vs_params(df, p))
            plot("miou_by_rates.png", "mIoU per rate set", lambda p: figures.miou_by_rates(df, p))
            plot("per_class_iou.png", "per-class IoU", lambda p: figures.per_class_bars(ablation.per_class_table(df), p))
            plot("size_iou.png", "IoU by object size", lambda p: figures.size_bars(size, p))
            plot("training_curves.png", "training curves", lambda p: figures.training_curves(df, p))
    else:
        report.missing.append("no ablation.csv: tables (a)-(d) and the plots need `ksac ablate`")

    missing = "".join(f"- {m}\n" for m in report.missing)
    text = ("# ksac report\n\nMade by `ksac report` from the files in `" + str(results) + "`.\n\n"
            + "\n".join(sections) + (f"\n## Not made\n\n{missing}" if missing else ""))
    io.write_text(out / "report.md", text)
    report.files.insert(0, out / "report.md")
    return report

"""`ksac report`: read what results/ holds, write every table (Markdown, CSV, LaTeX) and plot it can,
and one report.md; a missing input is reported with the command that makes it, never fatal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ksac_cli import io
from ksac_cli.config.schema import ABLATION_CSV
from ksac_cli.report import ablation, ablation_plots, analysis, compare, protocol, verdicts
from ksac_cli.report.claims import PRIMARY, judge
from ksac_cli.report.evidence import EvidenceStore
from ksac_cli.report.params import reduction_table
from ksac_cli.report.qualitative import qualitative_figures
from ksac_cli.report.tables import to_latex, to_markdown, with_groups

MAKERS = {
    ABLATION_CSV: "ksac ablate",
    "profile.csv": "ksac profile",
    "paper_params.csv": "ksac profile --recipe recipes/paper_params.yaml",
}


@dataclass
class Report:
    """What `make_report` made, and report.md's parts as they are made."""

    out: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # title -> table
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be made, and how to make its input
    lead: list[str] = field(default_factory=list)  # the verdicts
    sections: list[str] = field(default_factory=list)  # tables
    pictures: list[str] = field(default_factory=list)  # plots, after the tables

    def table(self, slug: str, title: str, df: pd.DataFrame, note: str, lead: bool = False,
              csv: pd.DataFrame | None = None) -> None:
        """`df` as Markdown, LaTeX and (unless `csv` is given) CSV; nothing when it is empty."""
        if df.empty:
            return
        self.tables[title] = df
        csv = df if csv is None else csv
        for suffix, text in ((".csv", csv.to_csv(index=False)), (".tex", to_latex(df, caption=title))):
            io.write_text(self.out / f"report_{slug}{suffix}", text)
            self.files.append(self.out / f"report_{slug}{suffix}")
        (self.lead if lead else self.sections).append(
            f"## {title}\n\n{note}\n\n{to_markdown(df)}\nFiles: `report_{slug}.csv`, `report_{slug}.tex`.\n")

    def plot(self, name: str, title: str, draw) -> None:
        """`draw(path)`, shown under Plots unless it returns False (nothing to draw)."""
        if draw(self.out / name) is not False:
            self.files.append(self.out / name)
            self.pictures.append(f"![{title}]({name})\n")


def make_report(results: Path, out: Path, pool: bool = False) -> Report:
    results, report = Path(results), Report(Path(out))
    groups, made = [], []
    if not (results / ABLATION_CSV).is_file():
        report.missing.append("no ablation.csv: tables (a)-(d) and the plots need `ksac ablate`")
    elif (df := ablation.load(results / ABLATION_CSV)).empty:
        report.missing.append("ablation.csv has no successful rows: rerun `ksac ablate`")
    else:
        groups = protocol.split(df, pool)  # the newest run's rows first (`pool`: compatible runs joined)
        made = _comparisons(df, groups, report)
    found = _analysis_input(results, analysis.runs_of(df) if groups else None, report)
    if groups:
        heads = ablation.heads_compared(df["head"])
        _verdicts(report, groups, made)
        _comparison_tables(report, groups, made, heads)
        _ablation(report, groups, heads)
    if found is not None:
        _analysis(report, found)
    _parameter_tables(report, results)

    missing = "".join(f"- {m}\n" for m in report.missing)
    text = ("# ksac report\n\nMade by `ksac report` from the files in `" + str(results) + "`.\n\n"
            + "".join(s + "\n" for s in report.lead) + "\n".join(report.sections)
            + ("\n## Plots\n\n" + "\n".join(report.pictures) if report.pictures else "")
            + (f"\n## Not made\n\n{missing}" if missing else ""))
    io.write_text(report.out / "report.md", text)
    report.files.insert(0, report.out / "report.md")
    return report


ANSWER = ["comparison", "Δ (points)", "95% CI", "verdict", "p (Holm) of the verdict", "paper's claim", "one seed out"]


def answer(csv_path: Path, grid: str) -> tuple[str, pd.DataFrame] | None:
    """(title naming the heads compared and the run, table): the newest run's primary verdicts (each candidate
    head minus ASPP on mIoU) among the rows of `grid`, judged as report.md judges them: the end of `ksac
    ablate`. None without them."""
    df = ablation.load(csv_path, grid)
    if df.empty:
        return None
    group = protocol.split(df)[0]
    rows = group.rows
    lines = [c.to_line(PRIMARY) for c in compare.ksac_vs_aspp(rows, EvidenceStore())]
    if not lines:
        return None
    judge(lines)
    seeds = sorted({x.interval.seeds for x in lines if x.interval is not None})
    iterations = "/".join(str(int(i)) for i in sorted(set(rows["iterations"].dropna())))  # the verdicts hold there
    first, second = ablation.heads_compared(rows["head"])
    return (f"{first} - {second} on mIoU after {iterations} training iterations, {'/'.join(map(str, seeds))} seeds per "
            f"cell, run: {group.run.short()}",
            verdicts.compact_frame(lines)[ANSWER])


def _verdicts(report: Report, groups: list[protocol.Group], made: list[dict]) -> None:
    """The report's lead: the forest plot, what the models were and the verdicts of each group's comparisons
    (`made`), judged together."""
    lines = [[c.line for comparisons in m.values() for c in comparisons] for m in made]
    judge([x for group_lines in lines for x in group_lines])
    protocols = protocol.describe(groups)
    forest = []
    if ablation_plots.forest_plot(lines[0], report.out / "forest.png"):
        report.files.append(report.out / "forest.png")
        forest = ["![each comparison's Δ with its 95% interval and the ±δ band](forest.png)"]

    def grouped(frame) -> pd.DataFrame:
        return with_groups([(g.title, frame(x)) for g, x in zip(groups, lines)])

    report.table("verdicts", "Verdicts", grouped(verdicts.compact_frame),
                 "\n\n".join([*forest, *protocols, verdicts.NOTE]), lead=True, csv=grouped(verdicts.full_frame))
    if not report.lead:  # what the models were, even when no two of them could be compared
        report.lead.append("## Verdicts\n\n" + "\n\n".join(protocols) + "\n\nNo paired comparison: no KSAC and "
                           "ASPP cells (or rate sets with and without 24) of one setting ran a common seed.\n")


def _parameter_tables(report: Report, results: Path) -> None:
    """Each candidate head vs ASPP: parameters and MACs from paper_params.csv and profile.csv (ksac profile)."""
    for name in ("paper_params.csv", "profile.csv"):
        if (results / name).is_file():
            rows = pd.read_csv(results / name, dtype={"rates": str})
            first, second = ablation.heads_compared(rows["head"])
            report.table(name.removesuffix(".csv") + "_reduction", f"Parameters and MACs from {name}",
                         reduction_table(rows), f"{first} vs {second} with the same backbone, decoder, output stride "
                         f"and rates; whole-model parameters. Input: `{name}` ({MAKERS[name]}).")
        else:
            report.missing.append(f"no {name}: the parameter table from it needs `{MAKERS[name]}`")


SIZES = [m for m in compare.METRICS if m != "mIoU"]
GROUPS = [  # (slug, the comparisons of some rows, the family of the main rows' lines)
    ("ksac_vs_aspp", compare.ksac_vs_aspp, PRIMARY),
    ("rate24_miou", lambda d, st: compare.with_rate(d, st, 24, ("mIoU",)), verdicts.RATE24),
    ("ksac_vs_aspp_size", lambda d, st: compare.ksac_vs_aspp(d, st, SIZES), verdicts.SIZE),
    ("rate24_size", lambda d, st: compare.with_rate(d, st, 24, SIZES), verdicts.SIZE),
    ("ksac_vs_aspp_class", lambda d, st: compare.ksac_vs_aspp(d, st, compare.class_metrics(d)), verdicts.CLASSES),
    ("a_a", compare.a_a, verdicts.AA),
]
TABLES = [  # (slug, title, the GROUPS shown, first, second); {first}, {second}: the heads compared
    ("ksac_vs_aspp", "{first} vs {second}: mIoU", ["ksac_vs_aspp"], "{first}", "{second}"),
    ("ksac_vs_aspp_size", "{first} vs {second}: IoU by object size", ["ksac_vs_aspp_size"], "{first}", "{second}"),
    ("ksac_vs_aspp_class", "{first} vs {second}: IoU per class", ["ksac_vs_aspp_class"], "{first}", "{second}"),
    ("rate24", "Adding rate 24 (rates + 24 minus rates, same head)", ["rate24_miou", "rate24_size"], "with 24",
     "without 24"),
    ("a_a", "A/A check: the same model, two seed streams", ["a_a"], "stream s", "stream 0"),
]
COMPARISON_NOTE = ("Inputs: `ablation.csv` (ksac ablate) and each cell's `eval_images.npz` (its `run_dir`). "
                   "Δ = first minus second in points. '95% CI of Δ (seeds + images)': the verdict's interval "
                   "(docs/results.md); 't, seeds only': Student's t over the paired seeds, which leaves the val "
                   "set's sampling out; bootstrap: 1000 resamples of the val images, the same for both runs, per "
                   "seed. Verdicts after Holm's correction within the family (see Verdicts).")


def _comparisons(df: pd.DataFrame, groups: list[protocol.Group], report: Report) -> list[dict]:
    """The paired comparisons of each group's rows among themselves (never pooled), each with its
    verdict-table line in its family: per group, {slug: comparisons}. Cells whose run directory is gone are
    counted in "Not made"."""
    store = EvidenceStore()
    out = []
    for group in groups:
        made = {}
        for slug, compare_rows, family in GROUPS:
            made[slug] = compare_rows(group.rows, store)
            for c in made[slug]:
                c.to_line(family, group.title)
        out.append(made)
    gone = sorted({r for r in df["run_dir"] if isinstance(r, str) and r and not Path(r).is_dir()})
    if gone:
        report.missing.append(f"the val images' part of the intervals of {len(gone)} cells (t over seeds only): run "
                              f"directory missing ({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''}); "
                              f"every other number is made")
    return out


def _comparison_tables(report: Report, groups: list[protocol.Group], made: list[dict], heads: tuple[str, str]):
    """The paired-comparison tables, each group's rows in their own row group; `heads`: (the candidate heads,
    the baseline) as ablation.heads_compared names them."""
    names = dict(zip(("first", "second"), heads))
    for slug, title, shown, first, second in TABLES:
        tables = [(g.title, compare.comparison_table([c for s in shown for c in m[s]], first.format(**names),
                                                     second.format(**names))) for g, m in zip(groups, made)]
        report.table(slug, title.format(**names), with_groups(tables), COMPARISON_NOTE)


def _analysis_input(results: Path, runs: dict[str, set[str]] | None, report: Report):
    """`ksac analyze`'s files, only the runs of the ablation rows (analysis.matching); None without them."""
    found = analysis.load(results)
    if found is None:
        report.missing.append(f"no {analysis.SCALES_CSV}: the scale sweep, receptive fields and per-rate "
                              f"contributions need `ksac analyze --ablation runs/ablate/<grid>`")
        return None
    found, why = analysis.matching(found, runs)
    if why:
        report.missing.append(f"ksac analyze's rows: {why}")
    return None if found.scales.empty else found


def _analysis(report: Report, found) -> None:
    """Tables (e)-(g) and the two plots of `ksac analyze`'s files."""
    source = f"Input: `{analysis.SCALES_CSV}` (ksac analyze), the runs of ablation.csv's rows."
    per_run = analysis.robustness(found.scales)
    first, second = ablation.heads_compared(found.scales["head"])
    report.table("analysis_scales", "(e) Scale sweep: mIoU away from the training scale",
                 analysis.robustness_table(per_run),
                 f"{_images_text(found.scales)} and their masks rescaled by one factor, single-scale inference. "
                 "miou_at_1: mIoU (%) at factor 1; mean_over_range: the area under mIoU(factor) divided by the "
                 "factors' range (%); change_at_x: mIoU at factor x minus at 1 (points). Mean and [95% t-CI] over "
                 "seeds. " + source)
    report.table("analysis_scales_diff", f"(e') Scale sweep: {first} minus {second}, paired by seed",
                 analysis.diff_table(analysis.ksac_minus_aspp(per_run)),
                 "Same rates and seed; the interval is Student's t over the paired seeds only: these files hold no "
                 "per-image evidence, so the val images' sampling is left out (where images dominate, such an "
                 "interval covers far less than 95%), and no verdict is made from it. " + source)
    if not found.branches.empty:
        report.table("analysis_branches", "(f) Per-rate contribution: mIoU drop with one atrous branch silenced",
                     analysis.branch_table(found.branches),
                     "The branch's output set to 0 after its BN and ReLU at test time (factor 1). Mean [95% t-CI] "
                     f"over seeds. Input: `{analysis.BRANCHES_CSV}`.")
    if not found.erf.empty:
        report.table("analysis_erf", "(g) Effective receptive field: radii holding 50% and 90% of the gradient mass",
                     analysis.erf_table(found.erf),
                     "|d (head output at the centre, summed over channels) / d input|, mean over val images and "
                     "input channels (Luo et al. 2016); radius around the map's centre of mass. 'model': w.r.t. the "
                     "image (pixels); 'head': w.r.t. the backbone's output (feature cells). Input: "
                     f"`{analysis.ERF_CSV}`.")
    report.plot("analysis_scales.png", "scale sweep", lambda p: analysis.scale_plot(found.scales, p))
    if found.maps is not None and not found.erf.empty:
        report.plot("analysis_erf.png", "effective receptive fields",
                    lambda p: analysis.erf_plot(found.erf, found.maps, p))


def _ablation(report: Report, groups: list[protocol.Group], heads: tuple[str, str]) -> None:
    """Tables (a)-(d), the plots and the qualitative figures of the main group's rows; tables (b)-(d) show each
    other group's rows in a row group of their own; `heads`: (the candidate heads, the baseline) as
    ablation.heads_compared names them."""
    df = compare.first_stream(groups[0].rows)  # A/A: own table
    source = "Input: `ablation.csv` (ksac ablate)."

    def grouped(make) -> pd.DataFrame:
        return with_groups([(g.title, make(compare.first_stream(g.rows))) for g in groups])

    report.table("params", "(a) Parameters and MACs of the ablation's models", ablation.params_table(df),
                 f"MACs from fvcore at the training crop, batch 1 (one multiply-add = one flop). {source}")
    report.table("rates", "(b) mIoU per head and rate set", grouped(ablation.rates_table),
                 f"Final val mIoU, mean ± std over seeds, and the 95% Student's t interval of the mean. {source}")
    report.table("paired", f"(b') {heads[0]} minus {heads[1]}, paired by seed", grouped(ablation.paired_table),
                 f"Same backbone, output stride, rates and seed. {source}")
    report.table("per_class", "(c) Per-class IoU (%)", grouped(ablation.per_class_table), f"Mean over seeds. {source}")
    report.table("size", "(d) IoU by object size (%)", grouped(ablation.size_table),
                 "IoU over the pixels of ground-truth objects of each size (connected components: small < "
                 f"32x32 px, medium < 96x96 px, large); 'vs ASPP' is {heads[0]} minus ASPP in points. {source}")
    report.plot("miou_vs_params.png", "mIoU vs parameters", lambda p: ablation_plots.miou_vs_params(df, p))
    report.plot("miou_by_rates.png", "mIoU per rate set", lambda p: ablation_plots.miou_by_rates(df, p))
    report.plot("per_class_iou.png", "per-class IoU",
                lambda p: ablation_plots.per_class_bars(ablation.per_class_table(df), p))
    report.plot("size_iou.png", "IoU by object size", lambda p: ablation_plots.size_bars(df, p))
    report.plot("training_curves.png", "training curves", lambda p: ablation_plots.training_curves(df, p))
    made, why_not = qualitative_figures(df, report.out)
    for name, title in made:
        report.files.append(report.out / name)
        report.pictures.append(f"![qualitative: ground truth, ASPP and KSAC, {title}]({name})\n")
    if why_not:
        report.missing.append(f"qualitative figures (qualitative_*.png): {why_not}")


def _images_text(scales: pd.DataFrame) -> str:
    """'The first 25 val images' (or 'Every val image' when ksac analyze did not record how many it used)."""
    counts = protocol.span(pd.to_numeric(scales.get("images", pd.Series(dtype=float)), errors="coerce"))
    return f"The first {counts} val images" if counts else "Every val image"

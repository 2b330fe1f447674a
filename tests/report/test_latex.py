"""Every LaTeX table `ksac report` makes (those committed in results/, remade here from the committed
inputs) fits a one-column article: each tabular sits in a \\resizebox that shrinks it to \\linewidth when
wider. With pdflatex on PATH they are compiled and the log must hold no "Overfull \\hbox"; without it the
structure is checked (which is all this machine can do)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from ksac_cli.report import ablation_plots, analysis, qualitative
from ksac_cli.report.document import make_report
from ksac_cli.report.tables import FIT_OPEN

RESULTS = Path(__file__).resolve().parents[2] / "results"
INPUTS = ("ablation.csv", "analysis_scales.csv", "analysis_branches.csv", "analysis_erf.csv", "profile.csv",
          "paper_params.csv")


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("results")
    for name in INPUTS:
        if (RESULTS / name).is_file():
            shutil.copy(RESULTS / name, folder / name)
    with pytest.MonkeyPatch.context() as patch:  # the plots are not under test here: drawn, never rendered
        for module in (ablation_plots, analysis, qualitative):
            patch.setattr(module, "save_figure", lambda fig, path: plt.close(fig))
        make_report(folder, folder / "out")
    return sorted((folder / "out").glob("report_*.tex"))


def test_every_committed_table_is_remade(tables):
    committed = {p.name for p in RESULTS.glob("report_*.tex")}
    with open(RESULTS / analysis.SCALES_CSV) as f:
        if "config_hash" not in f.readline():  # analysed before the rows named their run's config: left out
            committed = {name for name in committed if not name.startswith("report_analysis_")}
    assert committed and committed <= {p.name for p in tables}


def test_every_tabular_is_shrunk_to_the_line_width_when_wider(tables):
    for path in tables:
        lines = path.read_text().splitlines()
        begins = [n for n, line in enumerate(lines) if line.startswith(r"\begin{tabular}")]
        ends = [n for n, line in enumerate(lines) if line.startswith(r"\end{tabular}")]
        assert len(begins) == len(ends) >= 1, path.name
        for begin, end in zip(begins, ends):
            assert lines[begin - 1] == FIT_OPEN and lines[end + 1] == "}", path.name
        assert r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{" in FIT_OPEN
        text = "\n".join(lines)
        assert text.isascii(), path.name  # pdflatex stops at a character it has no definition for
        plain = text.replace(r"\{", "").replace(r"\}", "")
        assert plain.count("{") == plain.count("}"), path.name
        for row in lines[begins[0] + 1: ends[0]]:
            assert not re.match(r"\s*\[", row), (path.name, row)  # would be read as \\'s optional argument


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed here")
def test_every_table_compiles_in_a_one_column_article_without_an_overfull_box(tables, tmp_path):
    body = "".join(rf"\input{{{p.as_posix()}}}\clearpage" + "\n" for p in tables)
    (tmp_path / "tables.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n"
                                         "\\begin{document}\n" + body + "\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "tables.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    log = (tmp_path / "tables.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "Overfull \\hbox" not in log, log[-3000:]

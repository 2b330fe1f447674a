"""A pasted table names what it needs: the first line of every `.tex` table is a comment naming the packages
its commands come from (booktabs for the rules, graphicx for \\resizebox), so a document without them fails
with a reason the user can read in the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ksac_cli.report.tables import to_latex

RESULTS = Path(__file__).resolve().parents[2] / "results"
NEEDS = {r"\toprule": "booktabs", r"\midrule": "booktabs", r"\bottomrule": "booktabs", r"\resizebox": "graphicx"}


def check(text: str, where: str) -> None:
    first = text.splitlines()[0]
    assert first.startswith("%"), f"{where}: the first line is not a comment: {first!r}"
    for command, package in NEEDS.items():
        if command in text:
            assert rf"\usepackage{{{package}}}" in first, f"{where}: uses {command} but names no {package}"


def test_a_table_names_its_packages_on_its_first_line():
    check(to_latex(pd.DataFrame({"model": ["a_b"], "mIoU": [1.5]}), caption="c"), "to_latex")


def test_every_committed_table_names_its_packages():
    tables = sorted(RESULTS.glob("*.tex"))
    assert tables
    for path in tables:
        check(path.read_text(), path.name)

"""Render a DataFrame as a GitHub Markdown table or a booktabs LaTeX table (no extra dependencies).

A row whose first cell is a `GroupTitle` (every other cell empty) opens a row group: bold in Markdown, a
rule and an italic line spanning the table in LaTeX, the title alone in the CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd


class GroupTitle(str):
    """The first cell of a row that names the rows below it ("from random weights, for comparison")."""


def _cell(value: object) -> str:
    """A table cell: floats with 2 decimals; None and NaN (a value that does not exist) as an empty cell."""
    if value is None or (pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return ""  # None, NaN, pd.NA, NaT
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def with_groups(groups: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """The rows of each (title, rows): the first's alone, then for each other a GroupTitle row and the rows
    (empty groups left out). The columns are the union, in order of appearance."""
    (_, first), *others = groups
    parts = [first]
    for title, rows in others:
        if rows.empty:
            continue
        columns = list(dict.fromkeys([*first.columns, *rows.columns]))
        parts += [pd.DataFrame([{columns[0]: GroupTitle(title)}], columns=columns, dtype=object), rows]
    parts = [p for p in parts if not p.empty]
    if len(parts) < 2:
        return parts[0] if parts else first
    return pd.concat([p.astype(object) for p in parts], ignore_index=True)


def _numeric(df: pd.DataFrame, column) -> bool:
    """A column of numbers (group titles and empty cells aside): right-aligned."""
    values = [v for v in df[column] if not isinstance(v, GroupTitle) and _cell(v) != ""]
    return bool(values) and all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
                                for v in values)


def to_markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---:" if _numeric(df, c) else "---" for c in df.columns) + "|"
    body = []
    for row in df.itertuples(index=False):
        if isinstance(row[0], GroupTitle):
            body.append(f"| **{row[0]}** |" + " |" * (len(row) - 1))
        else:
            body.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join([header, rule, *body]) + "\n"


LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{",
         "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "±": r"$\pm$", "Δ": r"$\Delta$",
         "→": r"$\rightarrow$", "δ": r"$\delta$", "²": r"$^2$", "−": "-", "–": "--", "—": "---",
         "[": "{[}", "]": "{]}"}  # braced: a row opening with [ would be read as \\'s optional argument


def _latex_escape(text: str) -> str:
    return "".join(LATEX.get(ch, ch) for ch in text)  # one pass: no replacement is escaped again


# Shrink a tabular wider than the text to the text's width; a narrower one keeps its natural size (graphicx:
# inside \resizebox's size arguments, \width is the content's natural width).
FIT_OPEN = r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%"
# The first line of every table: what a document must load before pasting it (\toprule: booktabs;
# \resizebox: graphicx), so a missing package is read here instead of met as "Undefined control sequence".
PACKAGES_LINE = r"% needs \usepackage{booktabs} (\toprule) and \usepackage{graphicx} (\resizebox)"


def to_latex(df: pd.DataFrame, caption: str = "") -> str:
    """A booktabs table ready to paste (needs \\usepackage{booktabs,graphicx}); a tabular wider than the
    column is scaled down to \\linewidth, so it never runs off the page."""
    align = "".join("r" if _numeric(df, c) else "l" for c in df.columns)
    lines = [PACKAGES_LINE, r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    lines += [FIT_OPEN, rf"\begin{{tabular}}{{{align}}}", r"\toprule",
              " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        if isinstance(row[0], GroupTitle):
            lines += [r"\midrule", rf"\multicolumn{{{len(row)}}}{{l}}{{\emph{{{_latex_escape(row[0])}}}}} \\"]
        else:
            lines.append(" & ".join(_latex_escape(_cell(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}%", "}", r"\end{table}"]
    return "\n".join(lines) + "\n"

"""Render a DataFrame as a GitHub Markdown table or a booktabs LaTeX table (no extra dependencies)."""

from __future__ import annotations

import pandas as pd


def _cell(value: object) -> str:
    """A table cell: floats with 2 decimals; None and NaN (a value that does not exist) as an empty cell."""
    if value is None or (pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return ""  # None, NaN, pd.NA, NaT
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def to_markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) and df[c].dtype != bool else "---"
                          for c in df.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("$", r"\$"), ("±", r"$\pm$"), ("Δ", r"$\Delta$"), ("→", r"$\rightarrow$"), ("²", r"$^2$")):
        text = text.replace(a, b)
    return text


def to_latex(df: pd.DataFrame, caption: str = "") -> str:
    """A booktabs table ready to paste (needs \\usepackage{booktabs})."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) and df[c].dtype != bool else "l"
                    for c in df.columns)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
              " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(_cell(v)) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"

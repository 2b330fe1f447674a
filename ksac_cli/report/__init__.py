"""CSV in -> tables (Markdown / CSV / LaTeX) and plots out. Never imports torch."""

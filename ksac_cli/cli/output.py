"""The one output layer: rich consoles, tables, progress, errors and warnings."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ksac_cli.config.coerce import dump_yaml_noted
from ksac_cli.config.load import notes

# On a pipe or file rich would wrap tables at 80 columns; logs are read wide.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def info(message: str) -> None:
    console.print(escape(message), highlight=False, soft_wrap=True)  # messages hold [brackets]: not markup


def print_config(command: str, resolved: dict, defaults: dict, flags: dict[str, str], base: str) -> None:
    """--print-config: the resolved config as YAML on stdout, a value that is not the schema default marked
    with where it came from (`base`: the recipe or the checkpoint; or the flag that set it)."""
    sys.stdout.write(f"# {command}: the resolved config. Unmarked: the default of ksac_cli/config/schema.py; "
                     f"'# {base}': set by the {base}; '# flag --x': set on the command line.\n"
                     + dump_yaml_noted(resolved, notes(resolved, defaults, flags, base)))
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    t = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        t.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def frame_table(title: str, frame, number: str = ".2f") -> None:
    """A pandas DataFrame as a table: floats in the format `number`, None and NaN as '-'."""
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        return format(value, number) if isinstance(value, float) else str(value)

    table(title, [str(c) for c in frame.columns], [[cell(v) for v in row] for row in frame.itertuples(index=False)])


def progress(fields: str = "", live: bool | None = None) -> Progress:
    """A progress bar on stderr: description, bar, count, `fields` (a rich format of the task's fields), elapsed
    time and ETA; shown when `live` [default: stderr is a terminal], else silent (so we log)."""
    extra = [TextColumn(fields)] if fields else []
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra, TimeElapsedColumn(),
                    TimeRemainingColumn(), console=err_console,
                    disable=not (err_console.is_terminal if live is None else live))


class BarDisplay:
    """A command's display of its events: `bar` (`progress`), shown while the display is entered."""

    def __init__(self, live: bool, fields: str = "") -> None:
        self.live = live
        self.bar = progress(fields, live)

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()


def duration(seconds: float) -> str:
    """'45 s', '3.2 min', '1.5 h'."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class EvalLog:
    """An evaluation's progress as lines, on a terminal and on a pipe alike: after the first batch, then every
    EVERY seconds, and at the end: images done of the total, images/s and the time left. Fed the
    `eval_start` {images} and `eval_batch` {images} events of every command that evaluates; each line goes to
    `write` (the screen, or `ksac ablate`'s log file)."""

    EVERY = 10.0  # seconds between lines

    def __init__(self, indent: str = "", write: Callable[[str], None] | None = None) -> None:
        self.indent, self.total, self.done, self.start, self.last = indent, 0, 0, 0.0, None
        self.write = write or info

    def event(self, kind: str, data: dict) -> None:
        now = time.perf_counter()
        if kind == "eval_start":
            self.total, self.done, self.start, self.last = data["images"], 0, now, None
        elif kind == "eval_batch":
            self.done += data["images"]
            if self.last is None or now - self.last >= self.EVERY or self.done >= self.total:
                self.last = now
                rate = self.done / max(now - self.start, 1e-9)
                self.write(f"{self.indent}evaluating: {self.done}/{self.total} images, {rate:.1f} images/s, "
                           f"{duration((self.total - self.done) / rate)} left")

"""The `ksac` command: registers one module per command and turns errors into messages and exit codes."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import typer
from typer.exceptions import TyperException

from ksac_cli import signals
from ksac_cli.cli import output
from ksac_cli.cli.ablate import ablate
from ksac_cli.cli.analyze import analyze
from ksac_cli.cli.data import app as data_app
from ksac_cli.cli.eval import evaluate
from ksac_cli.cli.pretrain import pretrain
from ksac_cli.cli.profile import profile
from ksac_cli.cli.report import report
from ksac_cli.cli.train import train
from ksac_cli.errors import Interrupted, KsacError, KsacWarning

app = typer.Typer(
    name="ksac",
    help="Train, evaluate, ablate, profile and report on KSAC (kernel-sharing atrous convolution) vs ASPP "
         "segmentation models (Huang et al., arXiv 1908.09443).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts contain [default: ...] brackets, not markup
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Keeps `ksac` a group of commands even while it has one."""


app.command("ablate")(ablate)
app.command("train")(train)
app.command("pretrain")(pretrain)
app.command("eval")(evaluate)
app.add_typer(data_app, name="data")
app.command("profile")(profile)
app.command("report")(report)
app.command("analyze")(analyze)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Only the toolkit's own warnings reach users; library deprecation chatter is not theirs to fix.
    if issubclass(category, KsacWarning):
        output.warning(str(message))


def os_error_message(e: OSError) -> str:
    """One line for an OSError no command turned into a KsacError: the path, what the system said, and
    the likely cause when a folder in it is a file."""
    path = e.filename if e.filename is not None else ""
    why = e.strerror or type(e).__name__
    line = f"{path}: {why}" if path else f"{why}: {e}"
    if e.filename2 is not None:
        line += f" (-> {e.filename2})"
    if path:
        file = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
        if file is not None:
            line += f"; {file} is a file, not a folder"
    return line + "; check the path (is it writable, and is every folder in it a folder?) and run again"


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0 on success, 2 on bad input (one line, no traceback), 1 when the system refused
    a file (one line naming it), 130 on Ctrl-C."""
    warnings.showwarning = _show_warning
    signals.install()  # SIGINT/SIGTERM stop every command: exit 130/143 (ksac_cli/signals.py)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv if argv is not None else sys.argv[1:], prog_name="ksac", standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) inside a command comes back as a return value
            sys.exit(code)
    except (KsacError, Interrupted) as e:
        output.error(str(e))
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        output.error("interrupted")
        sys.exit(130)
    except OSError as e:  # a path the system refused (a file where a folder should be, /proc, a full disk)
        output.error(os_error_message(e))
        sys.exit(1)
    except TyperException as e:  # typer's (vendored click's) usage errors: bad option types, missing values
        ctx = getattr(e, "ctx", None)
        # recognised by name: Typer 0.29 raises the NoArgsIsHelpError of the Click it vendors (typer._click,
        # private; click.exceptions' class is another one) and exports none, and Typer itself tells it by name
        # (typer/rich_utils.py); STYLE.md keeps us on Typer's public API
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            output.info(ctx.get_help())
            sys.exit(0)
        where = f" (see 'ksac {ctx.info_name} --help')" if ctx is not None and ctx.info_name != "ksac" else ""
        output.error(e.format_message() + where)
        sys.exit(getattr(e, "exit_code", 2))

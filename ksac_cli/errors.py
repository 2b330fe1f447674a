"""The toolkit's exceptions and warning, each rendered once by the CLI (cli/main.py). Bugs stay ordinary
exceptions with tracebacks."""

from __future__ import annotations

from collections.abc import Iterable


FP16_NEEDS_CUDA = "--amp fp16 needs a CUDA device; on the CPU use --amp bf16 or --amp off"


class KsacError(Exception):
    """A problem the user can fix (a bad option, a missing file, a bad value in a recipe), shown as a one-line
    message saying what was wrong and what is allowed: exit code 2."""

    exit_code = 2


class KsacRuntimeError(KsacError):
    """The input was fine but the run could not go on (a full disk, a diverging loss): exit code 1. The
    message says what happened, what was kept, and what to do."""

    exit_code = 1


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a run after it saved a checkpoint: not a mistake, so not a KsacError. The
    CLI prints the message and exits 130 (SIGINT) or 143 (SIGTERM); an ablation stops its grid."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class KsacWarning(UserWarning):
    """Something suspicious but legal (for example an atrous rate wider than the feature map)."""


def unknown_name(kind: str, value: object, allowed: Iterable[str]) -> KsacError:
    """The error for a name that is not in one of the toolkit's name tables."""
    return KsacError(f"unknown {kind} {value!r}; expected one of: {', '.join(sorted(allowed))}")

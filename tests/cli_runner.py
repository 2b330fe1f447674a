"""`ksac ARGS` for the tests: in THIS process through the CLI's own entry point (`ksac`), or as a real
process (`ksac_subprocess`, `ksac_popen`) where the behaviour under test is a process's.

`ksac` calls ksac_cli.cli.main.main(argv), as the installed `ksac` script does, with the command's working
folder, environment and sys.argv in place, stdout and stderr captured, and returns what subprocess.run(...,
capture_output=True, text=True) would: exit status, stdout, stderr (an uncaught exception: exit 1 and its
traceback on stderr, as the interpreter gives). What a command can change in the process is set as in a fresh
interpreter before it runs and put back afterwards: torch's thread count (one, as conftest.py gives every
process), deterministic mode and cudnn.benchmark, grad mode, the random generators of torch (seeded as a new
interpreter's), NumPy and `random` (from fresh entropy), the warnings filters and warnings.showwarning,
SIGINT/SIGTERM handlers, logging levels and handlers, the working folder, os.environ and sys.argv.

A real process (`python -m ksac_cli`, the module torchrun launches) is needed for: kills and signals sent by
the test, fault injection (with KSAC_FAULT in its environment the process is `python tests/fault_injection.py`,
which installs the faults, then runs `ksac`; `ksac` here refuses it rather than run without the fault), limits set before the process starts (preexec_fn), torchrun, import laziness and
start-up time (tiny_run.ksac_loading), and the installed `ksac` script.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import signal
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

TORCH_FRESH_SEED = 67280421310721  # torch.initial_seed() of a new interpreter (torch's default_rng_seed_val)
# the warnings filters of a new interpreter without -W or PYTHONWARNINGS (the `warnings` module's docs,
# "Default Warning Filter")
FRESH_FILTERS = (("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, None),
                 ("ignore", PendingDeprecationWarning, None), ("ignore", ImportWarning, None),
                 ("ignore", ResourceWarning, None))


@contextlib.contextmanager
def fresh_process_state(env: dict | None = None, cwd=None, argv: list[str] | None = None):
    """The state a command may change, as in a new `ksac` process while inside; as before afterwards."""
    import numpy as np
    import torch

    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    torch_state = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                   torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark,
                   torch.is_grad_enabled(), torch.get_rng_state())
    rng_state = (np.random.get_state(), random.getstate())
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    loggers = [logging.getLogger(), *(logger for logger in list(logging.Logger.manager.loggerDict.values())
                                      if isinstance(logger, logging.Logger))]
    logging_state = [(logger, logger.level, list(logger.handlers)) for logger in loggers]
    try:
        with warnings.catch_warnings():  # restores the filters and showwarning (which main() replaces)
            warnings.resetwarnings()
            for action, category, module in reversed(FRESH_FILTERS):
                warnings.filterwarnings(action, category=category, module=module or "")
            if env is not None:
                os.environ.clear()
                os.environ.update(env)
            if cwd is not None:
                os.chdir(cwd)
            if argv is not None:
                sys.argv = argv
            torch.set_num_threads(1)
            torch.use_deterministic_algorithms(False)
            torch.backends.cudnn.benchmark = False
            torch.set_grad_enabled(True)
            torch.manual_seed(TORCH_FRESH_SEED)
            np.random.seed()
            random.seed()
            yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        torch.set_num_threads(torch_state[0])
        torch.use_deterministic_algorithms(torch_state[1], warn_only=torch_state[2])
        torch.backends.cudnn.benchmark = torch_state[3]
        torch.set_grad_enabled(torch_state[4])
        torch.set_rng_state(torch_state[5])
        np.random.set_state(rng_state[0])
        random.setstate(rng_state[1])
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for logger, level, logger_handlers in logging_state:
            logger.setLevel(level)
            logger.handlers[:] = logger_handlers


class _Captured(io.TextIOWrapper):
    """A text stream into bytes, as a pipe's: not a terminal, no file descriptor."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)

    def text(self) -> str:  # as Popen's text mode: universal newlines
        self.flush()
        return self.buffer.getvalue().decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def ksac(*args, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """`ksac ARGS` to its end in this process (see the module's docstring): exit status, stdout, stderr.
    `env` replaces os.environ while it runs; `cwd` is its working folder."""
    args = [os.fspath(a) for a in args]
    if (env if env is not None else os.environ).get("KSAC_FAULT"):
        raise ValueError("KSAC_FAULT is installed in a process of its own (tests/fault_injection.py): run this "
                         "command with cli_runner.ksac_subprocess")
    from ksac_cli.cli.main import main

    out, err = _Captured(), _Captured()
    with fresh_process_state(env, cwd, ["ksac", *args]), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as e:  # as the interpreter turns sys.exit(code) into an exit status
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except Exception:  # uncaught: its traceback and exit 1, as the interpreter gives
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    return subprocess.CompletedProcess(["ksac", *args], code, out.text(), err.text())


def _command(args, env: dict | None) -> list[str]:
    faults = (env if env is not None else os.environ).get("KSAC_FAULT")
    entry = [os.fspath(Path(__file__).with_name("fault_injection.py"))] if faults else ["-m", "ksac_cli"]
    return [sys.executable, *entry, *(os.fspath(a) for a in args)]


def ksac_popen(*args, env: dict | None = None, cwd=None, preexec_fn=None) -> subprocess.Popen:
    """`python -m ksac_cli ARGS` started as a real process, stdout and stderr piped (text)."""
    return subprocess.Popen(_command(args, env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd, preexec_fn=preexec_fn)


def ksac_subprocess(*args, env: dict | None = None, cwd=None, timeout: float = 300,
                    preexec_fn=None) -> subprocess.CompletedProcess:
    """`python -m ksac_cli ARGS` as a real process, to its end (subprocess.run, captured, text)."""
    return subprocess.run(_command(args, env), capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
                          preexec_fn=preexec_fn)

"""SIGINT and SIGTERM in every command and phase: exit 130 / 143, the work kept, the same command resumes.
A signal raises `Interrupted` at once, except inside `deferred()` (the training loop), which stops at its
safe points (`check`); the first signal is kept for the rest of the process (docs/reliability.md)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from ksac_cli.errors import Interrupted

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
_received: int | None = None  # the first signal of this command
_deferring = 0  # > 0: inside `deferred()`


def _handle(signum: int, frame) -> None:
    global _received
    if _received is None:
        _received = signum
    if not _deferring:
        raise stopped()


def install() -> None:
    """For the whole command (cli.main): no signal received yet, and the next one stops it."""
    global _received, _deferring
    _received, _deferring = None, 0
    for sig in EXIT_CODES:
        signal.signal(sig, _handle)


def ignore(*_) -> None:
    """In a worker process (a DataLoader's `worker_init_fn`, a process pool's `initializer`): only the main
    process acts on a signal to the process group (it saves what it must, then ends its workers)."""
    for sig in EXIT_CODES:
        signal.signal(sig, signal.SIG_IGN)


def received() -> int | None:
    """The signal received during this command (SIGINT or SIGTERM), or None."""
    return _received


def stopped(done: str = "") -> Interrupted:
    """The `Interrupted` (exit 130 or 143) of the signal received, saying what was `done` before stopping."""
    name = signal.Signals(_received).name
    return Interrupted(f"{name} received{': ' + done if done else ''}; run the same command again to resume",
                       EXIT_CODES[_received])


def check() -> None:
    """A safe point: stop here when a signal was received."""
    if _received is not None:
        raise stopped()


@contextmanager
def deferred() -> Iterator[None]:
    """Inside, a signal only sets the flag (`received`) and the code stops at its own safe points. The handler
    is in place while inside, also where `install` was not called (the engine used as a library)."""
    global _deferring
    old = {}
    for sig in EXIT_CODES:
        try:
            old[sig] = signal.signal(sig, _handle)
        except ValueError:  # not the main thread: signals are the main thread's
            pass
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        for sig, handler in old.items():
            signal.signal(sig, handler)
    check()  # on leaving normally: a signal that came after the code's last safe point stops it here

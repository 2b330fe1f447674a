"""`python tests/fault_injection.py ARGS`: `python -m ksac_cli ARGS` with the faults of KSAC_FAULT installed,
for the reliability tests (cli_runner starts it when the environment holds KSAC_FAULT). It wraps a few
functions of this process: no code of the package holds a hook or changes how it writes.

KSAC_FAULT="<point>@<n>=<action>[;...]", points step, eval and write:<name>, actions kill, term, nan and
enospc: docs/reliability.md ("Injecting a fault") gives each point's wrapped function and each action."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
from pathlib import Path

ACTIONS = ("kill", "term", "nan", "enospc")
_counts: dict[str, int] = {}
_plan: dict[tuple[str, int], str] = {}


def parse(spec: str) -> dict[tuple[str, int], str]:
    plan = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        try:
            where, action = item.split("=")
            point, n = where.rsplit("@", 1)
            plan[(point, int(n))] = action
        except ValueError:
            raise ValueError(f"KSAC_FAULT: cannot read {item!r}; expected <point>@<n>=<action>") from None
        if action not in ACTIONS:
            raise ValueError(f"KSAC_FAULT: unknown action {action!r} in {item!r}; expected one of {ACTIONS}")
    return plan


def planned(point: str) -> str | None:
    """Count one pass through `point`; the action planned for this pass, if any."""
    _counts[point] = n = _counts.get(point, 0) + 1
    return _plan.get((point, n))


def perform(action: str | None) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def install(spec: str) -> None:
    """Wrap the functions of the points in `spec` (imported here: this runs only under the tests)."""
    global _plan
    _plan = parse(spec)
    from ksac_cli import io
    from ksac_cli.engine import evaluate, train
    from ksac_cli.measure import step as _  # noqa: F401  bound to the unwrapped step first: `ksac train`'s time
    # estimate (measure/step.cell_times) times steps before training, and "step@n" counts training steps only

    step, counts, atomic_open, append_jsonl = (train.train_step, evaluate.per_image_counts, io.atomic_open,
                                               io.append_jsonl)

    def faulty_step(*args, **kwargs):
        loss = step(*args, **kwargs)
        action = planned("step")
        perform(action)
        return loss * float("nan") if action == "nan" else loss

    def faulty_counts(*args, **kwargs):
        perform(planned("eval"))
        return counts(*args, **kwargs)

    @contextlib.contextmanager
    def faulty_atomic_open(path, mode="w"):
        with atomic_open(path, mode) as f:
            yield f
            f.flush()
            perform(planned(f"write:{Path(path).name}"))  # an OSError here leaves the old file, as a real one would

    def faulty_append(path, record):
        action = planned(f"write:{Path(path).name}")
        if action is None:
            return append_jsonl(path, record)
        line = json.dumps(record, sort_keys=False) + "\n"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line[: len(line) // 2])
            f.flush()
            perform(action)  # kill: half a line stays on disk; term: the run notes it and goes on
            f.write(line[len(line) // 2:])
            f.flush()
            os.fsync(f.fileno())

    train.train_step, evaluate.per_image_counts = faulty_step, faulty_counts
    io.atomic_open, io.append_jsonl = faulty_atomic_open, faulty_append


if __name__ == "__main__":
    install(os.environ.get("KSAC_FAULT", ""))
    from ksac_cli.cli.main import main

    main()

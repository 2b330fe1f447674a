"""Fault injection for the reliability tests (tests/faults/): off unless KSAC_FAULT is set.

    KSAC_FAULT="<point>@<n>=<action>[;<point>@<n>=<action>...]"

points (each counted from 1 in this process):
  step          after the n-th optimizer step (training)
  eval          before the n-th evaluation batch
  write:<name>  inside the n-th atomic write of a file named <name> (e.g. write:last.pt), after its bytes
                are in the temporary file and before it replaces the old one
actions:
  kill   SIGKILL this process (no handler runs: a power cut, an OOM kill)
  term   SIGTERM this process (what a scheduler sends before a pre-emption)
  nan    the loss of that step becomes NaN (step only)
  enospc the write fails with ENOSPC, "No space left on device" (write only)

The toolkit's code calls `hit(point)` at those places; with KSAC_FAULT unset it returns None at
the cost of one dict lookup.
"""

from __future__ import annotations

import errno
import os
import signal

_counts: dict[str, int] = {}
_plan: dict[tuple[str, int], str] | None = None
ACTIONS = ("kill", "term", "nan", "enospc")


def _parse(spec: str) -> dict[tuple[str, int], str]:
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


def hit(point: str) -> str | None:
    """Count one pass through `point`; perform (kill, term) or return (nan, enospc) its planned fault."""
    global _plan
    if _plan is None:
        _plan = _parse(os.environ.get("KSAC_FAULT", ""))
    if not _plan:
        return None
    _counts[point] = n = _counts.get(point, 0) + 1
    action = _plan.get((point, n))
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return action

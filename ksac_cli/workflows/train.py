"""`ksac train`: a validated RunConfig -> a run directory. The lifecycle (directory, --force, resume,
seeding, building, the loop, evaluations, summary) is `engine.run.train_run`; this adapter is what the CLI,
`ksac pretrain` and `ksac ablate` call."""

from __future__ import annotations

from ksac_cli.engine.run import EventFn, train_run as train

__all__ = ["EventFn", "train"]

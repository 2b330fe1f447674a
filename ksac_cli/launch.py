"""Where this process stands in a torchrun launch, read from the environment torchrun sets; and
`ksac train --nproc-per-node N` re-launching itself under torchrun. No torch import: the CLI asks
these before it decides to import anything heavy."""

from __future__ import annotations

import os
import subprocess
import sys

from ksac_cli.errors import KsacError


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) of this process; (0, 1, 0) outside torchrun."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    return world()[1] > 1


def is_main_process() -> bool:
    """False on ranks other than 0 of a torchrun launch: only rank 0 prints and writes."""
    return world()[0] == 0


def check_batch_split(batch_size: int, world_size: int) -> None:
    """The global batch splits evenly across the processes of a launch."""
    if batch_size % world_size:
        raise KsacError(f"--batch-size {batch_size} does not split evenly across {world_size} processes; "
                        f"pick a multiple of {world_size}")


def launch_torchrun(nproc: int, argv: list[str]) -> int:
    """`ksac train --nproc-per-node N ...` -> `torchrun --nproc-per-node N -m ksac_cli train ...`; its exit code."""
    if nproc < 1:
        raise KsacError(f"--nproc-per-node: {nproc} must be a positive integer")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "ksac_cli", *argv]
    return subprocess.call(cmd)

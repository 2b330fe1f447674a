"""A tiny training setup for the tests that run `ksac` as a subprocess (imported by name: tests/conftest.py
puts tests/ on the path)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

import ksac_process

TINY_RECIPE = """\
name: {name}
model: {{backbone: mobilenetv2_035, head: {head}, rates: [1, 2], output_stride: 16, channels: 16,
        decoder_channels: 16, low_level_channels: 8, dropout: {dropout}}}
data:
  dataset: synthetic
  data_root: {root}
  crop_size: {crop}
  workers: 0
  synthetic: {{train: 12, val: {val}, size: 96, seed: 3}}
train: {{iters: {iters}, batch_size: {batch_size}, lr: 0.01, save_every: {save_every}, log_every: 1,
        eval_every: {eval_every}, deterministic: true, device: cpu}}
"""


def write_tiny_recipe(path: Path, root: Path, name: str = "tiny", head: str = "ksac", iters: int = 4,
                      save_every: int = 2, crop: int = 64, batch_size: int = 2, val: int = 4,
                      dropout: float = 0.1, eval_every: int = 0) -> Path:
    """A recipe of a MobileNetV2-0.35 DeepLabV3+ with 16 channels on a 12-image built-in dataset in `root`
    (eval_every 0: evaluated once, at the end)."""
    path.write_text(TINY_RECIPE.format(name=name, head=head, root=root, iters=iters, save_every=save_every,
                                       crop=crop, batch_size=batch_size, val=val, dropout=dropout,
                                       eval_every=eval_every))
    return path


def ksac(*args: str, timeout: int = 300, **kwargs) -> subprocess.CompletedProcess:
    """`python -m ksac_cli ARGS` as a child process, to its end (ksac_process.run: env=, cwd=)."""
    return ksac_process.run(*args, timeout=timeout, **kwargs)


HEAVY = ("torch", "timm", "torchvision", "fvcore", "pandas", "matplotlib")
# runs one command through the CLI's entry point in a fresh interpreter, then says on stderr which heavy
# packages it loaded: "LOADED [...]" on its last line
LOADING = ("import sys\nfrom ksac_cli.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
           "    code = e.code\nelse:\n    code = 0\n"
           f"print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}), file=sys.stderr)\n"
           "sys.exit(code)\n")


def ksac_loading(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`ksac ARGS` as a subprocess whose stderr ends with the line 'LOADED [<heavy packages it imported>]'."""
    return subprocess.run([sys.executable, "-c", LOADING, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def train_here(*args: str) -> None:
    """`ksac train ARGS` run by the CLI's own entry point in THIS process, for an uninterrupted reference run
    that killed-and-resumed `ksac` subprocesses are compared with bit for bit: the same code and, as in those
    subprocesses, one compute thread, without a process start and its ~5 s of imports. What a run changes in
    the process (torch's thread count, deterministic mode, the random generators, warnings.showwarning) is put
    back afterwards. Raises SystemExit when the command fails."""
    import random
    import warnings

    import numpy as np
    import torch

    from ksac_cli.cli.main import main

    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_rng_state(), np.random.get_state(),
             random.getstate(), warnings.showwarning)
    torch.set_num_threads(1)
    try:
        main(["train", *args])
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.set_rng_state(saved[3])
        np.random.set_state(saved[4])
        random.setstate(saved[5])
        warnings.showwarning = saved[6]


def files_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: relative path -> (bytes, mtime in ns), to show a command touched nothing."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_run(run: Path, to: Path) -> Path:
    """A copy of the run directory `run` at `to`/run."""
    return Path(shutil.copytree(run, to / "run"))


PAIR_HEADS = ("aspp", "ksac")


def stdout_of(run: Path) -> Path:
    """Where shared_pair keeps what `ksac train` printed for the run `run`."""
    return run.parent / f"{run.name}.stdout"


def shared_pair(folder: Path) -> dict[str, tuple[Path, Path]]:
    """head -> (recipe, run directory) of an ASPP and a KSAC tiny run (4 iterations, evaluated at 2 and 4, on
    4 val images) that several test files start from, trained once per test session: the first process to
    ask trains both (side by side, one compute thread each) under a lock in `folder`, a folder every xdist
    worker sees (conftest.py: shared_tmp); the others wait for them. What each `ksac train` printed is in
    `stdout_of(run)`. Read-only: a test that changes a run works on its own `copy_run`."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = {head: (folder / f"{head}.yaml", folder / head) for head in PAIR_HEADS}
    with open(folder / "train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not (folder / "trained").exists():
            procs = []
            for head, (recipe, run) in runs.items():
                write_tiny_recipe(recipe, folder / "synth", name=head, head=head, iters=4, save_every=2, val=4,
                                  eval_every=2)
                shutil.rmtree(run, ignore_errors=True)  # left by a process that died while training it
                procs.append(ksac_process.popen("train", "--recipe", str(recipe), "--run-dir", str(run)))
            for proc, (_, run) in zip(procs, runs.values()):
                out, err = proc.communicate(timeout=600)
                assert proc.returncode == 0, err[-3000:]
                stdout_of(run).write_text(out)
            (folder / "trained").write_text("")
    return runs

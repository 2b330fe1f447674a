"""A tiny training setup for the tests that run `ksac` (imported by name: tests/conftest.py puts tests/ on
the path). `ksac` runs a command in this process (cli_runner.ksac); cli_runner.ksac_subprocess and
ksac_popen start a real process where a test needs one."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

from cli_runner import fresh_process_state, ksac

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


__all__ = ["copy_run", "files_of", "ksac", "ksac_loading", "shared_pair", "stdout_of", "train_here",
           "write_tiny_recipe"]


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
    """`ksac train ARGS` run by the CLI's own entry point in THIS process, its output not captured (a test
    reads it with capfd): an uninterrupted reference run that killed-and-resumed `ksac` processes are
    compared with bit for bit, with the process state of a new `ksac` process (one compute thread, fresh
    generators; cli_runner.fresh_process_state), put back afterwards. Raises SystemExit when the command
    fails."""
    from ksac_cli.cli.main import main

    with fresh_process_state(argv=["ksac", "train", *args]):
        main(["train", *args])


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
    ask trains both (in that process, one after the other: cli_runner.ksac) under a lock in `folder`, a
    folder every xdist worker sees (conftest.py: shared_tmp); the others wait for them. What each `ksac train` printed is in
    `stdout_of(run)`. Read-only: a test that changes a run works on its own `copy_run`."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = {head: (folder / f"{head}.yaml", folder / head) for head in PAIR_HEADS}
    with open(folder / "train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not (folder / "trained").exists():
            for head, (recipe, run) in runs.items():
                write_tiny_recipe(recipe, folder / "synth", name=head, head=head, iters=4, save_every=2, val=4,
                                  eval_every=2)
                shutil.rmtree(run, ignore_errors=True)  # left by a process that died while training it
                proc = ksac("train", "--recipe", str(recipe), "--run-dir", str(run))
                assert proc.returncode == 0, proc.stderr[-3000:]
                stdout_of(run).write_text(proc.stdout)
            (folder / "trained").write_text("")
    return runs

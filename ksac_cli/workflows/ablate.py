"""`ksac ablate`: the grid of train runs (its cells run by experiments/runner.py), its seed plan, its dry-run
plan and its job script."""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from ksac_cli import io
from ksac_cli.config import RunConfig
from ksac_cli.data import val_facts
from ksac_cli.engine.shared_features import SharedFeatures
from ksac_cli.engine.train import evaluations
from ksac_cli.errors import KsacError
from ksac_cli.experiments import plan
from ksac_cli.experiments.grid import expand
from ksac_cli.experiments.plan import Setting, estimate  # noqa: F401  estimate: cli/ablate.py calls it here
from ksac_cli.experiments.runner import Recording, run_cells
from ksac_cli.machine import code_state, resolve_device
from ksac_cli.measure.profile import profile_model
from ksac_cli.measure import step as measure_step
from ksac_cli.measure.step import step_setting, without_weights
from ksac_cli.models import check_heads
from ksac_cli.workflows.train import EventFn, train

ProgressFn = Callable[[int, int, str], None]


def ablate_cells(base: RunConfig, grid, folder: Path, only: str | None = None) -> list:
    """The cells of an ablation over `base` (recipe + train flags) in the grid folder `folder`, seed-major (the
    grid's seeds fixed first: `plan_seeds`); `only` keeps the one cell of that name."""
    check_heads(grid.models(base.model))
    cells = expand(base, grid, folder)
    if only is not None and only not in [c.name for c in cells]:
        raise KsacError(f"--cell: {only!r} is not a cell of this grid; its cells: {', '.join(c.name for c in cells)}")
    return [c for c in cells if only in (None, c.name)]


def plan_seeds(base: RunConfig, grid, folder: Path, progress: ProgressFn | None = None, record: bool = True):
    """The seeds per cell, fixed before any cell trains (experiments/plan.py): --seeds; or 3 without a
    budget; or the plan recorded in the grid folder for this very grid; or the budget's, from the dry run's
    estimate of one seed round (one timed step per distinct model), then recorded there unless `record` is
    False (--dry-run, --emit-jobs). Planning holds the folder's lock: concurrent ablations agree."""
    fixed = grid.fixed_seeds()
    if fixed is not None:
        return plan.SeedPlan(fixed, "--seeds" if grid.seeds is not None else "no budget", grid.budget)
    key = plan.plan_key(base, grid)
    with io.file_lock(folder / "seeds") if record else nullcontext():
        recorded = plan.read(folder, key)
        if recorded is not None:
            return recorded
        settings = dry_run_settings(expand(base, dataclasses.replace(grid, seeds=1), folder))  # one seed round
        chosen = plan.from_budget(grid, key, dry_run_costs(settings, progress))
        if record:
            plan.write(folder, chosen)
    return chosen


def measure_cell(cell, num_classes: int) -> dict:
    """Parameters and MACs (fvcore, batch 1) of the cell's model at its training crop."""
    model_cfg = dataclasses.replace(without_weights(cell.cfg.model), num_classes=num_classes)
    return model_measures(model_cfg, cell.cfg.data.crop_size)


@functools.cache  # the seeds of a setting have the same model: counted once per process (0.3-0.45 s each here)
def model_measures(model_cfg, crop: int) -> dict:
    """{params_total, params_head, gmacs_total, gmacs_head} of `model_cfg` (fvcore MACs, batch 1, `crop` px)."""
    row = profile_model(model_cfg, crop, 1, resolve_device("cpu"), latency=False, runs=1, warmup=0)[0]
    return {key: getattr(row, key) for key in ("params_total", "params_head", "gmacs_total", "gmacs_head")}


def dry_run_settings(cells) -> list[Setting]:
    """`ksac ablate --dry-run`: the grid's cells grouped by distinct training setup, in the grid's order; the
    number of classes and the val images from the dataset (data.val_facts: the built-in one is not generated)."""
    facts = functools.cache(val_facts)  # (classes, images, side) of a dataset config
    groups: dict[tuple, list] = {}
    for cell in cells:
        model_cfg = dataclasses.replace(cell.cfg.model, num_classes=facts(cell.cfg.data)[0])
        groups.setdefault(step_setting(model_cfg, cell.cfg.train, cell.cfg.data.crop_size), []).append(cell)
    settings = []
    for (model, crop, *_), members in groups.items():
        cfg = members[0].cfg
        _, images, side = facts(cfg.data)
        settings.append(Setting(name=members[0].name.rsplit("_seed", 1)[0], model=model, train=cfg.train, crop=crop,
                                cells=tuple(c.name for c in members), shares=tuple(share_key(c.cfg) for c in members),
                                evaluations=evaluations(cfg.train), eval_side=side, eval_batch=cfg.eval.batch_size,
                                eval_images=min(images, cfg.eval.max_images or images)))
    return settings


def share_key(cfg: RunConfig) -> tuple | None:
    """What a cell's frozen-backbone features are a function of (engine/shared_features.py shares them between
    cells that agree on it): its seed (the training batches), its backbone and its weights, the data and the
    batch, the amp and the device; None when its backbone learns or it runs on a GPU (nothing shared). The
    seed comes first: without it, the key of the val batches' features."""
    m, t = cfg.model, cfg.train
    if not t.freeze_backbone or resolve_device(t.device).type != "cpu":
        return None
    return (t.seed, m.backbone, m.output_stride, m.pretrained, m.backbone_weights, cfg.data, t.batch_size, t.amp)


def dry_run_measures(settings: list[Setting]) -> dict[str, dict]:
    """Parameters and MACs of every setting's model, by cell name: counted once per setting, without any
    training step."""
    measures = [model_measures(s.model, s.crop) for s in settings]
    return {name: m for s, m in zip(settings, measures) for name in s.cells}


def dry_run_costs(settings: list[Setting], progress: ProgressFn | None = None,
                  known: dict[str, dict] | None = None) -> list[Setting]:
    """The settings with their `times`: their repeating parts' seconds (measure/step.py `cell_times`), as the seed
    plan's estimate takes them (experiments/plan.py): each timed once (the median of 3 calls of each part), after
    untimed warm-up calls where its shapes are new (docs/training.md, `--dry-run`), unless `known` (name -> times:
    the budget's plan timed it already) holds it. `progress(i, n, name)` is called before each timing."""
    out, warmed = [], set()
    for i, s in enumerate(settings):
        m, t = s.model, s.train
        times = (known or {}).get(s.name)
        if times is None:
            if progress:
                progress(i, len(settings), s.name)
            shapes = (m.backbone, m.output_stride, s.crop, t.batch_size, t.amp, t.device)
            times = dataclasses.asdict(measure_step.cell_times(m, t, s.crop, s.eval_side, s.eval_batch,
                                                               resolve_device(t.device), runs=3,
                                                               warmup=0 if shapes in warmed else 1))
            warmed.add(shapes)
        out.append(dataclasses.replace(s, times=times))
    return out


def emit_jobs(path: str | Path, cells, argv: list[str]) -> int:
    """Write a bash script with one line per cell: `cd <here> && ksac ablate <the same arguments> --cell <name>`.
    Returns the number of lines."""
    here = shlex.quote(os.getcwd())
    base = " ".join(shlex.quote(a) for a in argv)
    lines = [f"cd {here} && ksac {base} --cell {shlex.quote(cell.name)}" for cell in cells]
    io.write_text(path, "#!/usr/bin/env bash\n# One ksac ablate cell per line (ksac ablate --emit-jobs); e.g. a SLURM array:\n"
                        "#   sbatch --array=1-%d --wrap 'bash -c \"$(sed -n \"$((SLURM_ARRAY_TASK_ID+3))p\" %s)\"'\n"
                        % (len(lines), path) + "\n".join(lines) + "\n")
    return len(lines)


def ablate(cells, grid, folder: Path, csv_path: Path, on_event: EventFn | None = None) -> list:
    """Run every cell not done yet (each a normal train run + eval in its own run directory), retrying a
    failing cell once; append one row per cell to `csv_path`. Returns the rows of this invocation
    (failed ones included) and skips cells done before or running in another process (experiments/runner.py)."""
    recording = Recording(folder.name, csv_path, grid.delta, grid.claim_points, code_state())
    shared = SharedFeatures()  # the frozen backbone's features, computed once for the cells that share them
    return run_cells(cells, recording, functools.partial(train, shared=shared), measure_cell, on_event)

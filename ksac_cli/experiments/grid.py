"""Expand an ablation grid over a base run config into cells, each a normal `ksac train` run, seed-major."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ksac_cli.config import AblationGrid, RunConfig
from ksac_cli.config.schema import STREAM_SEED_OFFSET
from ksac_cli.config.load import fit_starting_weights, run_name


@dataclass(frozen=True)
class Cell:
    name: str  # also its run directory's name under the grid folder (config.load.run_name)
    seed: int  # the grid's seed: cells of one seed are compared with each other (in every stream)
    cfg: RunConfig  # with train.run_dir set to the cell's directory; train.seed = seed + stream * STREAM_SEED_OFFSET
    stream: int = 0  # its seed stream (grid.streams): 0, or 1, ... for the A/A check's copies


def expand(base: RunConfig, grid: AblationGrid, out: Path) -> list[Cell]:
    """Cells SEED-MAJOR: every cell of the first seed, then every cell of the next, ..., so that a grid
    stopped early holds complete sets of one seed to compare. Within a seed: stream, then the models in a
    stable order (backbone, output stride, rates, head, merge); ASPP is not repeated per merge (it always
    concatenates). Stream s of seed i trains with seed i + s * STREAM_SEED_OFFSET. The number of seeds must
    be fixed first (`grid.fixed_seeds()`; a budget's: workflows.ablate.plan_seeds)."""
    seeds = grid.fixed_seeds()
    if seeds is None:
        raise ValueError("the grid's seeds are not fixed yet: plan them from its budget first (plan_seeds)")
    models = grid.models(base.model)
    cells: list[Cell] = []
    for seed in range(base.train.seed, base.train.seed + seeds):
        for stream in range(grid.streams):
            for model in models:
                train = dataclasses.replace(base.train, seed=seed + stream * STREAM_SEED_OFFSET)
                cfg = dataclasses.replace(base, model=model, train=train)
                cfg = fit_starting_weights(cfg)  # a recipe's shipped weights start only their own backbone
                name = run_name(cfg, seed, stream)  # as ksac train names its run
                cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, run_dir=str(out / name)))
                cells.append(Cell(name, seed, cfg, stream))
    return cells

"""Expand an ablation grid over a base run config into cells, each a normal `ksac train` run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ksac_cli.config import AblationGrid, RunConfig, format_rates


@dataclass(frozen=True)
class Cell:
    name: str  # also its run directory's name under the grid folder
    seed: int
    cfg: RunConfig  # with train.run_dir set to the cell's directory


def cell_name(cfg: RunConfig) -> str:
    m = cfg.model
    merge = f"-{m.merge}" if m.head == "ksac" else ""
    return (f"{m.backbone}_{m.head}{merge}_r{format_rates(m.rates).replace(',', '-')}_os{m.output_stride}"
            f"_seed{cfg.train.seed}")


def expand(base: RunConfig, grid: AblationGrid, out: Path) -> list[Cell]:
    """Cells in a stable order (backbone, output stride, rates, head, merge, seed); ASPP is not repeated
    per merge (it always concatenates)."""
    cells: list[Cell] = []
    for model in grid.models(base.model):
        for seed in range(base.train.seed, base.train.seed + grid.seeds):
            cfg = dataclasses.replace(base, model=model, train=dataclasses.replace(base.train, seed=seed))
            name = cell_name(cfg)
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, run_dir=str(out / name)))
            cells.append(Cell(name, seed, cfg))
    return cells

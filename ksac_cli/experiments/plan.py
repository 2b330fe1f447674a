"""How many seeds per cell: fixed before any cell trains, never by looking at a result (no optional stopping).

The rule: an explicit --seeds N wins; with --budget none, SEEDS_WITHOUT_BUDGET (3); else the seeds that fit in
the budget by the dry run's estimate:

    seeds = clamp(floor(budget / (OVERHEAD x training estimate of one seed round)), MIN_SEEDS, MAX_SEEDS)

where a seed round is every cell of one seed (all models, all streams) and its training estimate is the dry
run's: one timed training step per distinct model x iterations x cells of that model in the round
(workflows/ablate.py). The plan is written to <grid folder>/seeds.json before the first cell trains; a rerun
of the same grid (same recipe, flags and budget) reads it back instead of timing again, so a resumed or
concurrent ablation keeps the number it started with, whatever the machine's speed is then."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

from ksac_cli import io
from ksac_cli.config import AblationGrid, RunConfig, short_hash, to_dict

MIN_SEEDS = 2  # a paired difference needs two seeds for its spread
MAX_SEEDS = 20  # a step estimate far too low (a tiny recipe, a busy machine at planning) must not run for days
# A cell's wall time / the dry run's training estimate of it: the estimate times the model's step on random
# tensors in memory; a cell also loads and augments its data, evaluates, builds its model and counts its MACs.
# Measured on the quick grid, 2-core CPU: 774 s wall for the 12 cells (README) against 12 x 70 iterations x
# 0.35-0.4 s measured steps (315 s), a ratio of 2.46.
OVERHEAD = 2.5
PLAN_FILE = "seeds.json"


@dataclasses.dataclass(frozen=True)
class SeedPlan:
    seeds: int  # per cell (and per stream)
    rule: str  # "--seeds", "no budget", "budget" or "recorded" (a budget's plan read back from seeds.json)
    budget: str = "none"
    budget_s: float | None = None
    train_round_s: float | None = None  # the dry run's training estimate of one seed round
    round_s: float | None = None  # train_round_s x OVERHEAD: the estimated wall time of one seed round
    steps: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds per step, by model setting
    key: str = ""  # what the plan was made for (`plan_key`)
    date: str = ""

    def summary(self) -> str:
        """One line for the terminal: the number and why."""
        if self.rule == "--seeds":
            return f"seeds: {self.seeds} per cell (--seeds)"
        if self.rule == "no budget":
            return f"seeds: {self.seeds} per cell (no --budget)"
        how = "recorded before training in" if self.rule == "recorded" else "chosen before training by"
        line = (f"seeds: {self.seeds} per cell, {how} --budget {self.budget}: one seed round is estimated at "
                f"{self.round_s / 60:.1f} min ({self.train_round_s / 60:.1f} min of measured training steps x "
                f"{OVERHEAD} for data, evaluation and set-up), {self.seeds} rounds {self.seeds * self.round_s / 60:.1f} min")
        if self.seeds * self.round_s > self.budget_s:
            line += f", over the budget: {MIN_SEEDS} seeds is the least a paired comparison needs"
        return line


def seeds_for_budget(budget_s: float, round_s: float) -> int:
    """The seed rounds of `round_s` seconds that fit in `budget_s`, within [MIN_SEEDS, MAX_SEEDS]."""
    fits = int(budget_s // round_s) if round_s > 0 else MAX_SEEDS
    return max(MIN_SEEDS, min(MAX_SEEDS, fits))


def plan_key(base: RunConfig, grid: AblationGrid) -> str:
    """The hash of what the number of seeds depends on: the recipe and flags of every cell, the grid's
    axes, streams and budget (not its margin, which changes no cell)."""
    grid_dict = to_dict(dataclasses.replace(grid, margin=AblationGrid().margin))
    return short_hash({"base": to_dict(base), "grid": grid_dict})


def from_budget(grid: AblationGrid, key: str, train_round_s: float, steps: dict[str, float]) -> SeedPlan:
    budget_s = grid.budget_seconds()
    round_s = train_round_s * OVERHEAD
    return SeedPlan(seeds_for_budget(budget_s, round_s), "budget", grid.budget, budget_s, train_round_s, round_s,
                    dict(steps), key, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def read(folder: Path, key: str) -> SeedPlan | None:
    """The plan recorded in `folder` for `key`, or None (none recorded, another grid's, or unreadable)."""
    path = Path(folder) / PLAN_FILE
    try:
        data = json.loads(path.read_text())
        plan = SeedPlan(**{f.name: data[f.name] for f in dataclasses.fields(SeedPlan)})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dataclasses.replace(plan, rule="recorded") if plan.key == key else None


def write(folder: Path, plan: SeedPlan) -> Path:
    path = Path(folder) / PLAN_FILE
    io.write_json(path, {**dataclasses.asdict(plan), "overhead": OVERHEAD, "min_seeds": MIN_SEEDS,
                         "max_seeds": MAX_SEEDS})
    return path

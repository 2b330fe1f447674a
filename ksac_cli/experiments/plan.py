"""How many seeds per cell: fixed before any cell trains, never by looking at a result (no optional stopping).

The rule (--seeds; else a budget's seed rounds, each estimated by `estimate`), its cost model and
<grid folder>/seeds.json: docs/training.md ("How many seeds"); what the seeds resolve (`SeedPlan.power`):
docs/results.md."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from pathlib import Path

from scipy import stats as scipy_stats

from ksac_cli import io
from ksac_cli.config import AblationGrid, ModelConfig, RunConfig, TrainConfig, short_hash, to_dict
from ksac_cli.config.schema import MAX_SEEDS, MIN_SEEDS

DATA_S_PER_IMAGE = 0.002  # a cell's cost besides its model's compute, measured: docs/training.md
CELL_SETUP_S = 2.0
PLAN_FILE = "seeds.json"
TARGET_HALF_WIDTH = 0.5  # points: the half-width whose cost the plan states


@dataclasses.dataclass(frozen=True)
class Setting:
    """One distinct training setup of a grid (`measure.step.step_setting`): the cells sharing it, which
    differ only by their seed, take the same time per step and have the same parameters and MACs."""

    name: str  # its cells' name without the seed: mobilenetv2_035_aspp_r6-12-18_os8
    model: ModelConfig  # with the dataset's number of classes and random weights
    train: TrainConfig  # its first cell's (the fields step_setting reads are the same in every cell)
    crop: int
    cells: tuple[str, ...]  # the names of its cells, in the grid's order
    shares: tuple  # per cell: the key of the training batches and frozen backbone it shares, or None
    evaluations: int  # per run: every eval_every iterations and at the end
    eval_images: int  # its evaluation's images (data.val_facts) ...
    eval_side: int  # ... their side in px ...
    eval_batch: int  # ... and its batch size
    # the measured seconds, named as measure/step.py's `CellTimes` (step, backbone_step, eval_batch,
    # backbone_eval); seeds.json keeps them; {} until timed
    times: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def eval_batches(self) -> int:
        return math.ceil(self.eval_images / self.eval_batch)


def estimate(costs: list[Setting]) -> tuple[float, float, dict[str, float]]:
    """(round, once, parts): the estimated seconds of one seed round, of what the grid computes once whatever
    its seeds (the val batches' backbone features), and the round's parts (train, eval, data, setup)."""
    parts = {"train": 0.0, "eval": 0.0, "data": 0.0, "setup": 0.0}
    groups: dict = {}  # a share key -> the seconds its frozen backbone computes, once for the round
    val_features: dict = {}  # a share key without the seed -> seconds of the val batches' backbone features
    for c in costs:
        t, iters = c.times, c.train.iters
        for key in c.shares:
            # max(0, ...): a busy machine may time the part longer than the whole
            parts["train"] += iters * max(0.0, t["step"] - (t["backbone_step"] if key is not None else 0.0))
            parts["eval"] += c.evaluations * c.eval_batches * max(
                0.0, t["eval_batch"] - (t["backbone_eval"] if key is not None else 0.0))
            parts["data"] += (iters * c.train.batch_size + c.evaluations * c.eval_images) * DATA_S_PER_IMAGE
            parts["setup"] += CELL_SETUP_S
            if key is not None:
                groups.setdefault(key, iters * t["backbone_step"])
                val_features.setdefault(key[1:], c.eval_batches * t["backbone_eval"])
    parts["train"] += sum(groups.values())
    return sum(parts.values()), sum(val_features.values()), parts


@dataclasses.dataclass(frozen=True)
class SeedPlan:
    seeds: int  # per cell (and per stream)
    rule: str  # "--seeds", "no budget", "budget" or "recorded" (a budget's plan read back from seeds.json)
    budget: str = "none"
    budget_s: float | None = None
    round_s: float | None = None  # the estimated wall time of one seed round
    once_s: float = 0.0  # the estimate of what the grid computes once, whatever its seeds
    parts: dict[str, float] = dataclasses.field(default_factory=dict)  # round_s by part: train, eval, data, setup
    times: dict[str, dict] = dataclasses.field(default_factory=dict)  # by model setting: its measured seconds
    key: str = ""  # what the plan was made for (`plan_key`)
    date: str = ""

    def summary(self) -> str:
        """One line for the terminal: the number and why."""
        if self.rule == "--seeds":
            return f"seeds: {self.seeds} per cell (--seeds)"
        if self.rule == "no budget":
            return f"seeds: {self.seeds} per cell (no --budget)"
        how = "recorded before training in" if self.rule == "recorded" else "chosen before training by"
        parts = ", ".join(f"{name} {seconds / 60:.1f}" for name, seconds in self.parts.items())
        total = self.once_s + self.seeds * self.round_s
        line = (f"seeds: {self.seeds} per cell, {how} --budget {self.budget}: one seed round is estimated at "
                f"{self.round_s / 60:.1f} min ({parts} min, from timed steps and evaluation batches), "
                f"{self.seeds} rounds {total / 60:.1f} min")
        if total > self.budget_s:
            line += f", over the budget: {MIN_SEEDS} seeds is the least a paired comparison needs"
        return line

    def _cost(self, seeds: int) -> str:
        if self.round_s is None:
            return f"--seeds {seeds}"
        return f"--budget {math.ceil((self.once_s + seeds * self.round_s) / 60)}m here"

    def power(self, paired_std: float | None, claim: float) -> list[str]:
        """What the seeds are expected to resolve, before anything trains, for the terminal: one line, and one
        more when they cannot resolve `claim` (the paper's KSAC - ASPP gain, points: grid.claim_points).
        `paired_std`: points (grid.paired_std); None: not recorded for this recipe."""
        if paired_std is None:
            return [f"power: no paired std recorded for this recipe (grid.paired_std), so the half-width "
                    f"{self.seeds} seeds reach is not known before the run"]
        half = half_width(paired_std, self.seeds)
        target = seeds_for(paired_std, TARGET_HALF_WIDTH)
        out = [f"power: {self.seeds} seeds per cell are expected to give KSAC - ASPP a 95% half-width of "
               f"±{half:.2f} points (t over the seeds, from the recipe's recorded paired std {paired_std:.2f}, "
               f"grid.paired_std); ±{TARGET_HALF_WIDTH} needs {target} seeds ({self._cost(target)})"]
        if half >= abs(claim):
            needed = seeds_for(paired_std, abs(claim))
            out.append(f"this run cannot resolve the paper's {claim:+.2f} points: its expected half-width "
                       f"±{half:.2f} is not below it ({needed} seeds would be: {self._cost(needed)})")
        return out


def half_width(paired_std: float, seeds: int) -> float:
    """The expected 95% half-width (points) of a KSAC - ASPP difference over `seeds` seeds whose paired std is
    `paired_std` points."""
    return float(scipy_stats.t.ppf(0.975, seeds - 1)) * paired_std / math.sqrt(seeds)


def seeds_for(paired_std: float, half: float) -> int:
    """The fewest seeds (at least MIN_SEEDS) whose expected half-width is below `half`."""
    n = MIN_SEEDS
    while half_width(paired_std, n) >= half:
        n += 1
    return n


def seeds_for_budget(budget_s: float, round_s: float, once_s: float = 0.0) -> int:
    """The seed rounds of `round_s` seconds that fit in `budget_s` after `once_s`, within [MIN_SEEDS, MAX_SEEDS]."""
    fits = int(max(0.0, budget_s - once_s) // round_s) if round_s > 0 else MAX_SEEDS
    return max(MIN_SEEDS, min(MAX_SEEDS, fits))


def plan_key(base: RunConfig, grid: AblationGrid) -> str:
    """The hash of what the number of seeds depends on: the recipe and flags of every cell, the grid's
    axes, streams and budget (not how its verdicts are read: margin, claim, paired_std change no cell)."""
    default = AblationGrid()
    grid_dict = to_dict(dataclasses.replace(grid, margin=default.margin, claim=default.claim,
                                            paired_std=default.paired_std))
    return short_hash({"base": to_dict(base), "grid": grid_dict})


def from_budget(grid: AblationGrid, key: str, costs: list[Setting]) -> SeedPlan:
    budget_s = grid.budget_seconds()
    round_s, once_s, parts = estimate(costs)
    return SeedPlan(seeds_for_budget(budget_s, round_s, once_s), "budget", grid.budget, budget_s, round_s, once_s,
                    parts, {c.name: c.times for c in costs}, key,
                    datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def read(folder: Path, key: str) -> SeedPlan | None:
    """The plan recorded in `folder` for `key`, or None (none recorded, another grid's, or unreadable)."""
    path = Path(folder) / PLAN_FILE
    try:
        data = json.loads(path.read_text())
        plan = SeedPlan(**{f.name: data[f.name] for f in dataclasses.fields(SeedPlan)})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dataclasses.replace(plan, rule="recorded") if plan.key == key else None


def write(folder: Path, plan: SeedPlan) -> None:
    constants = {"data_s_per_image": DATA_S_PER_IMAGE, "cell_setup_s": CELL_SETUP_S, "min_seeds": MIN_SEEDS,
                 "max_seeds": MAX_SEEDS}
    io.write_json(Path(folder) / PLAN_FILE, {**dataclasses.asdict(plan), **constants})

"""`ksac ablate --budget` (issue 32): the seeds per cell are fixed before any cell trains, from the dry run's
estimate and never from a result; --seeds wins; the plan is recorded in the grid folder and read back by a
rerun, whatever the machine's speed is then; the estimate of a seed round counts the frozen backbone's
features once per group of cells that share them. Also the grid's recipe section (budget, margin). The
timer (measure/step.py `cell_times`) is replaced by a fake whose seconds per step the test sets."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ksac_cli.cli import main as cli
from ksac_cli.config import AblationGrid, ModelConfig, TrainConfig, resolve_ablation, resolve_run_config
from ksac_cli.errors import KsacError
from ksac_cli.experiments import plan
from ksac_cli.measure.step import CellTimes
from ksac_cli.workflows import ablate as workflow

GRID = {"head": ["aspp", "ksac"], "rates": ["1,2"]}  # 2 models


@pytest.fixture
def step(monkeypatch):
    """The fake timer: `step["seconds"]` per training step, evaluation free; `step["calls"]` counts the
    timed settings."""
    import ksac_cli.measure.step

    state = {"seconds": 0.5, "calls": 0}

    def fake(model_cfg, train_cfg, crop, eval_side, eval_batch, device, runs=1, warmup=1):
        state["calls"] += 1
        return CellTimes(step=state["seconds"], backbone_step=0.0, eval_batch=0.0, backbone_eval=0.0)

    monkeypatch.setattr(ksac_cli.measure.step, "cell_times", fake)
    return state


def round_of(models: int, step_s: float, iters: int = 6, batch: int = 2, val: int = 4) -> float:
    """A seed round of the tiny recipe (`iters` steps of `batch`, `val` val images, evaluated once) whose
    backbone learns (nothing shared), by plan.estimate's rule."""
    return models * (iters * step_s + (iters * batch + val) * plan.DATA_S_PER_IMAGE + plan.CELL_SETUP_S)


def test_the_rule_turns_a_budget_into_seeds_within_bounds():
    assert plan.seeds_for_budget(900, 262) == 3
    assert plan.seeds_for_budget(900, 262, once_s=120) == 2  # what the grid computes once comes first
    assert plan.seeds_for_budget(900, 901) == plan.MIN_SEEDS == 2
    assert plan.seeds_for_budget(10**6, 1) == plan.MAX_SEEDS


def cost(name: str, shares: tuple, step: float = 0.3, backbone_step: float = 0.1, eval_batch: float = 0.2,
         backbone_eval: float = 0.15) -> plan.Setting:
    return plan.Setting(name, ModelConfig(), TrainConfig(iters=10, batch_size=8), crop=64, cells=(), shares=shares,
                        evaluations=1, eval_images=20, eval_side=64, eval_batch=8,
                        times={"step": step, "backbone_step": backbone_step, "eval_batch": eval_batch,
                               "backbone_eval": backbone_eval})


def test_a_round_pays_a_shared_backbone_once_per_group_and_the_val_features_once_per_grid():
    data = (10 * 8 + 20) * plan.DATA_S_PER_IMAGE + plan.CELL_SETUP_S  # per cell
    # a learning backbone (None): every cell pays its whole step and evaluation
    alone, once, _ = plan.estimate([cost("aspp", (None,)), cost("ksac", (None,))])
    assert alone == pytest.approx(2 * (10 * 0.3 + 3 * 0.2 + data)) and once == 0
    # two models of seed 0 share one backbone: it runs once per step for both, the val features once
    shared, once, parts = plan.estimate([cost("aspp", ((0, "mnv2"),)), cost("ksac", ((0, "mnv2"),))])
    assert parts["train"] == pytest.approx(2 * 10 * 0.2 + 10 * 0.1)
    assert parts["eval"] == pytest.approx(2 * 3 * (0.2 - 0.15)) and once == pytest.approx(3 * 0.15)
    # two seeds (or streams): their training batches differ, their val batches do not
    _, once2, parts = plan.estimate([cost("aspp", ((0, "mnv2"), (1, "mnv2")))])
    assert parts["train"] == pytest.approx(2 * 10 * 0.2 + 2 * 10 * 0.1) and once2 == once
    # a busy machine timed the backbone longer than the step: no negative seconds
    assert plan.estimate([cost("aspp", ((0, "mnv2"),), step=0.1, backbone_step=0.2)])[2]["train"] == pytest.approx(2.0)


def test_a_budget_plans_the_seeds_once_and_a_rerun_reads_them_back(step, tiny_recipe, tmp_path):
    base, grid = resolve_ablation(str(tiny_recipe(iters=6)), {"grid": {**GRID, "budget": "45s"}})
    out = tmp_path / "grid"
    # one seed round: 2 models x (6 iterations x 0.5 s + data and set-up) = 10.1 s: 4 rounds in 45 s
    first = workflow.plan_seeds(base, grid, out)
    assert (first.seeds, first.rule, first.round_s) == (45 // round_of(2, 0.5), "budget", pytest.approx(round_of(2, 0.5)))
    assert first.seeds == 4 and step["calls"] == 2
    recorded = json.loads((out / plan.PLAN_FILE).read_text())
    assert recorded["seeds"] == 4 and recorded["budget"] == "45s" and recorded["cell_setup_s"] == plan.CELL_SETUP_S
    assert recorded["times"]["mobilenetv2_035_aspp_r1-2_os16"]["step"] == 0.5
    # the machine is 10x slower at the rerun: the grid keeps its 3 seeds, nothing is timed
    step["seconds"] = 5.0
    again = workflow.plan_seeds(base, grid, out)
    assert (again.seeds, again.rule, step["calls"]) == (4, "recorded", 2)
    cells = workflow.ablate_cells(base, dataclasses.replace(grid, seeds=again.seeds), out)
    assert len(cells) == 2 * 4 and [c.seed for c in cells] == [0, 0, 1, 1, 2, 2, 3, 3]  # seed-major
    # another budget is another plan (timed again); another margin changes no cell, so not the plan
    _, other = resolve_ablation(str(tiny_recipe(iters=6)), {"grid": {**GRID, "budget": "10m"}})
    assert workflow.plan_seeds(base, other, out).seeds == 600 // round_of(2, 5.0) == 9  # rounds of 64 s
    assert step["calls"] == 4
    _, margin = resolve_ablation(str(tiny_recipe(iters=6)), {"grid": {**GRID, "budget": "10m", "margin": 0.2,
                                                                      "paired_std": 0.9}})
    assert workflow.plan_seeds(base, margin, out).rule == "recorded"  # nor does how the verdicts are read


def test_explicit_seeds_win_and_no_budget_means_three(step, tiny_recipe, tmp_path):
    base, grid = resolve_ablation(str(tiny_recipe()), {"grid": {**GRID, "budget": "45s", "seeds": 5}})
    assert (workflow.plan_seeds(base, grid, tmp_path / "a").seeds, step["calls"]) == (5, 0)
    base, grid = resolve_ablation(str(tiny_recipe()), {"grid": GRID})  # the tiny recipe sets no budget
    assert grid.budget == "none" and workflow.plan_seeds(base, grid, tmp_path / "a").seeds == 3
    assert not (tmp_path / "a").exists()


def test_dry_run_prints_the_planned_seeds_first_and_writes_nothing(step, tiny_recipe, tmp_path, capsys):
    cli.main(["ablate", "--recipe", str(tiny_recipe(iters=6)), "--out", str(tmp_path / "grid"), "--dry-run",
              "--head", "aspp", "--head", "ksac", "--rates", "1,2", "--budget", "45s"])
    out = capsys.readouterr().out
    line = "seeds: 4 per cell, chosen before training by --budget 45s: one seed round is estimated at 0.2 min"
    assert line in out and out.index(line) < out.index("head GMACs")
    assert "_ksac-concat_r1-2_os16_seed3" in out and "_seed4" not in out
    assert step["calls"] == 2  # the plan's timings serve the estimates too
    assert not (tmp_path / "grid").exists()


def test_a_run_records_its_plan_before_training_and_jobs_carry_the_seeds(step, tiny_recipe, tmp_path, monkeypatch,
                                                                          capsys):
    seen = {}

    def no_training(cells, grid, folder, csv_path, on_event=None):
        seen["grid"], seen["cells"], seen["plan"] = grid, cells, json.loads((folder / plan.PLAN_FILE).read_text())
        return []

    monkeypatch.setattr(workflow, "ablate", no_training)
    args = ["ablate", "--recipe", str(tiny_recipe(iters=6)), "--out", str(tmp_path / "grid"), "--head", "aspp",
            "--head", "ksac", "--rates", "1,2", "--budget", "45s", "--results", str(tmp_path)]
    cli.main(args)
    assert seen["grid"].seeds == 4 and len(seen["cells"]) == 8 and seen["plan"]["seeds"] == 4
    assert f"recorded in {tmp_path / 'grid' / 'seeds.json'}" in capsys.readouterr().out
    cli.main([*args, "--emit-jobs", str(tmp_path / "jobs.sh")])
    lines = [line for line in (tmp_path / "jobs.sh").read_text().splitlines() if line.startswith("cd ")]
    assert len(lines) == 8 and all(line.split(" --cell ")[0].endswith("--seeds 4") for line in lines)


def test_the_quick_recipe_budgets_15_minutes_and_margin_is_a_recipe_key_and_a_flag(tmp_path):
    _, grid = resolve_ablation(None, {})
    assert (grid.budget, grid.seeds, grid.margin, grid.streams) == ("15m", None, None, 1)
    assert (grid.claim_points, grid.delta, grid.paired_std) == (0.6, 0.3, 0.3)  # δ: half the paper's +0.6
    assert resolve_ablation(None, {"grid": {"margin": 0.5, "budget": "none"}})[1].fixed_seeds() == 3
    assert resolve_run_config("quick").name == "quick"  # ksac train ignores the grid section
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ngrid:\n  margin: 2.5\n  claim: xception65\n  budget: 1h30m\n")
    _, grid = resolve_ablation(str(recipe), {"grid": {"head": ["aspp"]}})
    assert (grid.delta, grid.budget_seconds(), grid.head) == (2.5, 5400, ("aspp",))
    assert resolve_ablation(str(recipe), {"grid": {"margin": 0.25}})[1].margin == 0.25  # the flag wins
    recipe.write_text("name: r\ngrid:\n  margin: -1\n")
    with pytest.raises(KsacError, match=r"r\.yaml: grid\.margin: -1\.0 must be > 0 and at most the paper's claim"):
        resolve_ablation(str(recipe), {})
    with pytest.raises(KsacError, match=r"margin: 1\.0 must be > 0 and at most the paper's claim it tests, 0\.6"):
        resolve_ablation(None, {"grid": {"margin": 1.0}})  # wider than the +0.6 it tests
    with pytest.raises(KsacError, match=r"--budget: '15 min' is not a duration"):
        resolve_ablation(None, {"grid": {"budget": "15 min"}})
    with pytest.raises(KsacError, match=r"--streams: 0 is not allowed; expected one of: 1, 2"):
        resolve_ablation(None, {"grid": {"streams": 0}})
    assert AblationGrid(budget="900s").budget_seconds() == AblationGrid(budget="15m").budget_seconds() == 900


def test_cells_share_backbone_features_only_within_one_seed_and_stream_of_a_frozen_backbone(tmp_path):
    from ksac_cli.experiments.grid import expand

    base, grid = resolve_ablation(None, {"grid": {"seeds": 2, "streams": 2, "head": ["aspp", "ksac"],
                                                  "rates": ["6,12,18"]}})
    cells = expand(base, grid, tmp_path)
    keys = {(c.seed, c.stream, c.cfg.model.head): workflow.share_key(c.cfg) for c in cells}
    assert keys[0, 0, "aspp"] == keys[0, 0, "ksac"] is not None  # the quick recipe freezes its backbone
    assert keys[0, 0, "aspp"] != keys[1, 0, "aspp"] and keys[0, 0, "aspp"] != keys[0, 1, "aspp"]
    assert keys[0, 0, "aspp"][1:] == keys[1, 1, "ksac"][1:]  # the val batches' features: shared by all
    learning = dataclasses.replace(cells[0].cfg, train=dataclasses.replace(cells[0].cfg.train, freeze_backbone=False))
    assert workflow.share_key(learning) is None


def test_budget_help_states_the_planners_rule_with_its_bounds():
    """--help says what the planner does, with the bounds the planner uses (not numbers copied into prose)."""
    from cli_runner import ksac

    from ksac_cli.config.schema import SEEDS_WITHOUT_BUDGET

    text = " ".join(ksac("ablate", "--help").stdout.replace("│", " ").split())
    assert "floor((budget - once) / round) seeds per cell" in text
    assert f"at least {plan.MIN_SEEDS} and at most {plan.MAX_SEEDS}" in text
    assert f"none: {SEEDS_WITHOUT_BUDGET} seeds" in text and "2.5" not in text
    assert plan.seeds_for_budget(10**9, 1.0) == plan.MAX_SEEDS  # the bounds the help names are the rule's

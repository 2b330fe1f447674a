"""`ksac ablate --budget` (issue 32): the seeds per cell are fixed before any cell trains, from the dry run's
estimate and never from a result; --seeds wins; the plan is recorded in the grid folder and read back by a
rerun, whatever the machine's speed is then. Also the grid's recipe section (budget, margin). The step timer
is replaced by a fake whose seconds per step the test sets."""

from __future__ import annotations

import json

import pytest

from ksac_cli.cli import main as cli
from ksac_cli.config import AblationGrid, resolve_ablation, resolve_run_config
from ksac_cli.errors import KsacError
from ksac_cli.experiments import plan
from ksac_cli.workflows import ablate as workflow

GRID = {"head": ["aspp", "ksac"], "rates": ["1,2"]}  # 2 models


@pytest.fixture
def step(monkeypatch):
    """The fake step timer: `step["seconds"]` per step; `step["calls"]` counts the timed steps."""
    import ksac_cli.measure.step

    state = {"seconds": 0.5, "calls": 0}

    def fake(model_cfg, train_cfg, crop, device, runs=1, warmup=1):
        state["calls"] += 1
        return state["seconds"]

    monkeypatch.setattr(ksac_cli.measure.step, "seconds_per_step", fake)
    return state


def test_the_rule_turns_a_budget_into_seeds_within_bounds():
    assert plan.seeds_for_budget(900, 262) == 3  # the quick grid's 15 minutes on this 2-core CPU
    assert plan.seeds_for_budget(900, 901) == plan.MIN_SEEDS == 2
    assert plan.seeds_for_budget(10**6, 1) == plan.MAX_SEEDS


def test_a_budget_plans_the_seeds_once_and_a_rerun_reads_them_back(step, tiny_recipe, tmp_path):
    base, grid = resolve_ablation(str(tiny_recipe(iters=6)), {"grid": {**GRID, "budget": "45s"}})
    out = tmp_path / "grid"
    # one seed round: 2 models x 6 iterations x 0.5 s = 6 s of training, x 2.5 = 15 s: 3 rounds in 45 s
    first = workflow.plan_seeds(base, grid, out)
    assert (first.seeds, first.rule, first.train_round_s, first.round_s) == (3, "budget", 6.0, 15.0)
    assert step["calls"] == 2
    recorded = json.loads((out / plan.PLAN_FILE).read_text())
    assert recorded["seeds"] == 3 and recorded["budget"] == "45s" and recorded["overhead"] == plan.OVERHEAD
    # the machine is 10x slower at the rerun: the grid keeps its 3 seeds, nothing is timed
    step["seconds"] = 5.0
    again = workflow.plan_seeds(base, grid, out)
    assert (again.seeds, again.rule, step["calls"]) == (3, "recorded", 2)
    _, _, cells = workflow.ablate_cells(base, grid, out)
    assert len(cells) == 2 * 3 and [c.seed for c in cells] == [0, 0, 1, 1, 2, 2]  # seed-major
    # another budget is another plan (timed again); another margin changes no cell, so not the plan
    _, other = resolve_ablation(str(tiny_recipe(iters=6)), {"grid": {**GRID, "budget": "10m"}})
    assert workflow.plan_seeds(base, other, out).seeds == 4  # 600 s / (2 x 6 x 5 s x 2.5 = 150 s)
    assert step["calls"] == 4
    _, margin = resolve_ablation(str(tiny_recipe(iters=6)), {"grid": {**GRID, "budget": "10m", "margin": 2.0}})
    assert workflow.plan_seeds(base, margin, out).rule == "recorded"


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
    line = "seeds: 3 per cell, chosen before training by --budget 45s: one seed round is estimated at 0.2 min"
    assert line in out and out.index(line) < out.index("head GMACs")
    assert "_ksac-concat_r1-2_os16_seed2" in out and "_seed3" not in out
    assert step["calls"] == 2  # the plan's timings serve the estimates too
    assert not (tmp_path / "grid").exists()


def test_a_run_records_its_plan_before_training_and_jobs_carry_the_seeds(step, tiny_recipe, tmp_path, monkeypatch,
                                                                          capsys):
    seen = {}

    def no_training(base, grid, out, csv_path, on_event=None, only=None):
        seen["grid"], seen["plan"] = grid, json.loads((out / plan.PLAN_FILE).read_text())
        return []

    monkeypatch.setattr(workflow, "ablate", no_training)
    args = ["ablate", "--recipe", str(tiny_recipe(iters=6)), "--out", str(tmp_path / "grid"), "--head", "aspp",
            "--head", "ksac", "--rates", "1,2", "--budget", "45s", "--results", str(tmp_path / "ablation.csv")]
    cli.main(args)
    assert seen["grid"].seeds == 3 and seen["plan"]["seeds"] == 3
    assert f"recorded in {tmp_path / 'grid' / 'seeds.json'}" in capsys.readouterr().out
    cli.main([*args, "--emit-jobs", str(tmp_path / "jobs.sh")])
    lines = [line for line in (tmp_path / "jobs.sh").read_text().splitlines() if line.startswith("cd ")]
    assert len(lines) == 6 and all(line.split(" --cell ")[0].endswith("--seeds 3") for line in lines)


def test_the_quick_recipe_budgets_15_minutes_and_margin_is_a_recipe_key_and_a_flag(tmp_path):
    _, grid = resolve_ablation(None, {})
    assert (grid.budget, grid.seeds, grid.margin, grid.streams) == ("15m", None, 1.0, 1)
    assert resolve_ablation(None, {"grid": {"margin": 0.5, "budget": "none"}})[1].fixed_seeds() == 3
    assert resolve_run_config("quick").name == "quick"  # ksac train ignores the grid section
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ngrid:\n  margin: 2.5\n  budget: 1h30m\n")
    _, grid = resolve_ablation(str(recipe), {"grid": {"head": ["aspp"]}})
    assert (grid.margin, grid.budget_seconds(), grid.head) == (2.5, 5400, ("aspp",))
    assert resolve_ablation(str(recipe), {"grid": {"margin": 0.25}})[1].margin == 0.25  # the flag wins
    recipe.write_text("name: r\ngrid:\n  margin: -1\n")
    with pytest.raises(KsacError, match=r"r\.yaml: grid\.margin: -1\.0 must be > 0"):
        resolve_ablation(str(recipe), {})
    with pytest.raises(KsacError, match=r"--budget: '15 min' is not a duration"):
        resolve_ablation(None, {"grid": {"budget": "15 min"}})
    with pytest.raises(KsacError, match=r"--streams: 0 must be a positive integer"):
        resolve_ablation(None, {"grid": {"streams": 0}})
    assert AblationGrid(budget="900s").budget_seconds() == AblationGrid(budget="15m").budget_seconds() == 900

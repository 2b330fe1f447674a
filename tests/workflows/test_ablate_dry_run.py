"""`ksac ablate --dry-run` (issue 24): the grid table comes first, with parameters and MACs counted once per
distinct model and no training step; then a step and an evaluation batch are timed per distinct model, the
seeds of a cell sharing them; then the estimate. The timer (measure/step.py `cell_times`) is replaced by a
fake that records when it is called."""

from __future__ import annotations

import pytest

from ksac_cli.cli import main as cli
from ksac_cli.cli import output
from ksac_cli.config import resolve_ablation
from ksac_cli.measure.step import CellTimes
from ksac_cli.workflows import ablate as workflow

GRID = ["--head", "aspp", "--head", "ksac", "--rates", "1,2", "--seeds", "2"]  # 2 models x 2 seeds


@pytest.fixture
def calls(monkeypatch):
    """Every step timing, MAC count and printed table, in order; a step 'takes' 0.5 s."""
    import ksac_cli.measure.step

    record = []
    count = workflow.model_measures

    def fake_step(model_cfg, train_cfg, crop, eval_side, eval_batch, device, runs=1, warmup=1):
        record.append(("step", model_cfg.head, train_cfg.seed, warmup))
        return CellTimes(step=0.5, backbone_step=0.0, eval_batch=0.0, backbone_eval=0.0)

    def counted(model_cfg, crop):
        record.append(("measure", model_cfg.head))
        return count(model_cfg, crop)

    table = output.table
    monkeypatch.setattr(ksac_cli.measure.step, "cell_times", fake_step)
    monkeypatch.setattr(workflow, "model_measures", counted)
    monkeypatch.setattr(output, "table", lambda title, *a: (record.append(("table", title)), table(title, *a)))
    return record


def test_one_measure_and_one_timing_per_distinct_model(calls, tiny_recipe, tmp_path):
    base, grid = resolve_ablation(str(tiny_recipe()), {"grid": {"head": ["aspp", "ksac"], "rates": ["1,2"],
                                                                "seeds": 2}})
    cells = workflow.ablate_cells(base, grid, tmp_path / "grid")
    assert len(cells) == 4
    settings = workflow.dry_run_settings(cells)
    # seed-major: aspp seed0, ksac seed0, aspp seed1, ksac seed1
    assert [s.cells for s in settings] == [(cells[0].name, cells[2].name), (cells[1].name, cells[3].name)]
    assert settings[0].name == "mobilenetv2_035_aspp_r1-2_os16" and settings[0].model.num_classes > 1
    measures = workflow.dry_run_measures(settings)
    assert measures[cells[0].name] == measures[cells[2].name] != measures[cells[1].name]
    seen = []
    costs = workflow.dry_run_costs(settings, progress=lambda i, n, name: seen.append((i, n, name)))
    assert [c.times["step"] for c in costs] == [0.5, 0.5]
    assert seen == [(0, 2, settings[0].name), (1, 2, settings[1].name)]
    # one warm-up step for the backbone and crop both models share
    assert calls == [("measure", "aspp"), ("measure", "ksac"), ("step", "aspp", 0, 1), ("step", "ksac", 0, 0)]


def test_the_grid_table_is_printed_before_any_step_is_timed(calls, tiny_recipe, tmp_path, capsys):
    cli.main(["ablate", "--recipe", str(tiny_recipe(iters=6)), "--out", str(tmp_path / "grid"), "--dry-run", *GRID])
    assert [c[0] for c in calls] == ["measure", "measure", "table", "step", "step", "table"]
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if line.startswith("timing one training step")]
    assert progress == ["timing one training step and evaluation batch 1/2: mobilenetv2_035_aspp_r1-2_os16",
                        "timing one training step and evaluation batch 2/2: mobilenetv2_035_ksac-concat_r1-2_os16"]
    assert out.index("head GMACs") < out.index(progress[0]) < out.index("s/eval batch")
    assert "mobilenetv2_035_ksac-concat_r1-2_os16_seed1" in out
    # 2 models x 2 seeds x 6 iterations x 0.5 s = 0.2 min of training, + set-up 4 x CELL_SETUP_S
    assert "estimated time 0.3 min (train 0.2, eval 0.0, data 0.0, setup 0.1" in out and "nothing was run" in out
    assert not (tmp_path / "grid").exists()


def test_the_dry_run_says_what_the_seeds_resolve_and_what_half_a_point_costs(calls, tiny_recipe, tmp_path, capsys):
    """The tiny recipe records no paired std: the dry run says so; given one (--seeds 2, std 0.7), it prints the
    expected half-width, the seeds and budget ±0.5 needs from the rounds it timed, and that 2 seeds cannot
    resolve the paper's +0.6."""
    cli.main(["ablate", "--recipe", str(tiny_recipe(iters=6)), "--out", str(tmp_path / "grid"), "--dry-run", *GRID])
    assert "power: no paired std recorded for this recipe" in capsys.readouterr().out
    recipe = tiny_recipe(iters=6)
    recipe.write_text(recipe.read_text() + "grid:\n  paired_std: 0.7\n")
    cli.main(["ablate", "--recipe", str(recipe), "--out", str(tmp_path / "grid"), "--dry-run", *GRID])
    out = capsys.readouterr().out
    assert ("power: 2 seeds per cell are expected to give KSAC - ASPP a 95% half-width of ±6.29 points (t over the "
            "seeds, from the recipe's recorded paired std 0.70, grid.paired_std); ±0.5 needs 11 seeds (--seeds 11)"
            ) in out  # before timing: the seeds only
    assert "±0.5 needs 11 seeds (--budget 2m here)" in out  # after timing: 0.15 min a round (0.3 min for 2)
    assert "this run cannot resolve the paper's +0.60 points: its expected half-width ±6.29 is not below it" in out

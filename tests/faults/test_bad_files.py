"""Damaged checkpoints and configs, and a diverging loss: one clear line naming the file and the key (or
the iteration), exit 2 for bad input and 1 for a failed run, and nothing good thrown away."""

from __future__ import annotations

import pytest
import torch
from faultkit import assert_clean_failure, ci_or_full, final_state, run
from tiny_run import copy_run


@pytest.fixture
def trained(pair, tmp_path):
    """This test's own copy of a finished 4-iteration run (conftest.py: pair): (recipe, run directory)."""
    recipe, run_dir = pair["ksac"]
    return recipe, copy_run(run_dir, tmp_path)


@pytest.mark.parametrize("damage", ci_or_full(["truncated", "garbage", "empty"], ["truncated"]))
def test_a_damaged_checkpoint_is_named_on_resume_and_on_eval(trained, damage):
    recipe, run_dir = trained
    last = run_dir / "checkpoints/last.pt"
    data = last.read_bytes()
    last.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00not a checkpoint" * 50, "empty": b""}[damage])
    proc = run("train", "--recipe", str(recipe), "--run-dir", str(run_dir), "--iters", "5")
    assert_clean_failure(proc, 2, f"checkpoint {last} is truncated or corrupted", "start over with --force")
    proc = run("eval", "--checkpoint", str(last))
    assert_clean_failure(proc, 2, f"checkpoint {last} is truncated or corrupted")


def test_a_checkpoint_missing_keys_names_them(trained):
    recipe, run_dir = trained
    last = run_dir / "checkpoints/last.pt"
    state = torch.load(last, weights_only=True)
    del state["optimizer"], state["rng"]
    torch.save(state, last)
    proc = run("train", "--recipe", str(recipe), "--run-dir", str(run_dir), "--iters", "5")
    assert_clean_failure(proc, 2, f"checkpoint {last} lacks the key(s) optimizer, rng")
    del state["config"]
    torch.save(state, last)
    proc = run("eval", "--checkpoint", str(last))
    assert_clean_failure(proc, 2, f"checkpoint {last} lacks the key(s) config")


def test_a_checkpoint_from_an_older_config_loads_with_the_defaults_of_the_new_keys(trained, tmp_path):
    """Keys added since (ksac_impl, optimizer, workers) are absent from an old checkpoint's config: the
    defaults fill them in, for evaluating and for resuming; a key this version does not know is named."""
    recipe, run_dir = trained
    last = run_dir / "checkpoints/last.pt"
    state = torch.load(last, weights_only=True)
    del state["config"]["model"]["ksac_impl"], state["config"]["train"]["optimizer"], state["config"]["data"]["workers"]
    torch.save(state, last)
    proc = run("eval", "--checkpoint", str(last), "--out", str(tmp_path / "e.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run("train", "--recipe", str(recipe), "--run-dir", str(run_dir), "--iters", "5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert final_state(run_dir)["iteration"] == 5

    state = torch.load(last, weights_only=True)
    state["config"]["model"]["kernel_share"] = True
    torch.save(state, last)
    proc = run("eval", "--checkpoint", str(last))
    assert_clean_failure(proc, 2, f"{last} (config).model: unknown key(s) kernel_share")


EDITS = [
    ("train: {lr: -1}", ["train.lr: -1", "must be > 0"]),
    ("train: {iters: many}", ["train.iters", "many"]),
    ("model: {head: psp}", ["unknown head 'psp'", "aspp, ksac"]),
    ("model: {rates: [6, 0]}", ["rates", "rate 0"]),
    ("data: {crop_size: 8}", ["data.crop_size: 8", "at least 16"]),
    ("train: {optimizer: adam}", ["train.optimizer: 'adam'", "sgd, adamw"]),
    ("trian: {iters: 3}", ["unknown key(s) trian"]),
    ("model: [1, 2", ["is not valid YAML"]),
]


@pytest.mark.parametrize("edit,fragments", ci_or_full(EDITS, [EDITS[i] for i in (2, 7)]))
def test_an_edited_recipe_with_a_bad_value_names_the_file_and_the_key(tmp_path, edit, fragments):
    recipe = tmp_path / "edited.yaml"
    recipe.write_text("name: edited\n" + edit + "\n")
    proc = run("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "run"))
    line = assert_clean_failure(proc, 2, *fragments)
    assert str(recipe) in line
    assert not (tmp_path / "run").exists()


def test_a_diverging_loss_stops_with_the_iteration_and_keeps_the_last_good_checkpoint(tiny_recipe, tmp_path):
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints/last.pt"
    proc = run("train", "--recipe", str(tiny_recipe(iters=8, save_every=3)), "--run-dir", str(run_dir),
               fault="step@5=nan")
    assert_clean_failure(proc, 1, "the loss became nan at iteration 5", "lower --lr (now", "--amp off",
                         f"the last good checkpoint {last} is kept")
    assert final_state(run_dir)["iteration"] == 3


def test_a_pathological_learning_rate_diverges_cleanly(tiny_recipe, tmp_path):
    proc = run("train", "--recipe", str(tiny_recipe(iters=30, save_every=100)), "--run-dir", str(tmp_path / "run"),
               "--lr", "1e30")
    assert_clean_failure(proc, 1, "the loss became", "training diverged", "lower --lr (now",
                         "no checkpoint was written")

"""`ksac train` and `ksac eval`: files, exact resume, interruption, errors. The commands run in this process
(tests/cli_runner.py) but for the ones killed or interrupted by a signal, which are real processes."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import ksac_popen
from PIL import Image
from tiny_run import copy_run, ksac, stdout_of, train_here

from ksac_cli import io

RUN_FILES = ["config.yaml", "metrics.jsonl", "eval.jsonl", "checkpoints/last.pt", "checkpoints/best.pt"]


@pytest.fixture(scope="module")
def trained(pair) -> dict:
    """A finished tiny KSAC run (4 iterations, evaluated at 2 and 4; conftest.py: pair) for the tests below
    that start from a finished run, and what its `ksac train` printed; each test works on its own copy
    (`copy_run`)."""
    recipe, run = pair["ksac"]
    return {"recipe": recipe, "run": run, "stdout": stdout_of(run).read_text()}


def test_train_writes_every_file_and_eval_reads_the_checkpoint(tmp_path, trained):
    run = copy_run(trained["run"], tmp_path)
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [1, 2, 3, 4]
    assert set(metrics[0]) == {"iteration", "loss", "lr", "images_per_s", "seconds"}
    evals = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert [e["iteration"] for e in evals] == [2, 4]
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    for key in ("model", "optimizer", "scheduler", "iteration", "config", "rng", "samples_seen"):
        assert key in state
    assert state["iteration"] == 4 and state["samples_seen"] == 8
    assert "done: best mIoU" in trained["stdout"]

    preds = tmp_path / "preds"
    proc = ksac("eval", "--checkpoint", str(run / "checkpoints/last.pt"), "--save-predictions", str(preds))
    assert proc.returncode == 0, proc.stderr
    record = json.loads((run / "eval.json").read_text())
    for key in ("miou", "per_class_iou", "pixel_accuracy", "mean_class_accuracy", "fw_iou", "size_iou"):
        assert key in record
    assert 0 <= record["miou"] <= 1 and set(record["size_iou"]) == {"small", "medium", "large"}
    # the same checkpoint evaluated in training and by ksac eval gives the same mIoU
    assert record["miou"] == pytest.approx(evals[-1]["miou"], abs=1e-12)
    assert (run / "confusion.png").is_file()
    pngs = sorted(p for p in preds.glob("*.png"))
    assert len(pngs) == record["images"] == 4
    with Image.open(pngs[0]) as im:
        assert im.mode == "P" and im.size == (96, 96)
        assert np.asarray(im).max() < 255
    # confusion.csv: every labelled val pixel once, and the same matrix as one rebuilt from the saved
    # predictions and the dataset's own masks
    lines = (run / "confusion.csv").read_text().splitlines()
    classes = lines[0].split(",")[1:]
    csv_matrix = np.array([[int(v) for v in line.split(",")[1:]] for line in lines[1:]])
    assert csv_matrix.sum() == 4 * 96 * 96  # the built-in dataset labels every pixel (no 255)
    from ksac_cli.config import SyntheticConfig
    from ksac_cli.data.synthetic import ensure_synthetic

    folder = ensure_synthetic(SyntheticConfig(train=12, val=4, size=96, seed=3), tiny_recipe_root(run))
    rebuilt = np.zeros((len(classes), len(classes)), np.int64)
    for png in pngs:
        pred = np.asarray(Image.open(png)).astype(np.int64)
        truth = np.asarray(Image.open(folder / "SegmentationClass" / png.name)).astype(np.int64)
        np.add.at(rebuilt, (truth.ravel(), pred.ravel()), 1)
    assert (rebuilt == csv_matrix).all()
    # best.pt holds the iteration of the best evaluation in eval.jsonl
    best = max(evals, key=lambda e: e["miou"])
    assert torch.load(run / "checkpoints/best.pt", weights_only=True)["iteration"] == best["iteration"]


def tiny_recipe_root(run: Path) -> str:
    """The built-in dataset's cache folder a run used (from its config.yaml)."""
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())["data"]["data_root"]


def test_ksac_impl_is_recorded_and_a_model_trained_with_one_evaluates_with_the_other(tmp_path, tiny_recipe):
    run = tmp_path / "run"
    proc = ksac("train", "--recipe", str(tiny_recipe()), "--run-dir", str(run), "--ksac-impl", "conv")
    assert proc.returncode == 0, proc.stderr
    assert "ksac_impl: conv" in (run / "config.yaml").read_text()
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert state["config"]["model"]["ksac_impl"] == "conv"
    trained = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    # trained (and evaluated at its end) with conv, evaluated by ksac eval with the other implementation
    out = tmp_path / "eval_taps.json"
    proc = ksac("eval", "--checkpoint", str(run / "checkpoints/last.pt"), "--ksac-impl", "taps", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["ksac_impl"] == "taps"
    # same weights, same function: equal up to pixels whose two best logits tie within float rounding
    assert record["miou"] == pytest.approx(trained["miou"], abs=2e-3)
    # (a --ksac-impl that does not exist: tests/workflows/test_preflight.py)


def _weights(path: Path) -> dict:
    state = torch.load(path, weights_only=True)
    return {"model": state["model"], "momentum": state["optimizer"]["state"], "iteration": state["iteration"]}


def test_sigkill_then_resume_gives_the_same_weights_bit_for_bit(tmp_path, tiny_recipe):
    recipe = tiny_recipe(iters=12, save_every=3, crop=96)
    straight = tmp_path / "straight"
    train_here("--recipe", str(recipe), "--run-dir", str(straight))  # uninterrupted, in this process

    killed = tmp_path / "killed"
    proc = ksac_popen("train", "--recipe", str(recipe), "--run-dir", str(killed))
    deadline = time.time() + 240
    while not (killed / "checkpoints/last.pt").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted_at = torch.load(killed / "checkpoints/last.pt", weights_only=True)["iteration"]
    assert interrupted_at < 12, "the kill came too late to test resuming"

    resumed = ksac("train", "--recipe", str(recipe), "--run-dir", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {killed / 'checkpoints/last.pt'} at iteration {interrupted_at}" in resumed.stdout
    a, b = _weights(straight / "checkpoints/last.pt"), _weights(killed / "checkpoints/last.pt")
    assert a["iteration"] == b["iteration"] == 12
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for index, slot in a["momentum"].items():
        assert torch.equal(slot["momentum_buffer"], b["momentum"][index]["momentum_buffer"])
    # the logs hold each iteration once, as if never interrupted
    iterations = [json.loads(line)["iteration"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert iterations == list(range(1, 13))


def test_sigint_saves_a_checkpoint_and_exits_130(tmp_path, tiny_recipe):
    run = tmp_path / "run"
    proc = ksac_popen("train", "--recipe", str(tiny_recipe(iters=400, save_every=1000, crop=96)),
                      "--run-dir", str(run))
    deadline = time.time() + 240
    while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text().strip():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert 1 <= state["iteration"] < 400
    assert f"SIGINT received: saved {run / 'checkpoints/last.pt'} at iteration {state['iteration']}" in err


def test_no_resume_needs_force(tmp_path, trained):
    run, recipe = copy_run(trained["run"], tmp_path), str(trained["recipe"])
    proc = ksac("train", "--recipe", recipe, "--run-dir", str(run), "--no-resume")
    assert proc.returncode == 2 and "already holds a run" in proc.stderr and "--force" in proc.stderr
    (run / "checkpoints" / "stale.txt").write_text("left by the first run")
    (run / "samples" / "stale.txt").write_text("left by the first run")
    proc = ksac("train", "--recipe", recipe, "--run-dir", str(run), "--no-resume", "--force")
    assert proc.returncode == 0 and "resuming" not in proc.stdout
    # the old logs and checkpoints are gone: each iteration and each evaluation logged once
    assert [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert [json.loads(line)["iteration"] for line in (run / "eval.jsonl").read_text().splitlines()] == [2, 4]
    assert not (run / "checkpoints" / "stale.txt").exists() and not (run / "samples" / "stale.txt").exists()
    assert (run / "eval_images.npz").is_file() and (run / "samples" / "index.json").is_file()  # the new run's


def test_force_alone_deletes_the_previous_run_and_starts_over_saying_so(tmp_path, trained):
    run, recipe = copy_run(trained["run"], tmp_path), str(trained["recipe"])
    (run / "events.out.tfevents.1.stale").write_text("TensorBoard events of the first run")
    (run / "notes.txt").write_text("the user's own file")
    proc = ksac("train", "--recipe", recipe, "--run-dir", str(run), "--force")
    assert proc.returncode == 0, proc.stderr
    assert f"--force: removed the previous run in {run}; starting over" in proc.stdout
    assert "resuming" not in proc.stdout and "4 iterations in" in proc.stdout  # trained from iteration 0
    assert [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert not (run / "events.out.tfevents.1.stale").exists() and (run / "notes.txt").is_file()
    # --force on an empty run directory: nothing to remove, nothing said
    proc = ksac("train", "--recipe", recipe, "--run-dir", str(tmp_path / "new"), "--force")
    assert proc.returncode == 0 and "--force" not in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["train", "--recipe", "{bad_recipe}"], "model: unknown key(s) colour; allowed keys: backbone"),
    (["train", "--recipe", "{recipe}", "--amp", "fp8"], "--amp: 'fp8' is not allowed; expected one of: off, bf16, fp16"),
    (["train", "--recipe", "{recipe}", "--amp", "fp16", "--device", "cpu"], "--amp fp16 needs a CUDA device"),
])  # missing and damaged checkpoints: tests/faults/test_bad_args.py and test_bad_files.py
def test_bad_input_gives_exit_2_and_a_clear_message(tmp_path, tiny_recipe, args, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {colour: red}\n")
    (tmp_path / "garbage.pt").write_bytes(b"PK\x03\x04 not really a zip")
    fill = {"bad_recipe": str(bad), "recipe": str(tiny_recipe()), "tmp": str(tmp_path)}
    proc = ksac(*[a.format(**fill) for a in args], "--run-dir" if args[0] == "train" else "--out",
                str(tmp_path / ("run" if args[0] == "train" else "e.json")))
    assert proc.returncode == 2, proc.stderr
    assert message.format(**fill) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_checkpoint_of_another_architecture_names_the_mismatched_keys(tmp_path, trained):
    state = torch.load(trained["run"] / "checkpoints/last.pt", weights_only=True)
    state["config"]["model"]["head"] = "aspp"  # the weights are KSAC's, the config now says ASPP
    torch.save(state, tmp_path / "other.pt")
    proc = ksac("eval", "--checkpoint", str(tmp_path / "other.pt"), "--out", str(tmp_path / "e.json"))
    assert proc.returncode == 2
    assert "does not match the model built from its config" in proc.stderr
    assert "head.atrous.0" in proc.stderr and "head.weight" in proc.stderr


def test_skip_bad_on_a_dataset_with_no_readable_sample_stops_instead_of_looping(tmp_path):
    from ksac_cli.config import SyntheticConfig
    from ksac_cli.data.synthetic import generate
    from tiny_run import write_tiny_recipe

    root = generate(tmp_path / "synth", SyntheticConfig(train=12, val=4, size=96, seed=3))
    for mask in (root / "SegmentationClass").glob("train_*.png"):
        mask.unlink()
    recipe = write_tiny_recipe(tmp_path / "r.yaml", root)
    proc = ksac("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "run"), "--skip-bad")
    assert proc.returncode == 2
    assert "batches in a row held fewer than 2 readable samples" in proc.stderr and "missing mask" in proc.stderr
    proc = ksac("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "run2"))
    assert proc.returncode == 2 and "bad sample" in proc.stderr and "--skip-bad" in proc.stderr


def test_freeze_backbone_trains_only_the_head_and_decoder_from_the_given_weights(tmp_path, tiny_recipe):
    """--backbone-weights FILE --freeze-backbone: the backbone's weights AND BatchNorm statistics end exactly
    as the file holds them, the head and decoder moved; --amp auto is recorded as the mode that ran."""
    from ksac_cli.models import Backbone

    torch.manual_seed(7)
    start = Backbone("mobilenetv2_035", output_stride=16).body.state_dict()
    torch.save(start, tmp_path / "bb.pt")
    run = tmp_path / "run"
    proc = ksac("train", "--recipe", str(tiny_recipe(iters=2, save_every=2)), "--run-dir", str(run),
                "--backbone-weights", str(tmp_path / "bb.pt"), "--freeze-backbone", "--amp", "auto")
    assert proc.returncode == 0, proc.stderr
    state = torch.load(run / "checkpoints/last.pt", weights_only=True)
    model = state["model"]
    assert all(torch.equal(model[f"backbone.body.{k}"], v) for k, v in start.items())  # incl. running_mean/var
    assert state["config"]["train"]["freeze_backbone"] is True
    assert state["config"]["train"]["amp"] in ("off", "bf16")
    fresh = ksac("train", "--recipe", str(tiny_recipe(iters=2, save_every=2)), "--run-dir", str(tmp_path / "free"),
                 "--backbone-weights", str(tmp_path / "bb.pt"))
    assert fresh.returncode == 0, fresh.stderr
    moved = torch.load(tmp_path / "free/checkpoints/last.pt", weights_only=True)["model"]
    assert not all(torch.equal(moved[f"backbone.body.{k}"], v) for k, v in start.items())  # not frozen: it trains


def test_runs_of_two_models_of_one_recipe_get_their_own_folders_and_each_resumes(tmp_path, tiny_recipe):
    """The default run directory is named after the model (as ablation cells are): two backbones trained from
    one folder both finish, and the same command again finds its own run."""
    recipe = str(tiny_recipe(iters=2))
    first = ksac("train", "--recipe", recipe, "--backbone", "mobilenetv2_050", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = ksac("train", "--recipe", recipe, "--iters", "1", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    name = "tiny"  # the recipe's name
    runs = sorted(p.name for p in (tmp_path / "runs" / name).iterdir())
    assert runs == ["mobilenetv2_035_ksac-concat_r1-2_os16_seed0", "mobilenetv2_050_ksac-concat_r1-2_os16_seed0"]
    again = ksac("train", "--recipe", recipe, "--backbone", "mobilenetv2_050", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    last = Path("runs") / name / runs[1] / "checkpoints" / "last.pt"
    assert f"resuming from {last} at iteration 2" in again.stdout


def test_the_start_line_says_how_long_and_evaluations_show_progress_on_a_pipe(tmp_path, tiny_recipe):
    proc = ksac("train", "--recipe", str(tiny_recipe(iters=1)), "--run-dir", str(tmp_path / "run"),
                "--eval-images", "3")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert re.fullmatch(r"training .* for 1 iterations: about \d+ s on this machine \(training \d+ s, evaluation "
                        r"of 3 images \d+ s; from one timed step and evaluation batch\)", first), first
    assert re.search(r"^evaluating: 3/3 images, [\d.]+ images/s, 0 s left$", proc.stdout, re.M), proc.stdout
    assert io.read_jsonl(tmp_path / "run" / "eval.jsonl")[0]["iteration"] == 1


def test_the_start_line_warns_when_the_evaluation_will_take_much_longer_than_the_training(capsys):
    from ksac_cli.cli.train import _starting
    from ksac_cli.config import RunConfig

    _starting(RunConfig(), {"train": 40.0, "eval": 600.0, "images": 400})
    out, err = capsys.readouterr()
    assert "about 10.7 min on this machine (training 40 s, evaluation of 400 images 10.0 min" in out
    assert "warning: the evaluation (10.0 min) will take much longer than the training (40 s); --eval-images N" in err
    _starting(RunConfig(), {"train": 40.0, "eval": 30.0, "images": 400})
    assert "warning" not in capsys.readouterr().err

"""TensorBoard events of `ksac train` and `ksac ablate`, read back with TensorBoard's own reader
(EventAccumulator): the same numbers as metrics.jsonl / eval.jsonl, each step once after a kill and a resume,
one named run with hyper-parameters per ablation cell, and nothing changed without the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tiny_run import ksac, write_tiny_recipe


def events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def hparams(acc: EventAccumulator) -> dict:
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.string_value or v.number_value for k, v in info.hparams.items()}


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, synth_root) -> Path:
    return write_tiny_recipe(tmp_path_factory.mktemp("tb") / "tiny.yaml", synth_root, iters=4, save_every=2)


def test_events_hold_the_logged_numbers(recipe, tmp_path):
    run = tmp_path / "run"
    proc = ksac("train", "--recipe", str(recipe), "--run-dir", str(run), "--eval-every", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    acc = events(run / "tb")
    logged = jsonl(run / "metrics.jsonl")
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [r["iteration"] for r in logged] == [1, 2, 3, 4]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in logged], rel=1e-6)  # events store float32
    assert [e.step for e in acc.Scalars("train/lr")] == [1, 2, 3, 4]
    evals = jsonl(run / "eval.jsonl")
    miou = acc.Scalars("val/miou")
    assert [e.step for e in miou] == [r["iteration"] for r in evals] == [2, 4]
    assert [e.value for e in miou] == pytest.approx([r["miou"] for r in evals], rel=1e-6)
    assert {f"val_class/{c}" for c, v in evals[-1]["per_class_iou"].items() if v is not None} <= set(acc.Tags()["scalars"])
    images = acc.Tags()["images"]
    assert "val/confusion" in images
    samples = json.loads((run / "samples/index.json").read_text())["ids"]
    assert {f"samples/{i}" for i in samples} <= set(images) and samples  # the same images at every evaluation
    assert [e.step for e in acc.Images(f"samples/{samples[0]}")] == [2, 4]
    assert "config/text_summary" in acc.Tags()["tensors"]
    assert hparams(acc)["head"] == "ksac" and hparams(acc)["lr"] == pytest.approx(0.01)


def test_a_killed_and_resumed_run_logs_each_step_once(recipe, tmp_path):
    run = tmp_path / "run"
    args = ("train", "--recipe", str(recipe), "--run-dir", str(run))
    killed = subprocess.run([sys.executable, "-m", "ksac_cli", *args], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "KSAC_FAULT": "step@4=kill"})  # after step 4, before its log line
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [e.step for e in events(run / "tb").Scalars("train/loss")] == [1, 2, 3]  # 3 was logged, then lost
    resumed = ksac(*args)
    assert resumed.returncode == 0 and "at iteration 2" in resumed.stdout, resumed.stderr[-2000:]
    loss = events(run / "tb").Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]  # step 3 of the killed process purged, written again
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in jsonl(run / "metrics.jsonl")], rel=1e-6)


def test_each_ablation_cell_is_one_named_run_with_hparams(recipe, tmp_path):
    grid = tmp_path / "grid"
    proc = ksac("ablate", "--recipe", str(recipe), "--head", "aspp", "--head", "ksac", "--rates", "1,2", "--seeds", "1",
                "--iters", "2", "--out", str(grid), "--results", str(tmp_path / "a.csv"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = sorted(p.parent.name for p in grid.glob("*/tb"))  # `tensorboard --logdir grid` names each by its cell
    assert runs == ["mobilenetv2_035_aspp_r1-2_os16_seed0", "mobilenetv2_035_ksac-concat_r1-2_os16_seed0"]
    heads = {name: hparams(events(grid / name / "tb"))["head"] for name in runs}
    assert heads == {runs[0]: "aspp", runs[1]: "ksac"}


HIDDEN = "import sys; sys.modules['tensorboard'] = None; from ksac_cli.cli.main import main; main()"


def test_without_the_package_runs_are_unchanged_and_the_flag_says_how_to_install(recipe, tmp_path):
    def run_hidden(*args):
        return subprocess.run([sys.executable, "-c", HIDDEN, *args], capture_output=True, text=True, timeout=300)

    asked = run_hidden("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "asked"), "--tensorboard")
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert 'pip install -e ".[tensorboard]"' in asked.stderr and not (tmp_path / "asked").exists()
    plain = run_hidden("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "plain"), "--iters", "2")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert (tmp_path / "plain/checkpoints/last.pt").is_file() and not (tmp_path / "plain/tb").exists()

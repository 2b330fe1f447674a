"""TensorBoard events of `ksac train` and `ksac ablate`, read back with TensorBoard's own reader
(EventAccumulator) and, for what `tensorboard --logdir` shows, its multiplexer and hparams plugin backend:
the same numbers as metrics.jsonl / eval.jsonl, each step once after a kill and a resume, one run per
ablation cell named by the cell, the compared hyper-parameters listed first, and nothing changed without
the package. `ksac` runs in this process (tests/cli_runner.py) but for the run killed by KSAC_FAULT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import ksac_subprocess
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, plugin_data_pb2
from tiny_run import ksac, write_tiny_recipe

from ksac_cli.engine.tensorboard import TensorBoardLog


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


def tensorboard_view(logdir: Path) -> tuple[list[str], list[str]]:
    """What `tensorboard --logdir <logdir>` shows: its run names, and the HPARAMS tab's hyper-parameters in
    the plugin's order (its GetExperiment answer, from the same backend the dashboard asks)."""
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    tb = base_plugin.TBContext(logdir=str(logdir), multiplexer=mux,
                               data_provider=data_provider.MultiplexerDataProvider(mux, str(logdir)))
    experiment = get_experiment.Handler(context.RequestContext(), backend_context.Context(tb), "",
                                        api_pb2.GetExperimentRequest()).run()
    return sorted(mux.Runs()), [info.name for info in experiment.hparam_infos]


COMPARED_FIRST = ["head", "merge", "rates", "seed"]  # the plugin sorts the flagged ones by name


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, synth_root) -> Path:
    return write_tiny_recipe(tmp_path_factory.mktemp("tb") / "tiny.yaml", synth_root, iters=4, save_every=2)


def test_events_hold_the_logged_numbers(recipe, tmp_path):
    run = tmp_path / "run"
    proc = ksac("train", "--recipe", str(recipe), "--run-dir", str(run), "--eval-every", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    acc = events(run)
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
    # killed after step 4, before its log line: a real process (KSAC_FAULT)
    killed = ksac_subprocess(*args, env={**os.environ, "KSAC_FAULT": "step@4=kill"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [e.step for e in events(run).Scalars("train/loss")] == [1, 2, 3]  # 3 was logged, then lost
    resumed = ksac(*args)
    assert resumed.returncode == 0 and "at iteration 2" in resumed.stdout, resumed.stderr[-2000:]
    loss = events(run).Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]  # step 3 of the killed process purged, written again
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in jsonl(run / "metrics.jsonl")], rel=1e-6)


def test_each_ablation_cell_is_one_run_named_by_its_cell_with_the_compared_hparams_first(recipe, tmp_path):
    grid = tmp_path / "grid"
    proc = ksac("ablate", "--recipe", str(recipe), "--head", "aspp", "--head", "ksac", "--rates", "1,2", "--seeds", "1",
                "--iters", "2", "--out", str(grid), "--results", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    cells = sorted(p.name for p in grid.iterdir() if p.is_dir())
    assert cells == ["mobilenetv2_035_aspp_r1-2_os16_seed0", "mobilenetv2_035_ksac-concat_r1-2_os16_seed0"]
    runs, order = tensorboard_view(grid)
    assert runs == cells  # `tensorboard --logdir runs/ablate/<grid>` names each run by its cell
    assert order[:4] == COMPARED_FIRST and {"amp", "backbone", "batch_size", "crop_size", "dataset"} <= set(order[4:])
    heads = {name: hparams(events(grid / name))["head"] for name in runs}
    assert heads == {runs[0]: "aspp", runs[1]: "ksac"}
    assert hparams(events(grid / runs[0]))["seed"] == "0"  # a label, shown as 0, not as the number 0.0000


def test_the_hparams_tab_lists_the_compared_settings_first(tmp_path):
    """Two runs written by TensorBoardLog, read by the hparams plugin: head, merge, rates and seed lead,
    whatever their names sort as among the shared settings."""
    for seed, head in enumerate(("aspp", "ksac")):
        log = TensorBoardLog(tmp_path / f"{head}_seed{seed}", "model: {}", 0)
        log.close({"amp": "off", "backbone": "mobilenetv2_035", "batch_size": 2, "crop_size": 64,
                   "dataset": "synthetic", "head": head, "rates": "6,12,18", "merge": "-" if head == "aspp" else "sum",
                   "seed": seed}, {"miou": 0.5, "best_miou": None})
    runs, order = tensorboard_view(tmp_path)
    assert runs == ["aspp_seed0", "ksac_seed1"]
    assert order == [*COMPARED_FIRST, "amp", "backbone", "batch_size", "crop_size", "dataset"]
    assert hparams(events(tmp_path / "ksac_seed1"))["merge"] == "sum"


HIDDEN = "import sys; sys.modules['tensorboard'] = None; from ksac_cli.cli.main import main; main()"


def test_without_the_package_runs_are_unchanged_and_the_flag_says_how_to_install(recipe, tmp_path):
    def run_hidden(*args):
        return subprocess.run([sys.executable, "-c", HIDDEN, *args], capture_output=True, text=True, timeout=300)

    asked = run_hidden("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "asked"), "--tensorboard")
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert 'pip install -e ".[tensorboard]"' in asked.stderr and not (tmp_path / "asked").exists()
    plain = run_hidden("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "plain"), "--iters", "2")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert (tmp_path / "plain/checkpoints/last.pt").is_file()
    assert not list((tmp_path / "plain").glob("events.out.tfevents.*"))


def test_a_resumed_runs_events_file_sorts_after_one_opened_in_the_same_second(tmp_path):
    from ksac_cli.engine.tensorboard import after_earlier_files

    now = int(time.time())
    (tmp_path / f"events.out.tfevents.{now}.host.123.0").write_bytes(b"")
    after_earlier_files(tmp_path)
    assert int(time.time()) > now

"""A run's life cycle through `ksac` on the tiny recipe (tests/tiny_run.py): training
stopped twice and resumed (best.pt and the best mIoU across the resumes), resuming refused when the
configuration changed, `ksac eval` with --scales/--flip/--output-stride against predictions computed here
by hand, a checkpoint evaluated on a dataset of another class count, prediction overlays, and ASPP /
KSAC-sum runs killed and resumed bit for bit.

One run (module fixture `life`) serves most tests: --seed 7, an evaluation after every iteration, stopped
by SIGTERM (KSAC_FAULT) after iterations 2 and 4 and resumed each time. The commands stopped or killed by
KSAC_FAULT are real processes (`python -m ksac_cli`); the others run in this process (tests/cli_runner.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_runner import ksac_popen, ksac_subprocess
from PIL import Image
from tiny_run import files_of, ksac, train_here, write_tiny_recipe

ITERS = 6
# --seed 7: with this seed (and one compute thread, tests/conftest.py) the tiny model's mIoU moves from
# evaluation to evaluation and its best evaluation (iteration 4) falls BETWEEN the two interruptions (after 2
# and after 4): see test 2 for why that matters
LIFE_FLAGS = ("--eval-every", "1", "--seed", "7")
STOP_AT_2ND_STEP = {"KSAC_FAULT": "step@2=term"}  # SIGTERM after the 2nd step of the process: save, exit 143
MSF_SCALES = (0.75, 1.25)


def _env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KSAC_FAULT"}
    return {**env, **(extra or {})}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _one_error_line(proc) -> str:
    """Exit 2, no traceback, and stderr is exactly one line, the error."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def _processes_at_once(*commands: tuple[tuple | list, dict | None]) -> list[subprocess.CompletedProcess]:
    """Run several `ksac` commands (args, extra environment) as real processes at the same time and wait for
    all; each with ONE compute thread (OMP_NUM_THREADS=1), so that two processes on two cores do not fight
    over threads. (Their numbers are compared with runs made the same way: in this process, by
    cli_runner.ksac, also on one thread.)"""
    procs = [ksac_popen(*args, env=_env({"OMP_NUM_THREADS": "1", **(extra or {})}))
             for args, extra in commands]
    done = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


@contextlib.contextmanager
def _one_thread():
    """Torch on one thread in this process (as `ksac` commands run, in this process or not), then as before."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _confusion_csv(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    classes = lines[0].split(",")[1:]
    rows = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in rows] == classes
    return classes, np.array([[int(v) for v in r[1:]] for r in rows], np.int64)


def _bincount_confusion(truths: list[np.ndarray], preds: list[np.ndarray], k: int) -> np.ndarray:
    truth = np.concatenate([t.ravel() for t in truths]).astype(np.int64)
    pred = np.concatenate([p.ravel() for p in preds]).astype(np.int64)
    keep = truth != 255
    return np.bincount(truth[keep] * k + pred[keep], minlength=k * k).reshape(k, k)


# ---- the shared run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def life(tmp_path_factory, synth_root) -> dict:
    """Train ITERS iterations, stopped by SIGTERM after iteration 2 and after iteration 4 and resumed each
    time (the same command three times). Keeps a copy of the run directory as it was at iteration 2."""
    folder = tmp_path_factory.mktemp("life")
    recipe = write_tiny_recipe(folder / "tiny.yaml", synth_root, iters=ITERS, save_every=ITERS)
    run = folder / "run"
    command = ("train", "--recipe", str(recipe), "--run-dir", str(run), *LIFE_FLAGS)
    procs = []
    for stop, env in ((2, STOP_AT_2ND_STEP), (4, STOP_AT_2ND_STEP), (ITERS, None)):
        proc = ksac_subprocess(*command, env=_env(env)) if env else ksac(*command)
        procs.append(proc)
        if stop < ITERS:
            assert proc.returncode == 143, proc.stderr[-3000:]
            assert f"SIGTERM received: saved {run / 'checkpoints' / 'last.pt'} at iteration {stop}" in proc.stderr
        else:
            assert proc.returncode == 0, proc.stderr[-3000:]
        if stop == 2:
            shutil.copytree(run, folder / "at_2")
    assert f"resuming from {run / 'checkpoints' / 'last.pt'} at iteration 2" in procs[1].stdout
    assert f"resuming from {run / 'checkpoints' / 'last.pt'} at iteration 4" in procs[2].stdout
    return {"recipe": recipe, "run": run, "at_2": folder / "at_2", "command": command, "procs": procs,
            "checkpoint": run / "checkpoints" / "last.pt"}


@pytest.fixture(scope="module")
def evals(life, tmp_path_factory) -> dict:
    """`ksac eval` of the final checkpoint two ways, each into its own folder (eval.json, confusion.csv):
    multi-scale + flip (also saving predictions), and output stride 8. The plain evaluation of the same
    weights is the run's own final one (eval.jsonl, eval_images.npz; test_train_cli.py checks that
    `ksac eval` without flags gives the same)."""
    folder = tmp_path_factory.mktemp("evals")
    ways = {"msf": ("--scales", ",".join(map(str, MSF_SCALES)), "--flip", "--save-predictions", str(folder / "preds")),
            "os8": ("--output-stride", "8")}
    procs = [ksac("eval", "--checkpoint", str(life["checkpoint"]), "--out", str(folder / name / "eval.json"), *flags)
             for name, flags in ways.items()]
    out = {}
    for name, proc in zip(ways, procs):
        assert proc.returncode == 0, proc.stderr[-3000:]
        classes, matrix = _confusion_csv(folder / name / "confusion.csv")
        out[name] = {"record": json.loads((folder / name / "eval.json").read_text()), "confusion": matrix,
                     "classes": classes}
    with np.load(life["run"] / "eval_images.npz") as npz:  # the run's last evaluation: iteration ITERS, plain
        out["plain"] = {"record": _jsonl(life["run"] / "eval.jsonl")[-1],
                        "confusion": npz["confusion"].astype(np.int64).sum(axis=(0, 1)),
                        "classes": npz["classes"].tolist()}
    out["preds"] = folder / "preds"
    return out


@pytest.fixture(scope="module")
def val_data(life) -> dict:
    """The val split of the built-in dataset as files on disk: id -> (RGB uint8 image, truth indices, palette)."""
    import yaml

    from ksac_cli.config import SyntheticConfig
    from ksac_cli.data.synthetic import ensure_synthetic

    data = yaml.safe_load((life["run"] / "config.yaml").read_text())["data"]
    root = ensure_synthetic(SyntheticConfig(**data["synthetic"]), data["data_root"])  # already there: no writes
    ids = (root / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    out = {}
    for sample_id in ids:
        image = np.asarray(Image.open(root / "JPEGImages" / f"{sample_id}.jpg").convert("RGB"))
        with Image.open(root / "SegmentationClass" / f"{sample_id}.png") as mask:
            assert mask.mode == "P"
            palette = np.asarray(mask.getpalette(), np.uint8).reshape(-1, 3)
            out[sample_id] = (image, np.asarray(mask), palette)
    return out


def _load_model(checkpoint: Path, output_stride: int):
    """The checkpoint's model through the project's own loading (load_checkpoint + load_model_state)."""
    import dataclasses

    from ksac_cli.config import ModelConfig, from_dict
    from ksac_cli.engine.checkpoint import load_checkpoint, load_model_state
    from ksac_cli.models import build_model

    state = load_checkpoint(checkpoint)
    cfg = from_dict(ModelConfig, state["config"]["model"], where="model")
    model = build_model(dataclasses.replace(cfg, output_stride=output_stride, pretrained=False,
                                            backbone_weights=None))
    load_model_state(model, state["model"], checkpoint)
    return model.eval(), cfg


@pytest.fixture(scope="module")
def reference(life, val_data) -> dict:
    """Per val image, the predicted class map computed here with plain torch ops: plain at OS16 and OS8, and
    the softmax summed over MSF_SCALES x {image, horizontally flipped image} (each flipped view's logits
    flipped back, each resized to the image size), then argmax."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # the ImageNet statistics
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    model16, cfg = _load_model(life["checkpoint"], 16)
    model8, _ = _load_model(life["checkpoint"], 8)
    assert cfg.output_stride == 16
    out = {"plain": {}, "os8": {}, "msf": {}}
    inputs = {sample_id: (torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255 - mean) / std
              for sample_id, (image, _, _) in val_data.items()}
    with torch.no_grad():
        for sample_id, x in inputs.items():  # as the run's own evaluation: default threads
            out["plain"][sample_id] = model16(x).argmax(1)[0].numpy()
        with _one_thread():  # as the `ksac eval` commands of `evals`
            for sample_id, x in inputs.items():
                out["os8"][sample_id] = model8(x).argmax(1)[0].numpy()
                total = None
                for scale in MSF_SCALES:
                    xs = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
                    for flipped in (False, True):
                        logits = model16(xs.flip(-1)).flip(-1) if flipped else model16(xs)
                        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
                        probs = logits.softmax(1)
                        total = probs if total is None else total + probs
                out["msf"][sample_id] = total.argmax(1)[0].numpy()
    out["num_classes"] = cfg.num_classes
    return out


# ---- 1. ksac eval --scales / --flip / --output-stride ----------------------------------------------------


def test_eval_scales_flip_and_output_stride_compute_what_they_say(evals, reference, val_data):
    """`ksac eval --scales 0.75,1.25 --flip` and `ksac eval --output-stride 8` on a checkpoint trained at
    OS16: each confusion.csv equals, count for count, the confusion matrix (np.bincount) of predictions
    computed in this process with plain torch ops (softmax summed over the two scales and their flips, each
    flipped view flipped back; the forward pass of the model rebuilt at OS8), and differs from the plain
    evaluation's (the run's last one, equal to the plain prediction computed here); eval.json records the
    scales, flip and output stride used. Exact, not approximate: the same float ops in the same order give
    the same argmax, so no tie is left to chance.

    Breaks when eval ignores --flip or --scales or --output-stride, forgets to flip a flipped view back,
    averages logits instead of probabilities, or records settings it did not use."""
    truths = [t for _, t, _ in val_data.values()]
    k = reference["num_classes"]
    expected = {name: _bincount_confusion(truths, list(reference[name].values()), k)
                for name in ("plain", "msf", "os8")}
    # the three settings really predict differently on this checkpoint (else this test could not tell them apart)
    assert not np.array_equal(expected["msf"], expected["plain"])
    assert not np.array_equal(expected["os8"], expected["plain"])
    for name in ("plain", "msf", "os8"):
        assert evals[name]["classes"] == ["background", "disc", "square", "triangle", "ring", "cross"], name
        assert evals[name]["confusion"].sum() == sum(t.size for t in truths)  # every pixel labelled, once
        assert np.array_equal(evals[name]["confusion"], expected[name]), (name, evals[name]["confusion"],
                                                                          expected[name])

    settings = {name: {key: evals[name]["record"][key] for key in ("scales", "flip", "output_stride")}
                for name in ("msf", "os8")}
    assert settings == {"msf": {"scales": list(MSF_SCALES), "flip": True, "output_stride": 16},
                        "os8": {"scales": [1.0], "flip": False, "output_stride": 8}}
    for name in ("msf", "os8"):  # eval.json's metrics are those of its confusion matrix, not the plain one's
        assert evals[name]["record"]["miou"] != evals["plain"]["record"]["miou"], name


# ---- 2. best.pt and the best mIoU across resumes ---------------------------------------------------------


def test_best_checkpoint_and_best_miou_survive_two_resumes(life):
    """best.pt is the evaluation with the highest mIoU over ALL evaluations (before and after each resume);
    last.pt and best.pt store that mIoU and iteration; the final summary line reports them.

    Why the order matters: the run was stopped after iterations 2 and 4, and its best evaluation is the
    4th. If a resume forgot the best mIoU (started again from -1), the first evaluation after the second
    resume (5) would count as an improvement and best.pt would end at iteration 5 or 6; if a resume kept the
    old best but stopped updating it, best.pt would stay at iteration 1 or 2. The precondition asserts make
    sure the chosen seed still puts the best evaluation strictly in the middle segment (measured mIoU, %:
    1.39, 1.54 | 1.67, 1.79 | 1.24, 1.72 with one compute thread; with two the numbers differ). A change of
    the model's float arithmetic can move the best elsewhere (seed 13 did when the taps' weight gradient
    changed its summation order; seed 24 when initial weights became keyed by module name, issue 32; seed 5
    when the models became channels-last): then pick another seed, as the assert's message says."""
    run = life["run"]
    evals = _jsonl(run / "eval.jsonl")
    assert [e["iteration"] for e in evals] == list(range(1, ITERS + 1))  # each evaluation once
    mious = [e["miou"] for e in evals]
    best = max(mious)
    best_iteration = evals[mious.index(best)]["iteration"]
    # precondition (see the docstring): one strict maximum, between the two interruptions
    assert sorted(mious)[-2] < best, mious
    assert best_iteration in (3, 4), (f"the best evaluation must fall between the interruptions; mIoUs {mious}: "
                                      f"choose another --seed in LIFE_FLAGS")
    assert best > max(mious[:2]) and best > max(mious[4:])

    best_state = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    last_state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert best_state["iteration"] == best_iteration
    assert best_state["best"] == {"miou": best, "iteration": best_iteration}
    assert last_state["iteration"] == ITERS
    assert last_state["best"] == {"miou": best, "iteration": best_iteration}
    assert f"done: best mIoU {100 * best:.2f}% at iteration {best_iteration}, " in life["procs"][-1].stdout


# ---- 3. resuming refused when the configuration changed, allowed for RESUMABLE_CHANGES ------------------

REFUSED = {  # flags added to the run's command -> the differences the error must name
    "data+model": (("--crop-size", "96", "--merge", "sum"),
                   ("data.crop_size: 64 -> 96", "model.merge: 'concat' -> 'sum'")),
    "train.lr": (("--lr", "0.02"), ("train.lr: 0.01 -> 0.02",)),  # the train section must be compared too
}
ALLOWED = ("--workers", "1", "--skip-bad", "--ksac-impl", "conv")  # the data and model keys of RESUMABLE_CHANGES


@pytest.fixture(scope="module")
def resumes(life, tmp_path_factory) -> dict:
    """The run's command again, with changed settings, each in its own copy of the run directory as it was
    at iteration 2 (one after the other): the REFUSED cases and the ALLOWED one. Case -> (process, run directory,
    its files before, its files after)."""
    cases = {**{name: flags for name, (flags, _) in REFUSED.items()}, "allowed": ALLOWED}
    runs, before = {}, {}
    for name in cases:
        runs[name] = tmp_path_factory.mktemp(f"resume_{name}") / "run"
        shutil.copytree(life["at_2"], runs[name])
        before[name] = files_of(runs[name])
    procs = [ksac(*[str(runs[name]) if a == str(life["run"]) else a for a in life["command"]], *flags)
             for name, flags in cases.items()]
    return {name: (proc, runs[name], before[name], files_of(runs[name])) for name, proc in zip(cases, procs)}


@pytest.mark.parametrize("case", list(REFUSED))
def test_resume_with_another_configuration_is_refused_and_touches_nothing(resumes, case):
    """The same command with settings changed, in a run directory stopped at iteration 2: exit 2, one line
    naming each changed key (old -> new) and suggesting another --run-dir or --force, no
    traceback, and every file of the run directory byte for byte and mtime for mtime as before. One case
    changes a data and a model key at once (each section must be compared), the other the learning rate:
    resuming with another lr silently trains a run that matches neither configuration.

    Breaks when the config-difference check is removed or skips a section, or when anything (config.yaml,
    the logs) is rewritten before the check."""
    proc, run, before, after = resumes[case]
    line = _one_error_line(proc)
    assert f"{run} holds a run of another configuration" in line, line
    for change in REFUSED[case][1]:
        assert change in line, (change, line)
    assert "--run-dir" in line and "or --force to start over" in line, line
    assert after == before


def test_a_change_only_the_engine_can_see_is_refused_there_and_touches_nothing(life, tmp_path, capfd):
    """The refusals above come from the check made before torch is imported (workflows/preflight.py). --amp
    is left out of that check (auto becomes the mode the device runs only when the run starts), so resuming
    with another --amp is refused by the engine, when it loads the checkpoint: exit 2, the change named,
    every file as before. Run in this process (tiny_run.train_here). Breaks when the engine's own check goes."""
    run = Path(shutil.copytree(life["at_2"], tmp_path / "run"))
    before = files_of(run)
    command = [str(run) if a == str(life["run"]) else a for a in life["command"]][1:]
    with pytest.raises(SystemExit) as stopped:
        train_here(*command, "--amp", "bf16")
    assert stopped.value.code == 2
    err = capfd.readouterr().err
    assert f"{run} holds a run of another configuration (train.amp: 'off' -> 'bf16')" in err, err[-2000:]
    assert files_of(run) == before


def test_resume_may_change_workers_skip_bad_and_ksac_impl(resumes):
    """data.workers, data.skip_bad and model.ksac_impl (RESUMABLE_CHANGES) do not change what is computed:
    the run stopped at iteration 2 resumes with all three changed, trains to the end, and config.yaml records
    the new values. Breaks when any of them is dropped from RESUMABLE_CHANGES."""
    import yaml

    proc, run, _, _ = resumes["allowed"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {run / 'checkpoints' / 'last.pt'} at iteration 2" in proc.stdout
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["iteration"] == ITERS
    assert [e["iteration"] for e in _jsonl(run / "eval.jsonl")] == list(range(1, ITERS + 1))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert (saved["data"]["workers"], saved["data"]["skip_bad"], saved["model"]["ksac_impl"]) == (1, True, "conv")


# ---- 4. a checkpoint evaluated on a dataset of another class count -------------------------------------


def _voc_val_split(root: Path, ids=("2007_000032", "2007_000039")) -> Path:
    """A PASCAL VOC layout (21 classes) holding a val split of two 40x48 images."""
    from ksac_cli.data.classes import voc_palette

    voc = root / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for sample_id in ids:
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{sample_id}.jpg")
        mask = np.zeros((40, 48), np.uint8)
        mask[10:30, 12:36] = 15  # person
        png = Image.fromarray(mask, mode="P")
        png.putpalette(voc_palette().reshape(-1).tolist())
        png.save(voc / "SegmentationClass" / f"{sample_id}.png")
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")
    return root


def test_eval_on_a_dataset_with_another_class_count_is_refused(life, tmp_path):
    """A 6-class checkpoint evaluated on a real VOC-layout folder (21 classes): exit 2, one line naming both
    counts and the checkpoint, no traceback, no eval.json. Breaks when the class-count check is removed
    (the evaluation then runs, or crashes with a traceback)."""
    root = _voc_val_split(tmp_path / "voc")
    out = tmp_path / "e" / "eval.json"
    proc = ksac("eval", "--checkpoint", str(life["checkpoint"]), "--dataset", "voc", "--data-root", str(root),
                "--out", str(out))
    line = _one_error_line(proc)
    assert f"{life['checkpoint']} predicts 6 classes but dataset 'voc' has 21" in line, line
    assert not out.parent.exists() or not any(out.parent.iterdir())


# ---- 5. ASPP and KSAC (merge sum): killed and resumed, bit for bit -------------------------------------

HEADS = {"aspp": ("--head", "aspp"), "ksac-sum": ("--head", "ksac", "--merge", "sum")}


@pytest.fixture(scope="module")
def head_runs(tmp_path_factory, synth_root) -> dict:
    """Per head: a 4-iteration run SIGKILLed during iteration 3 (after the checkpoint of iteration 2) then the
    same command again (the killed processes run at once; the reruns in this process, one after the other),
    and the same run uninterrupted, trained in this process (tiny_run.train_here)."""
    folder = tmp_path_factory.mktemp("heads")
    recipe = str(write_tiny_recipe(folder / "tiny.yaml", synth_root, iters=4, save_every=2))
    runs = {(head, kind): folder / head / kind for head in HEADS for kind in ("straight", "killed")}
    command = {key: ("train", "--recipe", recipe, "--run-dir", str(run), *HEADS[key[0]]) for key, run in runs.items()}
    first = dict(zip(HEADS, _processes_at_once(*[(command[head, "killed"], {"KSAC_FAULT": "step@3=kill"})
                                                  for head in HEADS])))
    for head in HEADS:
        train_here(*command[head, "straight"][1:])
    at_kill = {head: torch.load(runs[head, "killed"] / "checkpoints" / "last.pt", weights_only=True)["iteration"]
               for head in HEADS if (runs[head, "killed"] / "checkpoints" / "last.pt").exists()}
    resumed = {head: ksac(*command[head, "killed"]) for head in HEADS}
    return {"runs": runs, "first": first, "at_kill": at_kill, "resumed": resumed}


@pytest.mark.parametrize("head", list(HEADS))
def test_killed_then_resumed_run_is_bit_identical(head_runs, head):
    """SIGKILL during iteration 3 (after the checkpoint of iteration 2), then the same command: the final
    last.pt holds exactly (torch.equal) the weights, buffers and momentum of an uninterrupted run, and
    metrics.jsonl / eval.jsonl hold the same losses, learning rates and metrics, each iteration once.
    (test_train_cli.py covers KSAC concat.) Breaks when resume loses any part of the state: weights,
    optimizer, scheduler, RNG (dropout, augmentation) or the data order's position."""
    straight, killed = head_runs["runs"][head, "straight"], head_runs["runs"][head, "killed"]
    proc = head_runs["first"][head]
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert head_runs["at_kill"][head] == 2
    proc = head_runs["resumed"][head]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {killed / 'checkpoints' / 'last.pt'} at iteration 2" in proc.stdout

    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    model = a["config"]["model"]
    assert (model["head"], model["merge"]) == {"aspp": ("aspp", "concat"), "ksac-sum": ("ksac", "sum")}[head]
    assert a["iteration"] == b["iteration"] == 4
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for index, slot in a["optimizer"]["state"].items():
        assert torch.equal(slot["momentum_buffer"], b["optimizer"]["state"][index]["momentum_buffer"]), index
    logs = {name: [_jsonl(run / "metrics.jsonl"), _jsonl(run / "eval.jsonl")] for name, run in
            (("straight", straight), ("killed", killed))}
    assert [m["iteration"] for m in logs["killed"][0]] == [1, 2, 3, 4]
    assert [(m["loss"], m["lr"]) for m in logs["killed"][0]] == [(m["loss"], m["lr"]) for m in logs["straight"][0]]
    assert logs["killed"][1] == logs["straight"][1]


# ---- 6. prediction overlays ------------------------------------------------------------------------------


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two images (0..255 per channel)."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def test_prediction_overlays_show_image_prediction_and_truth(evals, reference, val_data):
    """`ksac eval --save-predictions DIR` (here with --scales 0.75,1.25 --flip): for every val image,
    <id>.png holds the predicted class indices (equal to the multi-scale + flip prediction computed here),
    and <id>_overlay.jpg is (H, 3W): the image | the image blended half and half with the palette colours of
    <id>.png | the palette colours of the truth mask. JPEG is lossy, so each panel is compared by its mean
    absolute difference; the same comparison with prediction and truth swapped must be clearly worse.

    Breaks when panels are swapped or missing, the overlay shows something else than <id>.png, an overlay
    or a prediction is missing, or a size is wrong."""
    preds = evals["preds"]
    assert sorted(p.name for p in preds.iterdir()) == sorted(
        name for i in val_data for name in (f"{i}.png", f"{i}_overlay.jpg"))
    swaps_checked = 0
    for sample_id, (image, truth, palette) in val_data.items():
        h, w = truth.shape
        with Image.open(preds / f"{sample_id}.png") as png:
            assert png.mode == "P" and png.size == (w, h)
            pred = np.asarray(png)
            pred_palette = np.asarray(png.getpalette(), np.uint8).reshape(-1, 3)
        assert np.array_equal(pred, reference["msf"][sample_id])
        with Image.open(preds / f"{sample_id}_overlay.jpg") as jpg:
            assert jpg.size == (3 * w, h)
            overlay = np.asarray(jpg.convert("RGB"))
        left, middle, right = overlay[:, :w], overlay[:, w:2 * w], overlay[:, 2 * w:]
        pred_blend = 0.5 * image + 0.5 * pred_palette[pred]
        truth_blend = 0.5 * image + 0.5 * palette[truth]
        # measured: left <= 1.3, middle 4..6.5 (JPEG halves the chroma resolution: colour edges blur), right <= 3.6
        assert _mad(left, image) < 10, sample_id
        assert _mad(middle, pred_blend) < 10, sample_id
        assert _mad(right, palette[truth]) < 10, sample_id
        if (pred != truth).mean() > 0.2:  # prediction and truth differ enough for a swap to show (measured: 24..52)
            swaps_checked += 1
            assert _mad(middle, truth_blend) > _mad(middle, pred_blend) + 10, sample_id
            assert _mad(right, pred_palette[pred]) > _mad(right, palette[truth]) + 10, sample_id
    assert swaps_checked >= len(val_data) // 2  # the swap comparison was not vacuous

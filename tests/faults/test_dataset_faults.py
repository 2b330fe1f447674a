"""Damaged datasets in the PASCAL VOC layout, met by `ksac train` and `ksac eval`: without --skip-bad the
run stops with the file and its problem (exit 2); with it the sample is skipped and counted; an empty
split is an error either way. CI runs one fault per command, drawn with the day's seed (faultkit.rotating); KSAC_FAULTS_FULL=1 runs every fault in both."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from faultkit import assert_clean_failure, ci_or_full, iterations, rotating, run
from PIL import Image

from ksac_cli.data.classes import voc_palette

TRAIN, VAL = [f"2007_{i:06d}" for i in range(6)], [f"2008_{i:06d}" for i in range(3)]
RECIPE = """\
name: vocfault
model: {{backbone: mobilenetv2_035, head: ksac, rates: [1, 2], output_stride: 16, channels: 8, decoder_channels: 8,
        low_level_channels: 8}}
data: {{dataset: voc, data_root: {root}, crop_size: 32, workers: 0}}
train: {{iters: 2, batch_size: 2, save_every: 2, log_every: 1, device: cpu}}
"""


def make_voc(root: Path) -> Path:
    voc = root / "VOCdevkit" / "VOC2012"
    rng = np.random.default_rng(0)
    for name in TRAIN + VAL:
        (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{name}.jpg")
        mask = np.zeros((40, 48), np.uint8)
        mask[5:25, 10:30] = 15
        png = Image.fromarray(mask, mode="P")
        png.putpalette(voc_palette().reshape(-1).tolist())
        (voc / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        png.save(voc / "SegmentationClass" / f"{name}.png")
    sets = voc / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "train.txt").write_text("\n".join(TRAIN) + "\n")
    (sets / "val.txt").write_text("\n".join(VAL) + "\n")
    return root


def damage(root: Path, fault: str, split: str) -> str:
    """Damage one sample of `split` (or the split itself); returns the path the message must name."""
    voc = root / "VOCdevkit" / "VOC2012"
    name = (TRAIN if split == "train" else VAL)[1]
    image, mask = voc / "JPEGImages" / f"{name}.jpg", voc / "SegmentationClass" / f"{name}.png"
    if fault == "truncated jpeg":
        image.write_bytes(image.read_bytes()[:300])
        return str(image)
    if fault == "illegal label":
        labels = np.asarray(Image.open(mask)).copy()
        labels[0, 0] = 50
        png = Image.fromarray(labels, mode="P")
        png.putpalette(voc_palette().reshape(-1).tolist())
        png.save(mask)
        return str(mask)
    if fault == "missing mask":
        mask.unlink()
        return str(mask)
    if fault == "size mismatch":
        Image.open(mask).resize((30, 30)).save(mask)
        return str(mask)
    (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("")  # empty split
    return f"split {split!r} is empty"


PROBLEMS = {"truncated jpeg": "", "illegal label": "50", "missing mask": "missing mask", "size mismatch": "is 30x30 but image"}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, Path]:
    """(a clean dataset, a checkpoint trained on it)."""
    folder = tmp_path_factory.mktemp("vocfault")
    root = make_voc(folder / "clean")
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE.format(root=root))
    proc = run("train", "--recipe", str(recipe), "--run-dir", str(folder / "run"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root, folder / "run" / "checkpoints" / "last.pt"


def damaged_copy(clean_root: Path, tmp_path: Path, fault: str, split: str) -> tuple[Path, str]:
    root = tmp_path / "damaged"
    shutil.copytree(clean_root, root)
    return root, damage(root, fault, split)


@pytest.mark.parametrize("fault", rotating(list(PROBLEMS), 1))
def test_train_on_a_bad_sample_stops_or_skips_it(fault, clean, tmp_path):
    root, named = damaged_copy(clean[0], tmp_path, fault, "train")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(root=root))
    args = ("train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "run"), "--iters", "3")
    assert_clean_failure(run(*args), 2, f"bad sample {named}", PROBLEMS[fault], "--skip-bad")
    proc = run(*args, "--skip-bad")
    assert proc.returncode == 0, proc.stderr[-2000:]
    skipped = re.search(r"skipped (\d+) bad samples", proc.stdout)
    assert skipped and int(skipped.group(1)) >= 1, proc.stdout  # the one bad file, once per epoch it is drawn
    run_dir = tmp_path / "run"
    assert torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["iteration"] == 3  # every step made
    assert iterations(run_dir / "metrics.jsonl") == [1, 2, 3]
    assert len(iterations(run_dir / "eval.jsonl")) == 1


@pytest.mark.parametrize("fault", rotating(list(PROBLEMS), 1, salt="eval"))
def test_eval_on_a_bad_sample_stops_or_skips_it(fault, clean, tmp_path):
    root, named = damaged_copy(clean[0], tmp_path, fault, "val")
    args = ("eval", "--checkpoint", str(clean[1]), "--data-root", str(root), "--out", str(tmp_path / "e.json"))
    assert_clean_failure(run(*args), 2, f"bad sample {named}", PROBLEMS[fault], "--skip-bad")
    proc = run(*args, "--skip-bad")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "skipped 1 bad samples" in proc.stderr
    assert '"skipped_bad_samples": 1' in (tmp_path / "e.json").read_text()


@pytest.mark.parametrize("command,skip_bad", ci_or_full([("train", False), ("train", True), ("eval", False),
                                                          ("eval", True)], [("eval", True)]))
def test_an_empty_split_is_an_error(command, skip_bad, clean, tmp_path):
    split = "train" if command == "train" else "val"
    root, named = damaged_copy(clean[0], tmp_path, "empty split", split)
    if command == "train":
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(RECIPE.format(root=root))
        args = ["train", "--recipe", str(recipe), "--run-dir", str(tmp_path / "run")]
    else:
        args = ["eval", "--checkpoint", str(clean[1]), "--data-root", str(root)]
    proc = run(*args, *(["--skip-bad"] if skip_bad else []))
    assert_clean_failure(proc, 2, named, "check --data-root and --split")

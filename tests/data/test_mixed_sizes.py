"""Real datasets' images differ in size (issue 13): `ksac train` (its final evaluation) and `ksac eval`, in
one process and under torchrun, evaluate them with the quick recipe underneath (evaluation batch 8), and
the metrics equal those of one image per batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import ksac as ksac_here
from layouts import make_voc_mixed_sizes

from ksac_cli.data import collate_by_size


def ksac(*args: str, nproc: int = 1) -> subprocess.CompletedProcess:
    if nproc == 1:
        return ksac_here(*args)
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           "-m", "ksac_cli", *args], capture_output=True, text=True, timeout=600)


# flags only: the quick recipe (eval.batch_size 8, MobileNetV2-0.35, rates 6,12,18) underneath
TRAIN = ["--dataset", "voc", "--split", "train", "--crop-size", "48", "--batch-size", "4", "--iters", "2",
         "--workers", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("mixed")
    root = make_voc_mixed_sizes(folder / "voc", train=4, val=7)
    run = folder / "run"
    proc = ksac("train", *TRAIN, "--data-root", str(root), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = ksac("eval", "--checkpoint", str(run / "checkpoints/last.pt"), "--batch-size", "1",
               "--out", str(folder / "b1/eval.json"))  # the reference: one image per batch
    assert one.returncode == 0, one.stderr[-3000:]
    return root, run, folder / "b1"


def confusion(path: Path) -> str:
    return path.read_text()


def test_every_val_image_has_its_own_size(trained):
    from PIL import Image

    root, _, _ = trained
    voc = root / "VOCdevkit" / "VOC2012"
    ids = (voc / "ImageSets/Segmentation/val.txt").read_text().split()
    sizes = {Image.open(voc / "JPEGImages" / f"{i}.jpg").size for i in ids}
    assert len(sizes) == len(ids) == 7


def test_train_ends_with_an_evaluation_equal_to_one_image_per_batch(trained, tmp_path):
    _, run, b1 = trained
    final = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()][-1]
    assert final["iteration"] == 2
    record = json.loads((b1 / "eval.json").read_text())
    assert record["images"] == 7
    for key in ("miou", "pixel_accuracy", "per_class_iou", "size_iou"):
        assert record[key] == final[key], key


def test_eval_multiscale_flip_batched_equals_one_by_one(trained, tmp_path):
    _, run, _ = trained
    ckpt = str(run / "checkpoints/last.pt")
    common = ["--scales", "0.75,1.25", "--flip"]
    eight = ksac("eval", "--checkpoint", ckpt, *common, "--out", str(tmp_path / "b8/eval.json"))  # recipe: 8
    one = ksac("eval", "--checkpoint", ckpt, *common, "--batch-size", "1", "--out", str(tmp_path / "b1/eval.json"))
    assert eight.returncode == 0, eight.stderr[-3000:]
    assert one.returncode == 0, one.stderr[-3000:]
    assert confusion(tmp_path / "b8/confusion.csv") == confusion(tmp_path / "b1/confusion.csv")
    total = sum(int(v) for line in confusion(tmp_path / "b8/confusion.csv").splitlines()[1:]
                for v in line.split(",")[1:])
    assert total > 0


def test_torchrun_trains_and_evaluates_mixed_sizes(trained, tmp_path):
    root, run, b1 = trained
    ckpt = str(run / "checkpoints/last.pt")
    two = ksac("eval", "--checkpoint", ckpt, "--out", str(tmp_path / "two/eval.json"), nproc=2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert confusion(tmp_path / "two/confusion.csv") == confusion(b1 / "confusion.csv")
    two_record, one_record = (json.loads((d / "eval.json").read_text()) for d in (tmp_path / "two", b1))
    assert two_record["images"] == one_record["images"] == 7  # 7 images over 2 ranks: none twice, none left out
    assert two_record["miou"] == one_record["miou"]

    trained_two = ksac("train", *TRAIN, "--iters", "1", "--data-root", str(root), "--run-dir", str(tmp_path / "ddp"),
                       nproc=2)
    assert trained_two.returncode == 0, trained_two.stderr[-3000:]
    evals = [json.loads(line) for line in (tmp_path / "ddp/eval.jsonl").read_text().splitlines()]
    assert len(evals) == 1
    check = ksac("eval", "--checkpoint", str(tmp_path / "ddp/checkpoints/last.pt"), "--batch-size", "1",
                 "--out", str(tmp_path / "check/eval.json"))
    assert check.returncode == 0, check.stderr[-3000:]
    record = json.loads((tmp_path / "check/eval.json").read_text())
    assert record["images"] == 7 and record["miou"] == evals[0]["miou"]
    assert record["per_class_iou"] == evals[0]["per_class_iou"]


def test_collate_by_size_keeps_every_sample_once():
    import torch

    def sample(h, w, tag):
        return torch.full((3, h, w), float(tag)), torch.zeros(h, w, dtype=torch.int64), f"id{tag}"

    batch = [sample(5, 7, 0), sample(6, 7, 1), sample(5, 7, 2), sample(7, 5, 3)]
    groups = collate_by_size(batch)
    assert [g.ids for g in groups] == [["id0", "id2"], ["id1"], ["id3"]]
    assert [tuple(g.images.shape) for g in groups] == [(2, 3, 5, 7), (1, 3, 6, 7), (1, 3, 7, 5)]
    assert groups[0].images[1, 0, 0, 0] == 2.0

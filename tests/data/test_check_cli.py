"""`ksac data check` (in this process, tests/cli_runner.py): each planted problem named by its file; a clean set
passes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import ksac
from layouts import make_voc, palette_png
from PIL import Image


def check(root, split, out):
    return ksac("data", "check", "--dataset", "voc", "--data-root", str(root), "--split", split, "--out", str(out))


def test_clean_fixture_passes(tmp_path):
    root = make_voc(tmp_path)
    proc = check(root, "trainval", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["samples"] == report["readable"] == 3 and report["problems"] == []
    assert report["objects"]["person"] == {"small": 3, "medium": 0, "large": 0}
    assert "no problems found" in proc.stdout


def test_every_planted_problem_is_named_with_its_file(tmp_path):
    root = make_voc(tmp_path, ids=[f"2007_{i:06d}" for i in range(6)])
    voc = root / "VOCdevkit/VOC2012"
    jpg = voc / "JPEGImages/2007_000000.jpg"
    jpg.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 2])  # truncated JPEG
    bad_labels = np.zeros((20, 24), np.uint8)
    bad_labels[0, 0] = 42
    palette_png(bad_labels, voc / "SegmentationClass/2007_000001.png")  # label 42 > 20
    (voc / "SegmentationClass/2007_000002.png").unlink()  # missing mask
    palette_png(np.zeros((10, 24), np.uint8), voc / "SegmentationClass/2007_000003.png")  # size mismatch
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(voc / "SegmentationClass/2007_000004.png")  # RGB mask
    proc = check(root, "trainval", tmp_path / "r.json")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    expected = {
        "JPEGImages/2007_000000.jpg": "unreadable or truncated image",
        "SegmentationClass/2007_000001.png": "mask has labels 42 outside the dataset's classes 0..20 and 255",
        "SegmentationClass/2007_000002.png": "missing mask",
        "SegmentationClass/2007_000003.png": "mask is 24x10 but image 2007_000003.jpg is 24x20",
        "SegmentationClass/2007_000004.png": "mask has mode RGB; expected a single-channel (L) or palette (P) PNG",
    }
    problems = json.loads((tmp_path / "r.json").read_text())["problems"]
    assert len(problems) == 5
    for path, problem in expected.items():
        assert any(p["path"].endswith(path) and problem in p["problem"] for p in problems), path
        assert path.split("/")[-1] in proc.stderr
    assert "5 problems in voc trainval" in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--dataset", "voc"], "--data-root: dataset 'voc' needs --data-root"),
    (["--dataset", "coco"], "--dataset: 'coco' is not allowed; expected one of: synthetic, voc"),
    (["--workers", "-1"], "--workers: -1 must be >= 0"),
])
def test_errors_name_the_flags_not_the_config_keys(tmp_path, args, message):
    proc = ksac("data", "check", *args, "--out", str(tmp_path / "r.json"))
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr
    assert message in errors[0] and "data." not in errors[0], errors[0]
    assert not (tmp_path / "r.json").exists()


def test_without_out_the_report_goes_to_results_not_the_current_folder(tmp_path):
    root = make_voc(tmp_path / "data")
    here = tmp_path / "clone"
    here.mkdir()
    proc = ksac("data", "check", "--dataset", "voc", "--data-root", str(root), "--split", "trainval", cwd=here)
    assert proc.returncode == 0, proc.stderr
    written = here / "results" / "data-check-voc-trainval.json"
    assert json.loads(written.read_text())["samples"] == 3
    assert [p.name for p in here.iterdir()] == ["results"]  # nothing beside it
    assert "wrote results/data-check-voc-trainval.json" in proc.stdout

"""The evidence files of an evaluation (eval_images.npz, samples/) from a real tiny `ksac train` and
`ksac eval`, and the gathering of per-image matrices across 2 torchrun processes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from tiny_run import ksac

from ksac_cli.engine.qualitative import buckets_present, choose_samples
from ksac_cli.report.stats import miou, size_iou


def load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def confusion_csv(path) -> np.ndarray:
    with open(path, newline="") as f:
        return np.array([[int(v) for k, v in row.items() if k != "true_class"] for row in csv.DictReader(f)])


def test_train_and_eval_write_per_image_matrices_and_samples(tmp_path, pair):
    run = pair["ksac"][1]  # a finished 4-iteration tiny run, evaluated at 2 and 4 (conftest.py: pair)
    trained = load_npz(run / "eval_images.npz")
    assert set(trained) == {"ids", "confusion", "groups", "classes"}
    assert trained["ids"].tolist() == ["val_00000", "val_00001", "val_00002", "val_00003"]  # sorted by id
    assert trained["confusion"].shape == (4, 4, 6, 6) and trained["confusion"].dtype == np.int32
    assert trained["groups"].tolist() == ["none", "small", "medium", "large"]
    assert trained["classes"].tolist()[:2] == ["background", "disc"]

    # the final evaluation's numbers are the npz's, recomputed without torch
    final = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    conf = trained["confusion"]
    assert miou(conf.sum(axis=(0, 1))) == pytest.approx(final["miou"], abs=1e-12)
    for g, size in enumerate(("small", "medium", "large"), start=1):
        value = size_iou(conf[:, g].sum(axis=0))
        assert (final["size_iou"][size] is None) if np.isnan(value) else value == pytest.approx(final["size_iou"][size])

    # ksac eval of the same checkpoint: its npz sums to its confusion.csv, and equals training's evaluation
    proc = ksac("eval", "--checkpoint", str(run / "checkpoints/last.pt"), "--out", str(tmp_path / "e" / "eval.json"))
    assert proc.returncode == 0, proc.stderr
    evaluated = load_npz(tmp_path / "e" / "eval_images.npz")
    matrix = confusion_csv(tmp_path / "e" / "confusion.csv")
    assert (evaluated["confusion"].sum(axis=(0, 1)) == matrix).all()
    assert (conf.sum(axis=(0, 1)) == matrix).all()
    assert (evaluated["confusion"] == conf).all() and (evaluated["ids"] == trained["ids"]).all()

    # samples/: the choice made from the ground truth alone; files whose pixels are the evaluation's
    index = json.loads((run / "samples" / "index.json").read_text())
    expected = choose_samples(*buckets_present(list(zip(trained["ids"].tolist(), conf))))
    assert [(s["id"], s["bucket"]) for s in index["samples"]] == expected and index["ids"] == [i for i, _ in expected]
    assert index["classes"] == trained["classes"].tolist() and len(index["palette"]) == 6 and index["iteration"] == 4
    position = {i: n for n, i in enumerate(trained["ids"].tolist())}
    for entry in index["samples"]:
        with Image.open(run / "samples" / entry["image"]) as im:
            assert im.mode == "RGB" and im.size == (96, 96)
        labels = {}
        for name in ("truth", "pred"):
            with Image.open(run / "samples" / entry[name]) as im:
                assert im.mode == "P" and im.size == (96, 96)
                labels[name] = np.asarray(im).astype(np.int64)
        keep = labels["truth"] != 255
        pairs = np.bincount(labels["truth"][keep] * 6 + labels["pred"][keep], minlength=36).reshape(6, 6)
        assert (pairs == conf[position[entry["id"]]].sum(axis=0)).all()


GATHER = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from ksac_cli.engine import distributed
    from ksac_cli.engine.evidence import gather_per_image

    dist = distributed.init("cpu")
    # rank r evaluated images r, r + 2, ... (as the sharded eval loader does)
    mine = [(f"img_{i}", np.full((4, 2, 2), i, np.int32)) for i in range(dist.rank, 5, dist.world_size)]
    gathered = gather_per_image(mine, dist)
    out = sys.argv[1] + f"/rank{dist.rank}.json"
    with open(out, "w") as f:
        json.dump([[i, int(m[0, 0, 0])] for i, m in gathered], f)
    dist.close()
""")


def test_rank_0_gathers_every_ranks_per_image_matrices(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(GATHER)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "rank0.json").read_text()) == [[f"img_{i}", i] for i in range(5)]
    assert json.loads((tmp_path / "rank1.json").read_text()) == []

"""A full disk while writing a checkpoint or the results CSV: a clear error, the previous checkpoint and
every earlier CSV row intact; the same command afterwards finishes the work."""

from __future__ import annotations

import resource
import signal

import torch
from faultkit import assert_clean_failure, assert_no_half_written_file, iterations, run

from ksac_cli import io
from ksac_cli.experiments.rows import COLUMNS


def test_full_disk_on_a_checkpoint_keeps_the_previous_one(tiny_recipe, tmp_path):
    run_dir = tmp_path / "run"
    args = ("train", "--recipe", str(tiny_recipe(iters=6, save_every=2)), "--run-dir", str(run_dir))
    proc = run(*args, fault="write:last.pt@2=enospc")
    assert_clean_failure(proc, 1, f"could not write {run_dir / 'checkpoints/last.pt'}", "No space left on device",
                         "the previous version is intact")
    assert torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["iteration"] == 2
    assert_no_half_written_file(run_dir)
    resumed = run(*args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stdout and "at iteration 2" in resumed.stdout
    assert iterations(run_dir / "metrics.jsonl") == [1, 2, 3, 4, 5, 6]


def test_a_real_write_failure_from_the_os_is_reported_the_same_way(tiny_recipe, tmp_path):
    """No hook: the OS refuses to let the process write a file larger than 64 kB (RLIMIT_FSIZE), as a full
    disk would refuse the checkpoint; the config and logs (small) are written, the checkpoint fails."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write returns EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    run_dir = tmp_path / "run"
    proc = run("train", "--recipe", str(tiny_recipe(iters=2, save_every=1)), "--run-dir", str(run_dir),
               preexec_fn=limit)
    assert_clean_failure(proc, 1, f"could not write {run_dir / 'checkpoints/last.pt'}", "File too large")
    assert not (run_dir / "checkpoints/last.pt").exists()
    assert_no_half_written_file(run_dir)


def _rows(n: int) -> list[dict]:
    return [{**{c: "" for c in COLUMNS}, "grid": "old", "cell": f"c{i}", "seed": 0, "config_hash": "x", "status": "ok",
             "miou": 0.1 * i} for i in range(n)]


def test_full_disk_on_the_results_csv_keeps_every_earlier_row(tiny_recipe, tmp_path):
    csv_path = tmp_path / "ablation.csv"
    io.write_csv(csv_path, _rows(3), COLUMNS)
    before, before_rows = csv_path.read_bytes(), io.read_csv_rows(csv_path)
    args = ("ablate", "--recipe", str(tiny_recipe(iters=2)), "--head", "ksac", "--rates", "1,2", "--seeds", "1",
            "--out", str(tmp_path / "cells"), "--results", str(csv_path.parent))
    proc = run(*args, fault="write:ablation.csv@1=enospc")
    assert_clean_failure(proc, 1, f"could not write {csv_path}", "No space left on device")
    assert csv_path.read_bytes() == before
    assert not list(tmp_path.glob(".ablation.csv.*.tmp"))

    again = run(*args)  # the cell's training is done: it is evaluated and recorded, not trained again
    assert again.returncode == 0, again.stderr[-2000:]
    rows = io.read_csv_rows(csv_path)
    assert [r["cell"] for r in rows] == ["c0", "c1", "c2", rows[3]["cell"]] and rows[3]["status"] == "ok"
    assert rows[:3] == before_rows
    assert iterations(tmp_path / "cells" / rows[3]["cell"] / "metrics.jsonl") == [1, 2]  # trained once

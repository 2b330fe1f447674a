"""Several `ksac ablate` processes on the same grid at once (a cluster with a shared disk, or a user who
starts the command twice): no cell is trained by two processes at the same time (a lock per cell), no
CSV row is lost or duplicated, and a rerun (in this process, tests/cli_runner.py) finds everything done."""

from __future__ import annotations

import os

from cli_runner import ksac_popen
from faultkit import FULL, iterations, run

from ksac_cli import io


def test_concurrent_ablates_train_each_cell_once_and_lose_no_row(tiny_recipe, tmp_path):
    out, csv_path = tmp_path / "cells", tmp_path / "ablation.csv"
    args = ["ablate", "--recipe", str(tiny_recipe(iters=4, save_every=2)), "--head", "aspp", "--head", "ksac",
            "--rates", "1,2", "--rates", "1,2,3", "--seeds", "1", "--out", str(out), "--results", str(csv_path.parent)]
    env = {**os.environ, "KSAC_FAULT": ""}
    procs = [ksac_popen(*args, env=env) for _ in range(3 if FULL else 2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-2000:]

    rows = io.read_csv_rows(csv_path)
    cells = sorted(path.name for path in out.iterdir() if path.is_dir())
    assert len(cells) == 4
    assert sorted(r["cell"] for r in rows) == cells  # one row per cell: none lost, none twice
    assert all(r["status"] == "ok" for r in rows)
    for cell in cells:  # trained once: one log line per iteration, never two processes' worth
        assert iterations(out / cell / "metrics.jsonl") == list(range(1, 5)), cell
    log = (out / "ablate.log").read_text()  # every process's cell lines, appended to one log
    skipped = log.count("skipped ")
    assert skipped >= 4, log  # every cell: run by one process, skipped by the others

    again = run(*args)
    assert again.returncode == 0 and (out / "ablate.log").read_text().count(": done") == log.count(": done") + 4
    assert io.read_csv_rows(csv_path) == rows

"""`ksac ablate --emit-jobs` and rows keyed by (grid, cell, seed, config_hash): one line of the job script
(run by bash with the installed `ksac` script, a real process) adds exactly its cell's row, once; a cell whose
resolved config changed is trained again under a new hash, an unchanged one is skipped (`ksac ablate` in this
process, tests/cli_runner.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from cli_runner import ksac
from tiny_run import write_tiny_recipe

from ksac_cli import io

ASPP = "mobilenetv2_035_aspp_r1-2_os16_seed0"
KSAC = "mobilenetv2_035_ksac-concat_r1-2_os16_seed0"
# one compute thread per `ksac` process (the in-process runs have one too): on this 2-core machine, shared
# with other jobs, two threads made a tiny run several times slower
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def ablate(recipe: Path, tmp: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`ksac ablate` of the tiny recipe, one seed, rates 1,2, into tmp/grid and tmp/ablation.csv."""
    return ksac("ablate", "--recipe", str(recipe), "--out", str(tmp / "grid"), "--results", str(tmp),
                "--seeds", "1", "--rates", "1,2", *args, cwd=cwd)


def run_line(line: str) -> subprocess.CompletedProcess:
    """One line of the job script, as a job runner would: `bash -c <line>`, with `ksac` (this environment's
    console script) on the PATH."""
    env = {**ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> SimpleNamespace:
    """`ksac ablate --emit-jobs` of a 2-cell grid (ASPP and KSAC, rates 1,2, one seed, 2 iterations),
    then the KSAC cell's line run once. The later tests rerun that cell: it is the 1-cell, 1-seed grid of
    the rerun tests (`--cell` runs that one cell alone)."""
    tmp = tmp_path_factory.mktemp("jobs")
    recipe = write_tiny_recipe(tmp / "grid.yaml", tmp / "synth", name="jobs", iters=2)
    assert "lr: 0.01," in recipe.read_text()
    script, csv = tmp / "jobs.sh", tmp / "ablation.csv"
    emitted = ablate(recipe, tmp, "--head", "aspp", "--head", "ksac", "--emit-jobs", str(script), cwd=tmp)
    assert emitted.returncode == 0, emitted.stderr
    ran_nothing = not csv.exists() and not (tmp / "grid").exists()
    text = script.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(lines) == 2, text
    first = run_line(lines[1])  # the KSAC cell (cells come in a stable order: ASPP, then KSAC)
    assert first.returncode == 0, first.stderr
    rows = io.read_csv_rows(csv)
    return SimpleNamespace(tmp=tmp, recipe=recipe, script=script, csv=csv, emitted=emitted, text=text, lines=lines,
                           ran_nothing=ran_nothing, rows=rows, row=rows[0] if rows else {})


def test_emit_jobs_writes_one_command_per_cell_and_runs_nothing(jobs):
    assert f"wrote {jobs.script}: 2 cell commands" in jobs.emitted.stdout
    assert jobs.ran_nothing
    all_lines = jobs.text.splitlines()
    assert all_lines[0] == "#!/usr/bin/env bash"
    for line, name in zip(jobs.lines, (ASPP, KSAC), strict=True):
        assert line.startswith(f"cd {jobs.tmp} && ksac ablate ") and line.endswith(f" --cell {name}")
        assert "--emit-jobs" not in line and str(jobs.script) not in line
    # the SLURM recipe in the header picks line TASK_ID + 3: task 1 is the first cell, task N the last
    sed = re.search(r'sed -n "\$\(\(SLURM_ARRAY_TASK_ID\+(\d+)\)\)p"', jobs.text)
    assert sed and re.search(r"--array=1-2\b", jobs.text)
    assert [all_lines[task + int(sed.group(1)) - 1] for task in (1, 2)] == jobs.lines


def test_one_line_of_the_job_script_adds_exactly_its_cell_row(jobs):
    rows = jobs.rows  # the CSV right after the line ran
    assert [(r["grid"], r["cell"], r["seed"], r["status"]) for r in rows] == [("grid", KSAC, "0", "ok")]
    assert rows[0]["head"] == "ksac" and rows[0]["iterations"] == "2"
    run_dir = Path(rows[0]["run_dir"])
    assert run_dir == jobs.tmp / "grid" / KSAC and (run_dir / "result.json").is_file()
    assert json.loads((run_dir / "result.json").read_text())["config_hash"] == rows[0]["config_hash"]
    assert not (jobs.tmp / "grid" / ASPP).exists()  # the other cell is another job's


def test_running_the_line_again_with_the_same_recipe_reruns_nothing(jobs):
    run_dir = Path(jobs.row["run_dir"])
    watched = (jobs.csv, run_dir / "metrics.jsonl", run_dir / "eval.jsonl", run_dir / "checkpoints/last.pt")
    before = {p: p.read_bytes() for p in watched}
    again = run_line(jobs.lines[1])
    assert again.returncode == 0, again.stderr
    assert f"skipped {KSAC}: done" in (jobs.tmp / "grid" / "ablate.log").read_text()  # the cells' lines: the log
    assert "0 cells run, 1 skipped, 0 failed" in again.stdout
    assert "resuming" not in again.stdout
    assert {p: p.read_bytes() for p in watched} == before  # no second row; nothing trained or rewritten


def first_lr(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])["lr"]


def test_a_cell_whose_config_changed_gets_a_new_hash_and_is_trained_again(jobs, tmp_path):
    old = jobs.row
    assert first_lr(Path(old["run_dir"])) == 0.01
    changed = tmp_path / "grid.yaml"  # the same recipe (same name: the same grid and cell) with lr 0.02
    changed.write_text(jobs.recipe.read_text().replace("lr: 0.01,", "lr: 0.02,"))
    proc = ablate(changed, jobs.tmp, "--head", "aspp", "--head", "ksac", "--cell", KSAC)
    assert proc.returncode == 0, proc.stderr
    assert "1 cells run, 0 skipped, 0 failed" in proc.stdout

    rows = io.read_csv_rows(jobs.csv)
    assert [(r["cell"], r["seed"]) for r in rows] == [(KSAC, "0"), (KSAC, "0")]
    assert rows[0] == old  # the old row is kept as it was
    new = rows[1]
    assert new["status"] == "ok" and new["config_hash"] != old["config_hash"]
    # ... and its numbers come from a run trained with the NEW lr, not from the old run's last checkpoint
    new_dir = Path(new["run_dir"])
    assert "resuming from" not in proc.stdout, proc.stdout
    assert first_lr(new_dir) == 0.02
    assert torch.load(new_dir / "checkpoints/last.pt", weights_only=True)["config"]["train"]["lr"] == 0.02

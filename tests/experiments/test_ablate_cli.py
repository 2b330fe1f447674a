"""`ksac ablate` on a tiny grid: skip, resume, failures recorded (in this process, tests/cli_runner.py; the
ablate killed mid-grid is a real process)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import torch
from cli_runner import ksac, ksac_popen
from tiny_run import write_tiny_recipe

from ksac_cli import io


def ablate(recipe: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """`ksac ablate` on the tiny recipe; one seed per cell unless --seeds is given (the default is 3)."""
    seeds = [] if "--seeds" in args else ["--seeds", "1"]
    return ksac("ablate", "--recipe", str(recipe), "--out", str(tmp / "grid"), "--results", str(tmp),
                *seeds, *args)


def make_recipe(tmp: Path, iters: int = 2, crop: int = 64) -> Path:
    return write_tiny_recipe(tmp / "grid.yaml", tmp / "synth", name="tinygrid", iters=iters, crop=crop)


def test_grid_runs_every_cell_then_skips_them(tmp_path):
    recipe = make_recipe(tmp_path)
    proc = ablate(recipe, tmp_path, "--rates", "1,2", "--rates", "1,2,3")
    assert proc.returncode == 0, proc.stderr
    rows = io.read_csv_rows(tmp_path / "ablation.csv")
    assert [(r["head"], r["rates"], r["status"]) for r in rows] == [
        ("aspp", "1,2", "ok"), ("ksac", "1,2", "ok"), ("aspp", "1,2,3", "ok"), ("ksac", "1,2,3", "ok")]
    for r in rows:
        assert 0 <= float(r["miou"]) <= 1 and int(r["params_total"]) > int(r["params_head"]) > 0
        assert r["torch_version"] == torch.__version__ and r["device"].startswith("cpu")
        assert (Path(r["run_dir"]) / "checkpoints/last.pt").is_file()
    assert int(rows[1]["params_head"]) < int(rows[0]["params_head"])

    log = tmp_path / "grid" / "ablate.log"  # every cell's lines; the terminal gets the answer
    assert log.read_text().count(": ok, mIoU") == 4 and ": ok, mIoU" not in proc.stdout
    assert "KSAC - ASPP on mIoU after 2 training iterations, 1 seeds per cell, run: commit " in proc.stdout
    assert len(proc.stdout.splitlines()) <= 25, proc.stdout
    again = ablate(recipe, tmp_path, "--rates", "1,2", "--rates", "1,2,3")
    assert again.returncode == 0, again.stderr
    assert log.read_text().count(": done") == 4 and "0 cells run, 4 skipped" in again.stdout
    assert len(io.read_csv_rows(tmp_path / "ablation.csv")) == 4  # no duplicated row

    dry = ablate(recipe, tmp_path, "--rates", "1,2", "--seeds", "2", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "4 cells" in dry.stdout and "nothing was run" in dry.stdout
    assert "mobilenetv2_035_ksac-concat_r1-2_os16_seed1" in dry.stdout
    # the grid's table first, then one timed step per model (2, not one per seed), then the estimates
    timings = [line for line in dry.stdout.splitlines() if line.startswith("timing one training step")]
    assert len(timings) == 2 and timings[1].endswith("2/2: mobilenetv2_035_ksac-concat_r1-2_os16")
    assert dry.stdout.index("head GMACs") < dry.stdout.index(timings[0]) < dry.stdout.index("s/eval batch")


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path):
    recipe = make_recipe(tmp_path)
    weights = tmp_path / "mnv2_035.pt"
    from ksac_cli.models import Backbone

    torch.save(Backbone("mobilenetv2_035").body.state_dict(), weights)  # fits one backbone, not the other
    proc = ablate(recipe, tmp_path, "--head", "ksac", "--rates", "1,2", "--backbone", "mobilenetv2_035",
                  "--backbone", "mobilenetv2_050", "--backbone-weights", str(weights))
    assert proc.returncode == 1
    rows = {r["backbone"]: r for r in io.read_csv_rows(tmp_path / "ablation.csv")}
    assert rows["mobilenetv2_035"]["status"] == "ok"
    assert rows["mobilenetv2_050"]["status"] == "failed"
    assert "does not fit this backbone" in rows["mobilenetv2_050"]["error"]
    assert "failed; retrying once" in proc.stderr
    assert "cell mobilenetv2_050_ksac-concat_r1-2_os16_seed0 failed" in proc.stderr


def test_a_killed_ablate_resumes_its_interrupted_cell(tmp_path):
    """At --amp auto (the default recipe's): the checkpoint records the resolved mode, and the cell resumes."""
    recipe = make_recipe(tmp_path, iters=16, crop=96)
    cmd = ["ablate", "--recipe", str(recipe), "--out", str(tmp_path / "grid"), "--amp", "auto",
           "--results", str(tmp_path), "--head", "ksac", "--rates", "1,2", "--rates", "1,2,3", "--seeds", "1"]
    proc = ksac_popen(*cmd)
    second = tmp_path / "grid" / "mobilenetv2_035_ksac-concat_r1-2-3_os16_seed0" / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not second.exists():
        assert proc.poll() is None and time.time() < deadline, ("the grid ended before the kill", proc.poll() and proc.communicate())
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(second, weights_only=True)["iteration"]
    assert killed_at < 16
    assert len(io.read_csv_rows(tmp_path / "ablation.csv")) == 1  # the first cell had finished

    rerun = ksac(*cmd)
    assert rerun.returncode == 0, rerun.stderr
    log = (tmp_path / "grid" / "ablate.log").read_text()
    assert "skipped mobilenetv2_035_ksac-concat_r1-2_os16_seed0: done" in log
    assert f"resuming from {second} at iteration {killed_at}" in log
    assert "starting it over" not in rerun.stderr + rerun.stdout + log
    rows = io.read_csv_rows(tmp_path / "ablation.csv")
    assert [r["rates"] for r in rows] == ["1,2", "1,2,3"] and all(r["status"] == "ok" for r in rows)


def test_results_is_a_folder_that_ksac_report_reads_as_it_is(tmp_path):
    """--results means the same kind of thing in ksac ablate and ksac report: the results FOLDER. A folder that
    does not exist yet is made; an existing FILE is refused with an error saying a folder is expected."""
    recipe = make_recipe(tmp_path)
    results = tmp_path / "out" / "results"
    proc = ksac("ablate", "--recipe", str(recipe), "--out", str(tmp_path / "grid"), "--results", str(results),
                "--seeds", "2", "--rates", "1,2")
    assert proc.returncode == 0, proc.stderr
    assert results.is_dir() and len(io.read_csv_rows(results / "ablation.csv")) == 4
    assert f"next: ksac report --results {results}" in proc.stdout
    report = ksac("report", "--results", str(results))
    assert report.returncode == 0, report.stderr
    assert "KSAC (concat) vs ASPP" in (results / "report.md").read_text()

    a_file = tmp_path / "rows.csv"
    a_file.write_text("")
    proc = ksac("ablate", "--recipe", str(recipe), "--out", str(tmp_path / "grid"), "--results", str(a_file),
                "--seeds", "1", "--rates", "1,2")
    assert proc.returncode == 2 and f"--results {a_file}: a file; --results is the FOLDER" in proc.stderr
    assert a_file.read_text() == ""

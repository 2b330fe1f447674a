"""An ablation row says how it was computed: the resolved amp (the engine's summary), the device, the commit
and whether the tree was modified, the config's hash; each column changes when what it records changes. They
name the run a row belongs to (rows.RUN): a cell is done only by a row of this run, never by another run's row
of the same cell."""

from __future__ import annotations

import subprocess

import pytest
import torch
from cli_runner import ksac
from tiny_run import write_tiny_recipe

from ksac_cli import io, machine
from ksac_cli.config import resolve_run_config
from ksac_cli.engine.run import summarise
from ksac_cli.engine.train import Progress
from ksac_cli.experiments.cells import is_done, make_row, result_path
from ksac_cli.experiments.grid import Cell
from ksac_cli.experiments.rows import COLUMNS, KEY, RUN


def test_the_summary_and_the_row_carry_the_resolved_amp(tmp_path):
    cfg = resolve_run_config(None, {"train": {"amp": "bf16", "run_dir": str(tmp_path)}})
    summary = summarise(tmp_path, cfg, Progress(3, 24), 0, 1.0, 0)
    assert summary["amp"] == "bf16"
    summary["final"] = {"miou": 0.5}
    provenance = {"git_commit": "abc1234", "git_state": "dirty 0123456789ab", "toolkit_version": "0",
                  "torch_version": "2", "device": "cpu (X, 2 threads, x86_64 AVX2)", "date": "2026-12-06T00:00:00Z"}
    row = make_row(Cell("c", 0, cfg), "g", {}, summary, "", provenance)
    assert (row.amp, row.git_state) == ("bf16", "dirty 0123456789ab")
    assert {"amp", "git_state", "device", "git_commit"} <= set(COLUMNS)


def git(folder, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def two_rows(tmp_path_factory):
    """The row of one tiny cell made twice by `ksac ablate` (in this process), with the checkout the code comes
    from (machine._ROOT, where machine.code_state looks) a real git repository: first with a tracked file
    modified and --amp auto, then after committing the change and with --amp off."""
    tmp = tmp_path_factory.mktemp("provenance")
    repo = tmp / "checkout"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "model.py").write_text("x = 1\n")
    git(repo, "add", "model.py")
    git(repo, "commit", "-qm", "one")
    (repo / "model.py").write_text("x = 2\n")  # a tracked file changed since the commit
    recipe = write_tiny_recipe(tmp / "tiny.yaml", tmp / "synth", name="prov", iters=1)
    rows = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(machine, "_ROOT", repo)
        for name, amp in (("dirty", "auto"), ("clean", "off")):
            if name == "clean":
                git(repo, "commit", "-qam", "two")
            proc = ksac("ablate", "--recipe", str(recipe), "--head", "ksac", "--rates", "1,2", "--seeds", "1",
                        "--amp", amp, "--out", str(tmp / name), "--results", str(tmp / f"{name}_results"))
            assert proc.returncode == 0, proc.stderr[-2000:]
            (rows[name],) = io.read_csv_rows(tmp / f"{name}_results" / "ablation.csv")
            rows[name]["head_commit"] = git(repo, "rev-parse", "--short", "HEAD")
    return rows


def test_a_row_says_when_the_tree_was_modified_and_from_which_commit(two_rows):
    dirty, clean = two_rows["dirty"], two_rows["clean"]
    assert dirty["git_state"].startswith("dirty ") and len(dirty["git_state"].split()[1]) == 12
    assert clean["git_state"] == "clean"
    assert (dirty["git_commit"], clean["git_commit"]) == (two_rows["dirty"]["head_commit"],
                                                          two_rows["clean"]["head_commit"])
    assert dirty["git_commit"] != clean["git_commit"]


def test_a_row_records_the_amp_it_ran_with_the_device_and_a_hash_of_its_config(two_rows):
    dirty, clean = two_rows["dirty"], two_rows["clean"]
    assert dirty["amp"] == machine.resolve_amp("auto", torch.device("cpu")) != "auto"  # resolved, not as asked
    assert clean["amp"] == "off"
    assert dirty["config_hash"] != clean["config_hash"]  # --amp is part of what the cell computes
    assert dirty["device"] == clean["device"] == machine.device_name(torch.device("cpu"))

def test_a_cell_is_done_only_by_a_row_of_this_run(tmp_path):
    """The committed reference rows (another commit, precision, machine) hold a row for the same cell and seed:
    it is not this run's result, so the cell trains, and its row is kept beside the other run's (KEY)."""
    cfg = resolve_run_config(None, {"train": {"run_dir": str(tmp_path / "c")}})
    cell = Cell("c", 0, cfg)
    this = {"grid": "g", "git_commit": "new1234", "amp": "off", "device": "cpu (X, 2 threads, x86_64 AVX2)"}
    provenance = {"git_commit": "old5678", "git_state": "clean", "toolkit_version": "0", "torch_version": "2",
                  "device": "cpu (AMD EPYC, 2 threads, x86_64 AVX512, native bf16)", "date": "2026-12-06T00:00:00Z"}
    other = make_row(cell, "g", {}, {"amp": "bf16", "final": {"miou": 0.7}}, "", provenance).__dict__
    result_path(cell).parent.mkdir(parents=True)
    result_path(cell).write_text("{}")
    csv_rows = [{k: str(v) for k, v in other.items()}]
    assert not is_done(cell, this, csv_rows)  # another run's row
    same = {**other, **this}
    assert is_done(cell, this, [{k: str(v) for k, v in same.items()}])  # a resumed run: the same one
    assert set(RUN) <= set(KEY) and tuple(other[k] for k in KEY) != tuple(same[k] for k in KEY)


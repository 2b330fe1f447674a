"""An ablation row says how it was computed: the resolved amp (the engine's summary) and the run it belongs to
(rows.RUN); a cell is done only by a row of this run, never by another run's row of the same cell."""

from __future__ import annotations

import pandas as pd

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


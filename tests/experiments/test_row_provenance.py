"""An ablation row says how it was computed: the resolved amp (the engine's summary), and the report says
when it pools rows made with different amp or devices (report/protocol.pooled_note)."""

from __future__ import annotations

import pandas as pd

from ksac_cli.config import resolve_run_config
from ksac_cli.engine.run import summarise
from ksac_cli.engine.train import Progress
from ksac_cli.experiments.cells import make_row
from ksac_cli.experiments.grid import Cell
from ksac_cli.experiments.rows import COLUMNS
from ksac_cli.report.protocol import pooled_note


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


def test_the_report_says_when_rows_of_different_amp_or_devices_are_pooled():
    same = pd.DataFrame({"amp": ["bf16", "bf16"], "device": ["cpu (A)", "cpu (A)"]})
    assert pooled_note(same) is None
    assert pooled_note(pd.DataFrame({"miou": [0.5]})) is None  # a CSV from before the columns
    mixed = pd.DataFrame({"amp": ["bf16", "off", "off"], "device": ["cpu (A)", "cpu (B)", "cpu (B)"]})
    note = pooled_note(mixed)
    assert "bf16 (1 rows)" in note and "off (2 rows)" in note and "cpu (B) (2 rows)" in note
    old_and_new = pd.DataFrame({"amp": [None, "bf16"], "device": ["cpu (A)", "cpu (A)"]})
    assert "not recorded (1 rows)" in pooled_note(old_and_new)

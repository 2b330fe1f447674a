"""ksac analyze's rows carry the config_hash and date of the ablation row of the run they analysed, so that
ksac report joins them: the checkpoint's saved config holds what the engine resolved (--amp auto -> bf16, the
dataset's class count), so its hash is not the row's; the row the ablation left in the run directory
(result.json) is read instead."""

from __future__ import annotations

import json

from ksac_cli.config import resolve_run_config, to_dict
from ksac_cli.experiments.cells import config_hash
from ksac_cli.workflows.analyze import trained_run


def test_the_ablation_rows_hash_is_taken_from_the_run_directory(tmp_path):
    cell = resolve_run_config(None, {})  # the quick recipe as a cell has it: amp auto, 21 classes
    saved = to_dict(cell)
    saved["train"]["amp"], saved["model"]["num_classes"] = "bf16", 6  # what the engine saved in the checkpoint
    checkpoint = tmp_path / "cell" / "checkpoints" / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    hashed, date = trained_run(saved, checkpoint)
    assert hashed != config_hash(cell) and date == ""  # without the row: the saved config's, no date
    (tmp_path / "cell" / "result.json").write_text(json.dumps({"config_hash": config_hash(cell),
                                                               "date": "2026-12-06T13:01:30Z"}))
    assert trained_run(saved, checkpoint) == (config_hash(cell), "2026-12-06T13:01:30Z")

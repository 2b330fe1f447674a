"""Every command that writes checks its output places before any work: `ksac pretrain --out` that cannot be
written is refused before a single iteration (it used to fail at the export, after the whole pretraining,
naming a temporary file the user never gave)."""

from __future__ import annotations

import pytest

from ksac_cli.cli.main import main


@pytest.mark.parametrize("out", ["/proc/nope.pt", "/proc/self/nope/backbone.pt"])
def test_pretrain_refuses_an_out_it_cannot_write_before_training(out, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--out", out, "--iters", "1", "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: --out: ") and out.split("/")[-2] in err
    assert ".tmp" not in err
    assert not any((tmp_path / "run").glob("**/*.pt"))  # nothing trained, no checkpoint

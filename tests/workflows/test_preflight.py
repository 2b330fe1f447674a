"""`ksac train`'s and `ksac eval`'s refusals that need no model (workflows/preflight.py) come before torch is
imported: an uneven global batch (also before torchrun is launched), --amp fp16 on the CPU, --no-resume
without --force on a run, resuming a run with settings that would make it another run, and a bad eval flag.
Each case: exit 2, the one error line, no heavy package loaded, nothing written. (That the engine refuses the
same when it runs: test_lifecycle.py.)"""

from __future__ import annotations

import pytest
from tiny_run import copy_run, files_of, ksac_loading


CASES = {
    "uneven batch": (("--nproc-per-node", "2", "--batch-size", "3"),
                     "--batch-size 3 does not split evenly across 2 processes; pick a multiple of 2"),
    "fp16 on cpu": (("--amp", "fp16", "--device", "cpu"), "--amp fp16 needs a CUDA device"),
    "no-resume": (("--no-resume",), "already holds a run"),
    "another lr": (("--lr", "0.02"), "holds a run of another configuration (train.lr: 0.01 -> 0.02)"),
    "another head": (("--head", "aspp"), "model.head: 'ksac' -> 'aspp'"),
    # an --amp other than auto is compared as given (auto is resolved, and compared, by the engine)
    "another amp": (("--amp", "bf16"), "train.amp: 'off' -> 'bf16'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_torch_is_imported(case, pair, tmp_path):
    recipe, finished = pair["ksac"]
    run = copy_run(finished, tmp_path)
    before = files_of(run)
    flags, message = CASES[case]
    proc = ksac_loading("train", "--recipe", str(recipe), "--run-dir", str(run), *flags)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == "LOADED []", lines[-3:]
    assert len(lines) == 2 and lines[0].startswith("error: ") and message in lines[0], lines
    assert files_of(run) == before


def test_a_bad_eval_flag_is_refused_before_torch_is_imported(pair, tmp_path):
    _, finished = pair["ksac"]
    before = files_of(finished)
    proc = ksac_loading("eval", "--checkpoint", str(finished / "checkpoints/last.pt"), "--ksac-impl", "fft",
                        "--out", str(tmp_path / "eval.json"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: --ksac-impl: 'fft' is not allowed; expected one of: conv, taps (given on the command "
                     "line; model.ksac_impl)", "LOADED []"], lines
    assert files_of(finished) == before and not any(tmp_path.iterdir())

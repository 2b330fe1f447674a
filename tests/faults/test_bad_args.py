"""Every command with bad arguments: wrong types, out-of-range values, missing files, unknown names. Each
must exit 2 with ONE line that names the option and what is allowed, no traceback, nothing written.

The table is long; CI runs the cases marked `ci` (at least one per command and per kind of mistake) and
KSAC_FAULTS_FULL=1 runs them all."""

from __future__ import annotations

import pytest
from faultkit import FULL, assert_clean_failure, run

# (ci, command + arguments, fragments the one error line must hold); {tmp} is the test's folder
CASES = [
    # ksac train
    (1, ["train", "--iters", "abc"], ["'--iters'", "integer"]),
    (0, ["train", "--iters", "0"], ["--iters: 0 must be a positive integer"]),
    (1, ["train", "--lr", "-1"], ["--lr: -1.0 must be > 0"]),
    (1, ["train", "--lr", "nan"], ["--lr: nan is not allowed; expected a finite number"]),
    (0, ["train", "--lr", "inf"], ["--lr: inf is not allowed; expected a finite number"]),
    (1, ["train", "--weight-decay", "-1"], ["--weight-decay: -1.0 must be >= 0"]),
    (0, ["train", "--momentum", "nan"], ["--momentum: nan is not allowed"]),
    (0, ["ablate", "--lr", "inf"], ["--lr: inf is not allowed"]),
    (0, ["train", "--batch-size", "0"], ["--batch-size: 0 must be a positive integer"]),
    (0, ["train", "--crop-size", "3"], ["--crop-size: 3 must be at least 16 pixels"]),
    (0, ["train", "--momentum", "1.5"], ["--momentum: 1.5 must be in [0, 1)"]),
    (0, ["train", "--workers", "-1"], ["--workers: -1 must be >= 0"]),
    (1, ["train", "--backbone", "vgg16"], ["unknown backbone 'vgg16'", "mobilenetv2"]),
    (0, ["train", "--head", "psp"], ["unknown head 'psp'", "aspp, ksac"]),
    (0, ["train", "--rates", "6,x"], ["'x' in '6,x' is not an integer"]),
    (0, ["train", "--output-stride", "5"], ["--output-stride: 5 is not allowed", "8, 16, 32"]),
    (0, ["train", "--merge", "mean"], ["--merge: 'mean' is not allowed", "concat, sum"]),
    (0, ["train", "--ksac-impl", "fft"], ["--ksac-impl: 'fft' is not allowed", "conv, taps"]),
    (0, ["train", "--optimizer", "adam"], ["--optimizer: 'adam' is not allowed", "sgd, adamw"]),
    (0, ["train", "--amp", "int8"], ["--amp: 'int8' is not allowed", "off, bf16, fp16"]),
    (0, ["train", "--dataset", "coco"], ["--dataset: 'coco' is not allowed", "synthetic, voc"]),
    (0, ["train", "--dataset", "voc"], ["needs --data-root"]),
    (0, ["train", "--device", "tpu"], ["--device: 'tpu' is not a device"]),
    (1, ["train", "--recipe", "{tmp}/missing.yaml"], ["recipe {tmp}/missing.yaml does not exist"]),
    (0, ["train", "--backbone-weights", "{tmp}/missing.pt"], ["{tmp}/missing.pt does not exist"]),
    (0, ["train", "--no-such-option"], ["No such option", "--no-such-option"]),
    # ksac eval
    (1, ["eval", "--checkpoint", "{tmp}/missing.pt"], ["checkpoint {tmp}/missing.pt does not exist"]),
    (0, ["eval"], ["Missing option", "--checkpoint"]),
    (0, ["eval", "--checkpoint", "{tmp}/missing.pt", "--batch-size", "x"], ["'--batch-size'", "integer"]),
    (0, ["eval", "--checkpoint", "{tmp}/missing.pt", "--scales", "0.5,nan"], ["--scales: nan is not allowed"]),
    # ksac ablate
    (1, ["ablate", "--seeds", "0"], ["seeds: 0 must be a positive integer"]),
    (0, ["ablate", "--head", "psp"], ["unknown head 'psp'"]),
    (0, ["ablate", "--rates", "6,,12"], ["--rates"]),
    (0, ["ablate", "--output-stride", "5"], ["output_stride: 5 is not allowed", "8, 16, 32"]),
    (0, ["ablate", "--iters", "0"], ["--iters: 0 must be a positive integer"]),
    (0, ["ablate", "--recipe", "{tmp}/missing.yaml"], ["recipe {tmp}/missing.yaml does not exist"]),
    # ksac profile
    (1, ["profile", "--size", "0"], ["size: 0 must be a positive integer"]),
    (0, ["profile", "--amp", "int8"], ["--amp: 'int8' is not allowed"]),
    (0, ["profile", "--runs", "x"], ["'--runs'", "integer"]),
    # ksac report
    (1, ["report", "--no-such-option"], ["No such option"]),
    # ksac data
    (1, ["data", "synth", "--out", "{tmp}/s", "--train", "0"], ["train: 0 must be a positive integer"]),
    (0, ["data", "synth", "--out", "{tmp}/s", "--size", "x"], ["'--size'", "integer"]),
    (0, ["data", "check", "--dataset", "coco"], ["'coco'", "synthetic"]),
    (0, ["data", "check", "--dataset", "voc", "--data-root", "{tmp}/nowhere"], ["{tmp}/nowhere"]),
    (0, ["data", "frobnicate"], ["No such command", "frobnicate"]),
]


@pytest.mark.parametrize("ci,args,fragments", [c for c in CASES if FULL or c[0]],
                         ids=[" ".join(c[1]) for c in CASES if FULL or c[0]])
def test_bad_arguments_exit_2_with_one_line(ci, args, fragments, tmp_path):
    args = [a.format(tmp=tmp_path) for a in args]
    if args[0] in ("train", "ablate") and "--run-dir" not in args:
        args += ["--run-dir", str(tmp_path / "run")] if args[0] == "train" else ["--out", str(tmp_path / "cells")]
    if args[0] == "ablate":
        args += ["--results", str(tmp_path / "a.csv")]
    proc = run(*args)
    assert_clean_failure(proc, 2, *[f.format(tmp=tmp_path) for f in fragments])
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not written, written

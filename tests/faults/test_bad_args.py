"""Every command with bad arguments: wrong types, out-of-range values, missing files, unknown names, output
places that cannot be written. Each must exit 2 with ONE line that names the option and what is allowed
(or the path at fault), no traceback, nothing written.

Every case of CASES runs in CI: the arguments are checked before torch is imported, so each case costs a
CLI start (about 0.3 s), except the few whose check needs a dataset reader. Of UNWRITABLE, CI runs the
"file where a folder should be" cases; KSAC_FAULTS_FULL=1 adds the /proc ones (Linux only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultkit import assert_clean_failure, ci_or_full, run

FILE = str(Path(__file__).resolve())  # a regular file: no folder can be made under it

# (command + arguments, fragments the one error line must hold); {tmp} is the test's folder
CASES = [
    # ksac train
    (["train", "--iters", "abc"], ["'--iters'", "integer"]),
    (["train", "--iters", "0"], ["--iters: 0 must be a positive integer"]),
    (["train", "--lr", "-1"], ["--lr: -1.0 must be > 0"]),
    (["train", "--lr", "nan"], ["--lr: nan is not allowed; expected a finite number"]),
    (["train", "--lr", "inf"], ["--lr: inf is not allowed; expected a finite number"]),
    (["train", "--weight-decay", "-1"], ["--weight-decay: -1.0 must be >= 0"]),
    (["train", "--momentum", "nan"], ["--momentum: nan is not allowed"]),
    (["ablate", "--lr", "inf"], ["--lr: inf is not allowed"]),
    (["train", "--batch-size", "0"], ["--batch-size: 0 must be a positive integer"]),
    (["train", "--batch-size", "3", "--nproc-per-node", "2"], ["--batch-size 3 does not split evenly across 2 "
                                                               "processes; pick a multiple of 2"]),
    (["train", "--crop-size", "3"], ["--crop-size: 3 must be at least 16 pixels"]),
    (["train", "--momentum", "1.5"], ["--momentum: 1.5 must be in [0, 1)"]),
    (["train", "--workers", "-1"], ["--workers: -1 must be >= 0"]),
    (["train", "--backbone", "vgg16"], ["unknown backbone 'vgg16'", "mobilenetv2"]),
    (["train", "--head", "psp"], ["unknown head 'psp'", "aspp, ksac"]),
    (["train", "--rates", "6,x"], ["'x' in '6,x' is not an integer"]),
    (["train", "--output-stride", "5"], ["--output-stride: 5 is not allowed", "8, 16, 32"]),
    (["train", "--merge", "mean"], ["--merge: 'mean' is not allowed", "concat, sum"]),
    (["train", "--ksac-impl", "fft"], ["--ksac-impl: 'fft' is not allowed", "conv, taps"]),
    (["train", "--optimizer", "adam"], ["--optimizer: 'adam' is not allowed", "sgd, adamw"]),
    (["train", "--amp", "int8"], ["--amp: 'int8' is not allowed", "off, bf16, fp16"]),
    (["train", "--dataset", "coco"], ["--dataset: 'coco' is not allowed", "synthetic, voc"]),
    (["train", "--dataset", "voc"], ["needs --data-root"]),
    (["train", "--device", "tpu"], ["--device: 'tpu' is not a device"]),
    (["train", "--recipe", "{tmp}/missing.yaml"], ["recipe {tmp}/missing.yaml does not exist"]),
    (["train", "--backbone-weights", "{tmp}/missing.pt"], ["{tmp}/missing.pt does not exist"]),
    (["train", "--no-such-option"], ["No such option", "--no-such-option"]),
    # shipped weights asked for a backbone they were not made for (a recipe's are dropped instead: no error)
    (["train", "--backbone", "mobilenetv2", "--backbone-weights", "builtin:quick_backbone"],
     ["--backbone-weights: builtin:quick_backbone was made for the backbone mobilenetv2_035, not mobilenetv2"]),
    (["train", "--backbone-weights", "builtin:nope"], ["--backbone-weights: no built-in weights named 'nope'", "quick_backbone"]),
    (["ablate", "--backbone", "resnet50", "--backbone-weights", "builtin:quick_backbone"],
     ["--backbone-weights: builtin:quick_backbone was made for the backbone mobilenetv2_035, not resnet50"]),
    # ksac eval
    (["eval", "--checkpoint", "{tmp}/missing.pt"], ["checkpoint {tmp}/missing.pt does not exist"]),
    (["eval"], ["Missing option", "--checkpoint"]),
    (["eval", "--checkpoint", "{tmp}/missing.pt", "--batch-size", "x"], ["'--batch-size'", "integer"]),
    (["eval", "--checkpoint", "{tmp}/missing.pt", "--scales", "0.5,nan"], ["--scales: nan is not allowed"]),
    # ksac ablate
    (["ablate", "--seeds", "0"], ["seeds: 0 must be a positive integer"]),
    (["ablate", "--head", "psp"], ["unknown head 'psp'"]),
    (["ablate", "--rates", "6,,12"], ["--rates"]),
    (["ablate", "--output-stride", "5"], ["--output-stride: 5 is not allowed", "8, 16, 32"]),
    (["ablate", "--iters", "0"], ["--iters: 0 must be a positive integer"]),
    (["ablate", "--recipe", "{tmp}/missing.yaml"], ["recipe {tmp}/missing.yaml does not exist"]),
    (["ablate", "--streams", "3"], ["--streams: 3 is not allowed; expected one of: 1, 2"]),
    (["ablate", "--streams", "0"], ["--streams: 0 is not allowed; expected one of: 1, 2"]),
    (["ablate", "--rates", "6,12,6"], ["--rates: rate 6 is given twice in '6,12,6'"]),
    (["ablate", "--recipe", "{tmp}/rates.yaml"], ["{tmp}/rates.yaml: grid.rates: rate 0 in [6, 0] must be a "
                                                   "positive integer"]),
    (["profile", "--rates", "6,0"], ["--rates: rate 0 in '6,0' must be a positive integer"]),
    # ksac profile
    (["profile", "--size", "0"], ["size: 0 must be a positive integer"]),
    (["profile", "--amp", "int8"], ["--amp: 'int8' is not allowed"]),
    (["profile", "--runs", "x"], ["'--runs'", "integer"]),
    # ksac report
    (["report", "--no-such-option"], ["No such option"]),
    # ksac data
    (["data", "synth", "--out", "{tmp}/s", "--train", "0"], ["train: 0 must be a positive integer"]),
    (["data", "synth", "--out", "{tmp}/s", "--size", "x"], ["'--size'", "integer"]),
    (["data", "check", "--dataset", "coco"], ["'coco'", "synthetic"]),
    (["data", "check", "--dataset", "voc", "--data-root", "{tmp}/nowhere"], ["{tmp}/nowhere"]),
    (["data", "frobnicate"], ["No such command", "frobnicate"]),
    (["data", "check", "--dataset", "voc"], ["--data-root: dataset 'voc' needs --data-root"]),
    # recipes by name
    (["train", "--recipe", "quik"], ["--recipe: no recipe named 'quik' (did you mean quick?)", "paper_params, "]),
    (["profile", "--recipe", "paper_parms"], ["no recipe named 'paper_parms' (did you mean paper_params?)"]),
]

# every command that writes, given an output place that cannot be written: {file} is a regular file
SYNTH = ["--train", "1", "--val", "1", "--size", "64"]
UNWRITABLE = [
    (["data", "synth", "--out", "{file}/sub", *SYNTH], ["--out: cannot make the folder {file}/sub", "{file} is a file, not a folder"]),
    (["data", "synth", "--out", "{file}", *SYNTH], ["--out: cannot make the folder {file}", "is a file, not a folder"]),
    (["data", "synth", "--out", "{tmp}/s", "--figure", "{file}/f.png", *SYNTH], ["--figure: cannot make the folder {file}"]),
    (["data", "check", "--out", "{file}/sub/r.json"], ["--out: cannot make the folder {file}/sub", "{file} is a file"]),
    (["train", "--run-dir", "{file}/sub"], ["--run-dir: cannot make the folder {file}/sub", "{file} is a file, not a folder"]),
    (["eval", "--checkpoint", "{file}", "--save-predictions", "{file}/preds"], ["--save-predictions: cannot make the folder {file}/preds"]),
    (["eval", "--checkpoint", "{file}", "--out", "{file}/sub/eval.json"], ["--out: cannot make the folder {file}/sub"]),
    (["ablate", "--out", "{file}/sub"], ["--out: cannot make the folder {file}/sub", "{file} is a file"]),
    (["ablate", "--results", "{file}/sub/"], ["--results: cannot make the folder {file}/sub", "{file} is a file"]),
    (["ablate", "--emit-jobs", "{file}/jobs.sh"], ["--emit-jobs: cannot make the folder {file}", "is a file"]),
    (["report", "--results", "{tmp}", "--out", "{file}/sub"], ["--out: cannot make the folder {file}/sub", "{file} is a file"]),
    (["profile", "--out", "{file}/sub/p.csv"], ["--out: cannot make the folder {file}/sub", "{file} is a file"]),
    # checked before the first model is analysed (the checkpoint here is not even read)
    (["analyze", "--checkpoint", "{file}", "--out", "{file}/sub"], ["--out: cannot make the folder {file}/sub", "{file} is a file"]),
    (["pretrain", "--run-dir", "{file}/sub"], ["--run-dir: cannot make the folder {file}/sub"]),
    (["pretrain", "--run-dir", "{tmp}/run", "--out", "{file}/sub/b.pt"], ["--out: cannot make the folder {file}/sub"]),
    (["pretrain", "--run-dir", "{tmp}/run", "--out", "/proc/b.pt"], ["--out: cannot write /proc/b.pt"]),
    (["data", "synth", "--out", "/proc/ksac", *SYNTH], ["--out: cannot make the folder /proc/ksac"]),
    (["train", "--run-dir", "/proc/ksac"], ["--run-dir: cannot make the folder /proc/ksac"]),
    (["eval", "--checkpoint", "{file}", "--save-predictions", "/proc/ksac"], ["--save-predictions: cannot make the folder /proc/ksac"]),
    (["ablate", "--results", "/proc/ksac/"], ["--results: cannot make the folder /proc/ksac"]),
    (["report", "--results", "{tmp}", "--out", "/proc/ksac"], ["--out: cannot make the folder /proc/ksac"]),
    (["profile", "--out", "/proc/ksac/p.csv"], ["--out: cannot make the folder /proc/ksac"]),
    (["pretrain", "--run-dir", "/proc/ksac"], ["--run-dir: cannot make the folder /proc/ksac"]),
]
CASES += ci_or_full(UNWRITABLE, ci=[c for c in UNWRITABLE if "/proc" not in " ".join(c[0])])


@pytest.mark.parametrize("args,fragments", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_arguments_exit_2_with_one_line(args, fragments, tmp_path):
    args = [a.format(tmp=tmp_path, file=FILE) for a in args]
    (tmp_path / "rates.yaml").write_text("grid: {rates: [[6, 0]]}\n")  # a recipe whose grid is refused
    if args[0] == "train" and "--run-dir" not in args:
        args += ["--run-dir", str(tmp_path / "run")]
    if args[0] == "ablate" and "--out" not in args:
        args += ["--out", str(tmp_path / "cells")]
    if args[0] == "ablate" and "--results" not in args:
        args += ["--results", str(tmp_path / "results")]
    proc = run(*args)
    assert_clean_failure(proc, 2, *[f.format(tmp=tmp_path, file=FILE) for f in fragments])
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "rates.yaml"]
    assert not written, written

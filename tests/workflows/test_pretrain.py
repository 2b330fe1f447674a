"""`ksac pretrain` (issue 22): a tiny pretraining run writes the backbone and its provenance, a run killed
mid-way and resumed writes the same bytes as an uninterrupted one, the neutral head and a disjoint data seed
are enforced, and the exported file loads into a model's backbone."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from cli_runner import ksac_subprocess
from tiny_run import ksac

TINY_PRETRAIN = """\
name: tiny_pretrain
model: {{backbone: mobilenetv2_035, head: {head}, output_stride: 16, channels: 16, decoder_channels: 16,
        low_level_channels: 8}}
data:
  dataset: synthetic
  data_root: {root}
  crop_size: 64
  workers: 0
  synthetic: {{train: 10, val: 3, size: 80, seed: {seed}}}
train: {{iters: 4, batch_size: 2, lr: 0.01, save_every: 2, log_every: 1, eval_every: 0, amp: auto,
        deterministic: true, device: cpu}}
"""


def _recipe(folder: Path, root: Path, head: str = "pointwise", seed: int = 5) -> str:
    path = folder / f"pretrain_{head}_{seed}.yaml"
    path.write_text(TINY_PRETRAIN.format(head=head, root=root, seed=seed))
    return str(path)


def _env(fault: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KSAC_FAULT"}
    return {**env, "KSAC_FAULT": fault} if fault else env


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny pretraining twice: straight through, and SIGKILLed during its 3rd step (KSAC_FAULT, a real
    process) then rerun (as the straight one, in this process: tests/cli_runner.py)."""
    folder = tmp_path_factory.mktemp("pretrain")
    root = folder / "data"
    recipe = _recipe(folder, root)
    out = {}
    for kind, fault in (("straight", None), ("killed", "step@3=kill")):
        args = ("pretrain", "--recipe", recipe, "--run-dir", str(folder / kind), "--out", str(folder / kind / "bb.pt"))
        first = ksac_subprocess(*args, env=_env(fault)) if fault else ksac(*args)
        second = ksac(*args) if fault else None
        out[kind] = {"first": first, "second": second, "out": folder / kind / "bb.pt", "args": args}
    return out


def test_pretrain_writes_the_backbone_and_its_provenance(runs):
    run = runs["straight"]
    assert run["first"].returncode == 0, run["first"].stderr
    data = run["out"].read_bytes()
    record = json.loads(run["out"].with_suffix(".json").read_text())
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["bytes"] == len(data)
    assert record["command"] == "ksac " + " ".join(run["args"])
    assert record["iterations"] == 4
    assert record["dataset"]["seed"] == 5 and record["dataset"]["generator_version"] >= 1
    assert record["config"]["model"]["head"] == "pointwise"
    assert record["config"]["train"]["amp"] in ("off", "bf16")  # auto is resolved to what ran
    assert 0.0 <= record["heldout_miou"] <= 1.0
    assert record["train_seconds"] > 0
    state = torch.load(run["out"], weights_only=True)
    assert state and not any(k.startswith(("backbone.", "head.", "decoder.")) for k in state)  # the backbone only


def test_killed_pretraining_resumes_to_the_same_bytes(runs):
    killed = runs["killed"]
    assert killed["first"].returncode == -9  # SIGKILL: no handler ran
    assert killed["second"].returncode == 0, killed["second"].stderr
    assert "resuming from" in killed["second"].stdout + killed["second"].stderr
    assert killed["out"].read_bytes() == runs["straight"]["out"].read_bytes()


def test_the_exported_backbone_loads_into_a_model(runs):
    from ksac_cli.models import Backbone

    path = runs["straight"]["out"]
    state = torch.load(path, weights_only=True)
    backbone = Backbone("mobilenetv2_035", output_stride=16, weights=str(path))
    loaded = backbone.body.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.parametrize("head,seed,expected", [("ksac", 5, "neutral head"), ("aspp", 5, "neutral head"),
                                                 ("pointwise", 0, "seed")])
def test_pretrain_refuses_a_compared_head_or_the_experiments_data(tmp_path, head, seed, expected):
    recipe = _recipe(tmp_path, tmp_path / "data", head=head, seed=seed)
    result = ksac("pretrain", "--recipe", recipe, "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()

"""ksac_cli/heads.py and a head from outside the package: the toy head (tests/toy_head.py, one module) and
torchvision's ASPP named as module:Class, each through ksac profile, ksac ablate and ksac report; the contract
checked before anything trains; a checkpoint's own head never imported unless the user says so."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import toy_head  # noqa: F401  registers head "toy"
from cli_runner import ksac
from tiny_run import write_tiny_recipe

from ksac_cli import heads, io
from ksac_cli.config import ModelConfig
from ksac_cli.errors import KsacError
from ksac_cli.models import build_model

TV_ASPP = "torchvision.models.segmentation.deeplabv3:ASPP"
TINY = dict(backbone="mobilenetv2_035", rates=(1, 2), channels=16, decoder_channels=16, low_level_channels=8)


def test_specs_answer_what_the_package_asks_of_a_head():
    assert heads.spec("aspp").role == heads.BASELINE and heads.spec("toy").role == heads.CANDIDATE
    assert heads.spec("pointwise").role is None
    assert heads.model_label("ksac", "sum", (6, 12)) == "KSAC (sum) 6,12"
    assert heads.model_label("aspp", "sum", "6,12") == "ASPP 6,12"  # merge is not an ASPP option
    user = heads.spec(TV_ASPP)  # made from the name: nothing imported
    assert (user.user, user.role, user.display, user.slug()) == (
        True, heads.CANDIDATE, "deeplabv3:ASPP", "torchvision.models.segmentation.deeplabv3.ASPP")
    with pytest.raises(KsacError, match=r"grid.head: unknown head 'psp'; .*aspp, ksac.*module:Class"):
        heads.spec("psp", "grid.head")


def test_a_user_head_starts_from_the_weights_aspp_has_under_the_same_names():
    """Common random numbers: under one seed the modules two heads share by name and shape start equal
    (the toy's 1x1 branch is ASPP's), and so do the decoders of ASPP and torchvision's ASPP."""
    aspp, toy, tv = (build_model(ModelConfig(head=h, **TINY), seed=5) for h in ("aspp", "toy", TV_ASPP))
    assert torch.equal(aspp.head.pointwise[0].weight, toy.head.pointwise[0].weight)
    assert not torch.equal(aspp.head.pointwise[0].weight, build_model(ModelConfig(head="toy", **TINY), 6)
                           .head.pointwise[0].weight)
    for name, p in aspp.decoder.state_dict().items():
        assert torch.equal(p, tv.decoder.state_dict()[name]), name


class Shrinks(torch.nn.Module):
    """Takes the contract's arguments but gives a smaller map (an unpadded 3x3 convolution)."""

    def __init__(self, in_channels, atrous_rates, out_channels):
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, out_channels, 3)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize("name,said", [
    ("torchvision.models.segmentation.deeplabv3:NoSuchHead", "cannot import"),
    ("torch.nn:Identity", r"expected torch.nn:Identity\(in_channels, atrous_rates, out_channels\)"),
    ("test_head_registry:Shrinks", r"\(2, 112, 9, 9\) -> \(2, 16, 9, 9\); it gave \(2, 16, 7, 7\)")])
def test_a_head_that_breaks_the_contract_is_refused_in_one_line(name, said):
    with pytest.raises(KsacError, match=said) as e:
        build_model(ModelConfig(head=name, **TINY))
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """ksac profile, ksac ablate (2 seeds, 2 iterations) and ksac report over ASPP, the toy and torchvision's ASPP."""
    tmp = tmp_path_factory.mktemp("heads")
    recipe = write_tiny_recipe(tmp / "grid.yaml", tmp / "synth", name="heads", iters=2, val=2)
    models = ("--head", "aspp", "--head", "toy", "--head", TV_ASPP)
    profile = ksac("profile", *models, "--rates", "6,12,18", "--size", "65", "--runs", "1", "--warmup", "0",
                   "--out", str(tmp / "profile.csv"))
    (tmp / "results").mkdir()
    ablate = ksac("ablate", "--recipe", str(recipe), *models, "--rates", "1,2", "--seeds", "2",
                  "--out", str(tmp / "grid"), "--results", str(tmp / "results"))
    report = ksac("report", "--results", str(tmp / "results"), "--out", str(tmp / "report"))
    return tmp, profile, ablate, report


def test_a_user_head_and_a_toy_head_run_through_profile_ablate_and_report(flow):
    tmp, profile, ablate, report = flow
    assert profile.returncode == 0, profile.stderr
    assert "toy" in profile.stdout.lower() and "deeplabv3:ASPP" in profile.stdout
    assert sorted(set(pd.read_csv(tmp / "profile.csv")["head"])) == ["aspp", TV_ASPP, "toy"]
    assert (tmp / "profile.md").read_text().startswith("# Toy / deeplabv3:ASPP vs ASPP: whole-model parameters\n")
    assert ablate.returncode == 0, ablate.stderr
    rows = io.read_csv_rows(tmp / "results" / "ablation.csv")
    assert sorted((r["head"], r["seed"], r["status"]) for r in rows) == sorted(
        (h, s, "ok") for h in ("aspp", "toy", TV_ASPP) for s in ("0", "1"))
    assert report.returncode == 0, report.stderr
    verdicts = pd.read_csv(tmp / "report" / "report_verdicts.csv")
    primary = verdicts[verdicts["family"] == "primary"]
    assert sorted(primary["first"]) == ["Toy", "deeplabv3:ASPP"] and set(primary["second"]) == {"ASPP"}
    assert primary["verdict"].str.len().min() > 0 and primary["claim"].isna().all()  # the paper claims KSAC's
    assert "deeplabv3:ASPP vs ASPP" in (tmp / "report" / "report.md").read_text()


def test_a_checkpoint_naming_a_user_head_is_evaluated_only_when_the_user_says_so(flow):
    tmp = flow[0]
    (checkpoint,) = [Path(r["run_dir"]) / "checkpoints" / "last.pt" for r in io.read_csv_rows(
        tmp / "results" / "ablation.csv") if r["head"] == TV_ASPP and r["seed"] == "0"]
    refused = ksac("eval", "--checkpoint", str(checkpoint), "--out", str(tmp / "e0" / "eval.json"))
    assert refused.returncode == 2 and f"--head {TV_ASPP}" in refused.stderr and "--trust-head-code" in refused.stderr
    assert not (tmp / "e0" / "eval.json").exists()
    for i, extra in enumerate((["--head", TV_ASPP], ["--trust-head-code"]), start=1):
        done = ksac("eval", "--checkpoint", str(checkpoint), "--out", str(tmp / f"e{i}" / "eval.json"), *extra)
        assert done.returncode == 0, done.stderr
        assert 0 <= json.loads((tmp / f"e{i}" / "eval.json").read_text())["miou"] <= 1


def test_ksac_analyze_imports_a_checkpoints_user_head_only_with_trust_head_code(flow):
    """ksac analyze has no --head: its refusal names only the flag it has, and that flag lets it through."""
    tmp = flow[0]
    (checkpoint,) = [Path(r["run_dir"]) / "checkpoints" / "last.pt" for r in io.read_csv_rows(
        tmp / "results" / "ablation.csv") if r["head"] == TV_ASPP and r["seed"] == "1"]
    args = ("analyze", "--checkpoint", str(checkpoint), "--scales", "1.0", "--images", "2", "--erf-images", "0")
    refused = ksac(*args, "--out", str(tmp / "a0"))
    assert refused.returncode == 2 and "--trust-head-code" in refused.stderr and "--head" not in refused.stderr.replace(
        "--trust-head-code", "")
    done = ksac(*args, "--trust-head-code", "--out", str(tmp / "a1"))
    assert done.returncode == 0, done.stderr
    assert (tmp / "a1" / "analysis_scales.csv").is_file()

"""Shipped weights belong to their backbone (config.load.fit_starting_weights): the quick recipe's
builtin:quick_backbone starts mobilenetv2_035 only, `--backbone mobilenetv2` swaps in the weights shipped for
that backbone (builtin:mobilenetv2_backbone, still frozen); any other backbone starts as the user asked (timm's
ImageNet weights, a file, or random weights, which then train), says so in one line, and an explicit flag that
asks for weights of another backbone is refused naming the flag. No torch is needed for any of it."""

from __future__ import annotations

import dataclasses

import pytest

from ksac_cli import weights
from ksac_cli.cli.main import main
from ksac_cli.config import resolve_ablation, resolve_run_config
from ksac_cli.config.load import starting_line
from ksac_cli.errors import KsacError
from ksac_cli.experiments.cells import make_row
from ksac_cli.experiments.grid import expand

QUICK = "builtin:quick_backbone"
FULL = "builtin:mobilenetv2_backbone"


def test_shipped_weights_declare_their_backbone():
    assert weights.made_for(QUICK) == "mobilenetv2_035"
    assert weights.made_for(FULL) == "mobilenetv2"
    assert [weights.made_for(weights.PREFIX + n) for n in weights.builtin_names()] == ["mobilenetv2", "mobilenetv2_035"]
    assert (weights.shipped_for("mobilenetv2"), weights.shipped_for("mobilenetv2_035")) == (FULL, QUICK)
    assert weights.shipped_for("resnet50") is None
    assert weights.made_for("some/file.pt") is None and weights.made_for(None) is None


def test_the_quick_recipe_keeps_its_weights_for_their_backbone():
    cfg = resolve_run_config(None, {})
    assert (cfg.model.backbone, cfg.model.backbone_weights, cfg.train.freeze_backbone) == ("mobilenetv2_035", QUICK, True)
    line = starting_line(cfg)
    assert f"shipped weights {QUICK}" in line and "ksac pretrain --recipe pretrain_quick" in line and "frozen" in line


def test_a_backbone_with_shipped_weights_starts_from_them_frozen():
    cfg = resolve_run_config(None, {"model": {"backbone": "mobilenetv2"}})
    assert (cfg.model.backbone_weights, cfg.train.freeze_backbone, cfg.model.pretrained) == (FULL, True, False)
    line = starting_line(cfg)
    assert f"shipped weights {FULL}" in line and "ksac pretrain --recipe pretrain_mobilenetv2" in line
    assert "frozen" in line and "random" not in line


@pytest.mark.parametrize("backbone", ["mobilenetv2_050", "resnet50", "xception65"])
def test_another_backbone_starts_from_random_weights_and_trains_it(backbone):
    cfg = resolve_run_config(None, {"model": {"backbone": backbone}})
    assert cfg.model.backbone_weights is None and not cfg.model.pretrained
    assert cfg.train.freeze_backbone is False  # a frozen random backbone would never learn
    line = starting_line(cfg)
    assert f"no shipped weights for {backbone}" in line and "random weights" in line
    assert f"ksac pretrain --backbone {backbone}" in line and "--pretrained" in line


def test_pretrained_replaces_the_shipped_weights_and_keeps_the_recipes_freeze():
    cfg = resolve_run_config(None, {"model": {"backbone": "mobilenetv2", "pretrained": True}})
    assert (cfg.model.backbone_weights, cfg.model.pretrained, cfg.train.freeze_backbone) == (None, True, True)
    assert "timm's ImageNet weights" in starting_line(cfg)


def test_a_users_file_is_kept_for_any_backbone(tmp_path):
    file = tmp_path / "mine.pt"
    file.write_bytes(b"x")
    cfg = resolve_run_config(None, {"model": {"backbone": "resnet50", "backbone_weights": str(file)}})
    assert cfg.model.backbone_weights == str(file) and cfg.train.freeze_backbone is True
    assert f"weights in {file}" in starting_line(cfg)


def test_shipped_weights_asked_for_another_backbone_by_flag_are_refused_naming_the_flag():
    with pytest.raises(KsacError) as e:
        resolve_run_config(None, {"model": {"backbone": "mobilenetv2", "backbone_weights": QUICK}})
    assert str(e.value).startswith("--backbone-weights: builtin:quick_backbone was made for the backbone "
                                   "mobilenetv2_035, not mobilenetv2")


def test_an_ablation_over_two_backbones_starts_each_as_its_weights_allow(tmp_path):
    base, grid = resolve_ablation(None, {"grid": {"backbone": ["resnet50", "mobilenetv2", "mobilenetv2_035"],
                                                  "seeds": 1}})
    cells = expand(base, grid, tmp_path)
    start = {c.cfg.model.backbone: (c.cfg.model.backbone_weights, c.cfg.train.freeze_backbone) for c in cells}
    assert start == {"resnet50": (None, False), "mobilenetv2": (FULL, True), "mobilenetv2_035": (QUICK, True)}
    rows = {c.cfg.model.backbone: make_row(c, "g", {}, None, "not run", {}.fromkeys(
        ("git_commit", "git_state", "toolkit_version", "torch_version", "device", "date"), "")) for c in cells}
    assert rows["resnet50"].backbone_weights == "" and rows["resnet50"].backbone_sha256 == ""
    assert rows["mobilenetv2_035"].backbone_weights == QUICK and rows["mobilenetv2_035"].backbone_sha256
    assert rows["mobilenetv2"].backbone_weights == FULL
    assert rows["mobilenetv2"].backbone_sha256 != rows["mobilenetv2_035"].backbone_sha256


def test_an_ablation_row_names_imagenet_weights(tmp_path):
    base, grid = resolve_ablation(None, {"model": {"pretrained": True}, "grid": {"backbone": ["mobilenetv2"], "seeds": 1}})
    cell = expand(base, grid, tmp_path)[0]
    row = make_row(cell, "g", {}, None, "", {}.fromkeys(
        ("git_commit", "git_state", "toolkit_version", "torch_version", "device", "date"), ""))
    assert row.backbone_weights == weights.IMAGENET


def test_an_ablation_given_the_shipped_weights_by_flag_refuses_a_backbone_they_do_not_fit():
    with pytest.raises(KsacError, match=r"^--backbone-weights: builtin:quick_backbone was made for the backbone "
                                        r"mobilenetv2_035, not mobilenetv2"):
        resolve_ablation(None, {"model": {"backbone_weights": QUICK},
                                "grid": {"backbone": ["mobilenetv2", "mobilenetv2_035"]}})


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_print_config_shows_the_resolved_start(capsys):
    code, out, err = run(["train", "--backbone", "resnet50", "--print-config"], capsys)
    assert code == 0, err
    assert "backbone_weights: null" in out and "freeze_backbone: false" in out
    assert out.rstrip().splitlines()[-1].startswith("# backbone resnet50: no shipped weights for resnet50")
    code, out, err = run(["train", "--backbone", "mobilenetv2", "--print-config"], capsys)
    assert code == 0, err
    assert f"backbone_weights: {FULL}" in out and "freeze_backbone: true" in out


def test_the_flag_is_named_only_when_it_was_given(capsys, tmp_path):
    code, _, err = run(["train", "--backbone", "resnet50", "--backbone-weights", QUICK, "--run-dir",
                        str(tmp_path / "r")], capsys)
    assert code == 2 and err.startswith("error: --backbone-weights: builtin:quick_backbone was made for")
    assert not (tmp_path / "r").exists()


def test_a_recipes_file_that_does_not_fit_is_blamed_on_the_recipe_not_the_flag(tmp_path):
    """The loader's error ('model.backbone_weights: ... does not fit') is attributed by where the value came
    from (config.load.attribute), as config errors are."""
    from ksac_cli.config.load import attribute

    error = KsacError(f"model.backbone_weights: {tmp_path}/x.pt does not fit this backbone (keys of another shape)")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    assert str(attribute(error, recipe, {})).startswith(f"{recipe}: model.backbone_weights: {tmp_path}/x.pt")
    flagged = attribute(error, recipe, {"model": {"backbone_weights": f"{tmp_path}/x.pt"}})
    assert str(flagged).startswith(f"--backbone-weights: {tmp_path}/x.pt does not fit")
    other = KsacError("the disk is full")
    assert attribute(other, recipe, {}) is other


def test_a_random_start_is_fitted_again_after_any_change_of_backbone():
    """fit_starting_weights is idempotent and depends only on the config: the rule, not its caller."""
    from ksac_cli.config.load import fit_starting_weights

    cfg = resolve_run_config(None, {})
    moved = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone="resnet50"))
    fitted = fit_starting_weights(moved)
    assert fitted.model.backbone_weights is None and fitted.train.freeze_backbone is False
    assert fit_starting_weights(fitted) == fitted and fit_starting_weights(cfg) == cfg

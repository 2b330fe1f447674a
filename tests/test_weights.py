"""The backbones shipped in the package (issues 22, 40): each file's bytes match its provenance, the
provenance was made by `ksac pretrain` of its pretrain recipe with the neutral head on data disjoint from the
experiments', and the quick recipe starts from its backbone's file (the quick backbone's as it is, the
full-width MobileNetV2's with `--backbone mobilenetv2`)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from ksac_cli import weights
from ksac_cli.config import RunConfig, from_dict, resolve_run_config, to_dict
from ksac_cli.data.synthetic import generator_keys

# shipped file -> (the recipe that made it, the backbone it was made for)
SHIPPED = {"quick_backbone": ("pretrain_quick", "mobilenetv2_035"),
           "mobilenetv2_backbone": ("pretrain_mobilenetv2", "mobilenetv2")}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request):
    name = request.param
    path = weights.FOLDER / f"{name}.pt"
    return name, path, json.loads(path.with_suffix(".json").read_text())


def test_every_shipped_file_is_listed_here():
    assert sorted(weights.builtin_names()) == sorted(SHIPPED)


def test_the_shipped_file_is_the_one_its_provenance_describes(shipped):
    name, path, record = shipped
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert len(data) == record["bytes"] and len(data) < 10 * 2**20  # package data: 10 MB at most
    assert record["command"] == f"ksac pretrain --recipe {SHIPPED[name][0]} --out ksac_cli/weights/{name}.pt"
    assert record["backbone"] == SHIPPED[name][1]
    if name != "quick_backbone":  # made before provenance recorded the tree's state
        assert record["git_state"] == "clean"


def test_the_provenance_config_is_the_pretrain_recipe(shipped):
    name, _, record = shipped
    expected = to_dict(resolve_run_config(SHIPPED[name][0]))
    saved = to_dict(from_dict(RunConfig, record["config"], where="provenance"))  # keys added since: defaults
    assert saved["train"].pop("amp") in ("off", "bf16") and expected["train"].pop("amp") == "auto"
    for section in ("model", "data", "train"):
        for key, value in expected[section].items():
            if key != "num_classes":
                assert saved[section][key] == value, f"{section}.{key}"
    assert saved["model"]["head"] == "pointwise"
    assert record["iterations"] == expected["train"]["iters"]


@pytest.mark.parametrize("recipe", sorted({r for r, _ in SHIPPED.values()}))
def test_pretraining_images_are_disjoint_from_the_experiments(recipe):
    """Built-in images are drawn from generators keyed (seed, split, index): no shared key, no shared image."""
    quick = resolve_run_config("quick").data.synthetic
    pretraining = resolve_run_config(recipe).data.synthetic
    assert generator_keys(pretraining) and generator_keys(quick)
    assert not generator_keys(pretraining) & generator_keys(quick)


def test_the_quick_recipe_starts_from_the_shipped_backbone(shipped):
    from ksac_cli.models import build_model

    name, path, _ = shipped
    cfg = resolve_run_config("quick", {"model": {"backbone": SHIPPED[name][1]}})
    assert weights.resolve(cfg.model.backbone_weights) == path and cfg.train.freeze_backbone
    model = build_model(cfg.model)
    state = torch.load(path, weights_only=True)
    loaded = model.backbone.body.state_dict()
    assert state.keys() == loaded.keys() and all(torch.equal(loaded[k], state[k]) for k in state)


def test_backbone_weights_none_means_random_weights():
    assert resolve_run_config("quick", {"model": {"backbone_weights": "none"}}).model.backbone_weights is None


def test_an_unknown_builtin_name_lists_the_shipped_ones():
    from ksac_cli.errors import KsacError

    with pytest.raises(KsacError, match="quick_backbone"):
        weights.resolve("builtin:quick_backbon")

"""The backbone shipped in the package (issue 22): its bytes match its provenance, the provenance was made
by `ksac pretrain` of the pretrain_quick recipe with the neutral head on data disjoint from the
experiments', and the quick recipe starts from it."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from ksac_cli import weights
from ksac_cli.config import RunConfig, from_dict, resolve_run_config, to_dict
from ksac_cli.data.synthetic import generator_keys

SHIPPED = weights.FOLDER / "quick_backbone.pt"


@pytest.fixture(scope="module")
def record():
    return json.loads(SHIPPED.with_suffix(".json").read_text())


def test_the_shipped_file_is_the_one_its_provenance_describes(record):
    data = SHIPPED.read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert len(data) == record["bytes"] and len(data) < 5 * 2**20  # package data: a few MB at most
    assert record["command"] == "ksac pretrain --recipe pretrain_quick --out ksac_cli/weights/quick_backbone.pt"


def test_the_provenance_config_is_the_pretrain_recipe(record):
    expected = to_dict(resolve_run_config("pretrain_quick"))
    saved = to_dict(from_dict(RunConfig, record["config"], where="provenance"))  # keys added since: defaults
    assert saved["train"].pop("amp") in ("off", "bf16") and expected["train"].pop("amp") == "auto"
    for section in ("model", "data", "train"):
        for key, value in expected[section].items():
            if key != "num_classes":
                assert saved[section][key] == value, f"{section}.{key}"
    assert saved["model"]["head"] == "pointwise"
    assert record["iterations"] == expected["train"]["iters"]


def test_pretraining_images_are_disjoint_from_the_experiments():
    """Built-in images are drawn from generators keyed (seed, split, index): no shared key, no shared image."""
    quick = resolve_run_config("quick").data.synthetic
    pretraining = resolve_run_config("pretrain_quick").data.synthetic
    assert generator_keys(pretraining) and generator_keys(quick)
    assert not generator_keys(pretraining) & generator_keys(quick)


def test_the_quick_recipe_starts_from_the_shipped_backbone():
    from ksac_cli.models import build_model

    cfg = resolve_run_config("quick")
    assert weights.resolve(cfg.model.backbone_weights) == SHIPPED
    model = build_model(cfg.model)
    state = torch.load(SHIPPED, weights_only=True)
    loaded = model.backbone.body.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_backbone_weights_none_means_random_weights():
    assert resolve_run_config("quick", {"model": {"backbone_weights": "none"}}).model.backbone_weights is None


def test_an_unknown_builtin_name_lists_the_shipped_ones():
    from ksac_cli.errors import KsacError

    with pytest.raises(KsacError, match="quick_backbone"):
        weights.resolve("builtin:quick_backbon")

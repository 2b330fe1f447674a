"""Config: defaults once, unknown keys and wrong types named, grids expanded without duplicates."""

from __future__ import annotations

import pytest

from ksac_cli.config import (
    DataConfig,
    ModelConfig,
    ProfileConfig,
    ProfileGrid,
    from_dict,
    parse_rates,
    short_hash,
)
from ksac_cli.errors import KsacError


def test_parse_rates():
    assert parse_rates("6, 12,18") == (6, 12, 18)
    for bad in ("6,,12", "a", "6,-1", ""):
        with pytest.raises(KsacError, match="--rates"):
            parse_rates(bad)


@pytest.mark.parametrize("data,message", [
    ({"model": {"rates": "6,a"}}, "model.rates: 'a'"),
    ({"model": {"output_stride": 12}}, "model.output_stride: 12 is not allowed; expected one of: 8, 16, 32"),
    ({"model": {"decoder": "yes"}}, "model.decoder: expected true or false, got 'yes'"),
    ({"model": {"channels": 2.5}}, "model.channels: expected an integer, got 2.5"),
    ({"model": {"colour": 1}}, "model: unknown key(s) colour; allowed keys: backbone, head"),
    ({"data": {"dataset": "coco"}}, "data.dataset: 'coco' is not allowed; expected one of: synthetic, voc"),
    ({"data": {"dataset": "voc"}}, "data.data_root: dataset 'voc' needs --data-root"),
    ({"data": {"synthetic": {"size": 8}}}, "data.synthetic.size: 8 must be at least 32"),
])
def test_errors_name_the_key_and_the_allowed_values(data, message):
    section = next(iter(data))
    cls = {"model": ModelConfig, "data": DataConfig}[section]
    with pytest.raises(KsacError) as e:
        from_dict(cls, data[section], section)
    assert message in str(e.value)


def test_from_dict_round_trip_and_hash():
    cfg = from_dict(ModelConfig, {"rates": [6, 12, 18, 24], "head": "aspp"}, "model")
    assert cfg.rates == (6, 12, 18, 24) and cfg.head == "aspp" and cfg.channels == 256
    assert short_hash(cfg) == short_hash(ModelConfig(head="aspp", rates=(6, 12, 18, 24)))
    assert short_hash(cfg) != short_hash(ModelConfig(head="ksac", rates=(6, 12, 18, 24)))


def test_profile_grid_expansion():
    grid = ProfileGrid(backbone=("a",), head=("aspp", "ksac"), rates=((1,), (1, 2)), merge=("concat", "sum"),
                       ksac_impl=("taps",))
    models = grid.models(ModelConfig())
    assert [(m.head, m.merge, m.rates) for m in models] == [
        ("aspp", "concat", (1,)), ("ksac", "concat", (1,)), ("ksac", "sum", (1,)),
        ("aspp", "concat", (1, 2)), ("ksac", "concat", (1, 2)), ("ksac", "sum", (1, 2))]
    cfg = ProfileConfig(grids=(grid, grid), num_classes=5)
    assert len(cfg.models()) == 6 and all(m.num_classes == 5 for m in cfg.models())
    # both KSAC implementations (the default): ASPP is not duplicated per impl
    both = ProfileGrid(backbone=("a",), head=("aspp", "ksac"), rates=((1,),)).models(ModelConfig())
    assert [(m.head, m.ksac_impl) for m in both] == [("aspp", "taps"), ("ksac", "conv"), ("ksac", "taps")]

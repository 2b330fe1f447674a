"""Config: defaults once, unknown keys and wrong types named, grids expanded without duplicates."""

from __future__ import annotations

import pytest

from ksac_cli.config import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    ProfileConfig,
    ProfileGrid,
    RunConfig,
    TrainConfig,
    from_dict,
    load_run_config,
    parse_rates,
    resolve_profile,
    resolve_run_config,
    short_hash,
    to_dict,
)
from ksac_cli.config.load import resolve_eval_config
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
    ({"model": {"dropout": float("nan")}}, "model.dropout: nan is not allowed; expected a finite number"),
    ({"data": {"scale_max": float("inf")}}, "data.scale_max: inf is not allowed; expected a finite number"),
    ({"data": {"scale_min": float("-inf")}}, "data.scale_min: -inf is not allowed; expected a finite number"),
    ({"train": {"lr": float("nan")}}, "train.lr: nan is not allowed"),
    ({"train": {"weight_decay": float("inf")}}, "train.weight_decay: inf is not allowed"),
    ({"train": {"poly_power": -1.0}}, "train.poly_power: -1.0 must be >= 0"),
    ({"eval": {"scales": "0.5,nan"}}, "eval.scales: nan is not allowed"),
    ({"eval": {"scales": [1.0, float("inf")]}}, "eval.scales: inf is not allowed"),
])
def test_errors_name_the_key_and_the_allowed_values(data, message):
    section = next(iter(data))
    cls = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "eval": EvalConfig}[section]
    with pytest.raises(KsacError) as e:
        from_dict(cls, data[section], section)
    assert message in str(e.value)


def test_a_recipe_with_nan_names_the_file_and_key(tmp_path):
    """YAML spells nan and infinity .nan and .inf: a recipe key holding one is refused like a flag."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  lr: .nan\n")
    with pytest.raises(KsacError, match=f"{recipe}: train.lr: nan is not allowed"):
        load_run_config(recipe)


def test_a_bad_value_is_named_by_its_flag_and_a_bad_section_by_its_file(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model:\n  kernel_share: true\n")
    flags = {"model": {"ksac_impl": "taps", "head": None}}  # a flag of the same section was given
    with pytest.raises(KsacError) as e:
        load_run_config(recipe, flags)
    assert str(e.value).startswith(f"{recipe}: model: unknown key(s) kernel_share")
    with pytest.raises(KsacError) as e:
        load_run_config(None, {"model": {"ksac_impl": "fft"}})
    assert str(e.value).startswith("--ksac-impl: 'fft' is not allowed; expected one of: conv, taps")


def test_eval_flags_are_named_by_their_flag_and_the_checkpoints_values_by_the_checkpoint():
    saved = to_dict(RunConfig())
    with pytest.raises(KsacError) as e:
        resolve_eval_config(saved, {"model": {"ksac_impl": "fft"}}, where="last.pt (config)")
    assert str(e.value).startswith("--ksac-impl: 'fft' is not allowed; expected one of: conv, taps")
    saved["model"]["kernel_share"] = True
    with pytest.raises(KsacError) as e:
        resolve_eval_config(saved, {"model": {"ksac_impl": "taps"}}, where="last.pt (config)")
    assert str(e.value).startswith("last.pt (config).model: unknown key(s) kernel_share")


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


@pytest.mark.parametrize("text,key,expected", [
    ("train: {amp: off}", "amp", "off"),  # YAML 1.1 read off/on/yes/no as booleans
    ("train: {amp: auto}", "amp", "auto"),
    ("train: {lr: 1e-4}", "lr", 1e-4),  # YAML 1.1 read 1e-4 as the string '1e-4'
    ("train: {lr: 1.0e-4}", "lr", 1e-4),
    ("train: {lr: .5}", "lr", 0.5),
    ("train: {lr: 1E3}", "lr", 1000.0),
    ("train: {lr: 2}", "lr", 2.0),
    ("train: {iters: 10}", "iters", 10),
    ("train: {iters: 0100}", "iters", 100),  # YAML 1.1: octal 64
    ("train: {iters: 0x10}", "iters", 16),
    ("train: {deterministic: True}", "deterministic", True),
    ("train: {deterministic: FALSE}", "deterministic", False),
    ("model: {decoder: true}", "decoder", True),
    ("model: {decoder: false}", "decoder", False),
])
def test_recipes_are_read_with_yaml_1_2_booleans_and_floats(tmp_path, text, key, expected):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text + "\n")
    cfg = resolve_run_config(str(recipe))
    section = text.split(":")[0]
    value = getattr(getattr(cfg, section), key)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text", ["12:30", "1_000"])
def test_yaml_1_1_integers_are_not_read_as_numbers(tmp_path, text):
    """YAML 1.1 read 12:30 as the base-60 number 750 and 1_000 as 1000; in YAML 1.2 both are strings, so
    the recipe is refused with the value instead of silently training 750 iterations."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"train: {{iters: {text}}}\n")
    with pytest.raises(KsacError, match=f"train.iters: .*'{text}'"):
        resolve_run_config(str(recipe))


@pytest.mark.parametrize("word", ["on", "yes", "no", "y", "n", "off"])
def test_yaml_1_1_booleans_are_strings_in_a_recipe(tmp_path, word):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {{decoder: {word}}}\n")
    with pytest.raises(KsacError, match=f"model.decoder: expected true or false, got '{word}'"):
        resolve_run_config(str(recipe))


def test_recipes_by_name_everywhere_and_a_misspelt_one_suggests_the_closest():
    assert resolve_profile("paper_params", {}).out == "results/paper_params.csv"
    assert resolve_run_config("quick.yaml").name == "quick"
    assert resolve_run_config(None, default="pretrain_quick").model.head == "pointwise"
    with pytest.raises(KsacError) as e:
        resolve_profile("paper_parms", {})
    assert "no recipe named 'paper_parms' (did you mean paper_params?)" in str(e.value)
    assert "quick, voc_mobilenetv2_aspp" in str(e.value)

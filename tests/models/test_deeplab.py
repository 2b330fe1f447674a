"""Backbones and whole models: strides, output sizes, weights loading, warnings."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

from ksac_cli.config import ModelConfig
from ksac_cli.errors import KsacError, KsacWarning
from ksac_cli.measure.params import model_parameters
from ksac_cli.heads import HEADS
from ksac_cli.models import BACKBONES, Backbone, build_model, warn_large_rates

# Every toolkit backbone name and the channels of its last feature map (320 for MobileNetV2, paper.md).
OUT_CHANNELS = {"mobilenetv2": 320, "mobilenetv2_140": 448, "mobilenetv2_075": 240, "mobilenetv2_050": 160,
                "mobilenetv2_035": 112, "resnet50": 2048, "resnet101": 2048, "xception65": 2048}


def test_every_backbone_has_a_known_channel_count():
    assert set(OUT_CHANNELS) == set(BACKBONES)


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("output_stride", [8, 16])
def test_backbone_feature_strides(name, output_stride):
    backbone = Backbone(name, output_stride).eval()
    assert backbone.reductions == {"low": 4, "out": output_stride}
    assert backbone.channels["out"] == OUT_CHANNELS[name]
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 64))
    assert features["low"].shape[-2:] == (16, 16)
    assert features["out"].shape[-2:] == (64 // output_stride,) * 2
    assert features["out"].shape[1] == backbone.channels["out"]


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("backbone", ["mobilenetv2_035", "resnet50", "xception65"])
@pytest.mark.parametrize("decoder", [True, False])
def test_deeplab_output_is_input_sized(backbone, head, decoder):
    cfg = ModelConfig(backbone=backbone, head=head, rates=(1, 2), output_stride=16, decoder=decoder,
                      channels=32, decoder_channels=32, num_classes=5)
    model = build_model(cfg).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 70, 58))
    assert y.shape == (2, 5, 70, 58)


def test_separable_decoder_has_the_depthwise_separable_parameter_count():
    """model.decoder_separable: each of the decoder's two 3x3 convs becomes depthwise 3x3 + BN + pointwise 1x1
    + BN; the rest of the model (low-level projection, classifier) is unchanged, and the output is input-sized."""
    cfg = ModelConfig(backbone="mobilenetv2_035", rates=(1, 2), channels=16, decoder_channels=32,
                      low_level_channels=8, num_classes=5)
    plain, separable = build_model(cfg), build_model(ModelConfig(**{**cfg.__dict__, "decoder_separable": True}))
    fuse_in = 16 + 8

    def separable_conv(c_in: int, c_out: int) -> int:  # depthwise + its BN, pointwise + its BN
        return c_in * 9 + 2 * c_in + c_in * c_out + 2 * c_out

    expected = sum(p.numel() for p in plain.decoder.parameters()) - (fuse_in * 32 * 9 + 2 * 32) - (
        32 * 32 * 9 + 2 * 32) + separable_conv(fuse_in, 32) + separable_conv(32, 32)
    assert sum(p.numel() for p in separable.decoder.parameters()) == expected
    with torch.no_grad():
        assert separable.eval()(torch.randn(1, 3, 40, 48)).shape == (1, 5, 40, 48)


def test_parameters_split_into_parts_and_mobilenetv2_saving_is_about_a_third():
    """paper.md: MobileNetV2 (1.8M) + ASPP head (2.71M) is ~4.5M; KSAC saves 32-35% ("33%").
    That holds for DeepLabV3 (no decoder), the MobileNetV2 setting of DeepLab's reference."""
    aspp = model_parameters(build_model(ModelConfig(backbone="mobilenetv2", head="aspp", decoder=False)))
    ksac = model_parameters(build_model(ModelConfig(backbone="mobilenetv2", head="ksac", decoder=False)))
    assert aspp["total"] == aspp["backbone"] + aspp["head"] + aspp["decoder"]
    assert aspp["head"] == 2_706_432 and ksac["head"] == 1_231_872
    assert 4.4e6 < aspp["total"] < 4.8e6
    assert 0.30 < (aspp["total"] - ksac["total"]) / aspp["total"] < 0.36


def test_backbone_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    source = Backbone("mobilenetv2_035")
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.body.state_dict().items()}}, path)
    loaded = Backbone("mobilenetv2_035", weights=str(path))
    for key, value in source.body.state_dict().items():
        assert torch.equal(loaded.body.state_dict()[key], value), key


def test_backbone_weights_of_another_architecture_are_a_clear_error(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save(Backbone("mobilenetv2_050").body.state_dict(), path)
    with pytest.raises(KsacError, match=r"resnet\.pt does not fit this backbone"):
        Backbone("mobilenetv2_035", weights=str(path))
    with pytest.raises(KsacError, match="does not exist"):
        Backbone("mobilenetv2_035", weights=str(tmp_path / "missing.pt"))


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(KsacError, match="unknown backbone 'vgg'.*mobilenetv2.*xception65"):
        Backbone("vgg")


def test_pretrained_offline_fails_with_a_message_not_a_traceback():
    code = ("from ksac_cli.models import Backbone\n"
            "Backbone('mobilenetv2_050', pretrained=True)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "KsacError" in proc.stderr
    assert "could not load ImageNet weights for backbone 'mobilenetv2_050'" in proc.stderr
    assert "mobilenetv2_050" in proc.stderr and "--no-pretrained" in proc.stderr


def test_warning_for_rates_wider_than_the_feature_map():
    with pytest.warns(KsacWarning, match=r"atrous rate 24 >= the 17x17 feature map .*output stride 32"):
        messages = warn_large_rates((6, 12, 24), 513, 32)
    assert len(messages) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_large_rates((6, 12, 18, 24), 513, 16) == []  # 33x33 map: every rate fits

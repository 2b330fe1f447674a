"""Option aliases shared by several commands (one spelling, one help text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import sys

import typer

Recipe = Annotated[Optional[Path], typer.Option("--recipe", help="YAML recipe; flags given on the command line override it.")]
Backbones = Annotated[Optional[list[str]], typer.Option(
    "--backbone", help="Backbone (repeatable): mobilenetv2, mobilenetv2_050 (and _035/_075/_140), resnet50, resnet101, xception65.")]
Heads = Annotated[Optional[list[str]], typer.Option(
    "--head", help="Head (repeatable): aspp (one 3x3 kernel per rate) or ksac (one shared 3x3 kernel).")]
RatesList = Annotated[Optional[list[str]], typer.Option(
    "--rates", help="Atrous rates as a comma list (repeatable), e.g. --rates 6,12,18 --rates 6,12,18,24.")]
Merges = Annotated[Optional[list[str]], typer.Option(
    "--merge", help="KSAC only (repeatable): concat (paper Fig. 4, one slice per rate) or sum (paper Alg. 1).")]
OutputStrides = Annotated[Optional[list[int]], typer.Option(
    "--output-stride", help="Backbone output stride (repeatable): 8, 16 or 32.")]
Decoder = Annotated[Optional[bool], typer.Option(
    "--decoder/--no-decoder", help="DeepLabV3+ decoder (default), or DeepLabV3 without it.")]
Device = Annotated[Optional[str], typer.Option("--device", help="auto (cuda when present, else cpu), cpu, cuda or cuda:N.")]
NumClasses = Annotated[Optional[int], typer.Option("--num-classes", help="Number of classes of the classifier.")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help="Images per batch.")]

# ---- single-valued model/data/train options (ksac train, ksac ablate) --------------------------------
Backbone = Annotated[Optional[str], typer.Option("--backbone", help="Backbone: mobilenetv2, mobilenetv2_050 (and _035/_075/_140), resnet50, resnet101, xception65.")]
Head = Annotated[Optional[str], typer.Option("--head", help="Head: aspp or ksac.")]
Rates = Annotated[Optional[str], typer.Option("--rates", help="Atrous rates, a comma list such as 6,12,18.")]
Merge = Annotated[Optional[str], typer.Option("--merge", help="KSAC only: concat (paper Fig. 4) or sum (paper Alg. 1).")]
KsacImpl = Annotated[Optional[str], typer.Option("--ksac-impl", help="KSAC only, how the shared kernel is applied (same parameters and checkpoints): taps (9 tap products computed once by one 1x1 conv, shifted per rate: one conv's multiply-adds whatever the number of rates) or conv (one dilated conv per rate).")]
OutputStride = Annotated[Optional[int], typer.Option("--output-stride", help="Backbone output stride: 8, 16 or 32.")]
Pretrained = Annotated[Optional[bool], typer.Option("--pretrained/--no-pretrained", help="Start the backbone from timm's ImageNet weights (a download).")]
BackboneWeights = Annotated[Optional[Path], typer.Option("--backbone-weights", help="Load the backbone from a local state-dict file instead.")]
Dataset = Annotated[Optional[str], typer.Option("--dataset", help="synthetic (built in, default), voc, ade20k, cityscapes or folder.")]
DataRoot = Annotated[Optional[str], typer.Option("--data-root", help="Folder of the dataset (synthetic: a cache folder, made on first use).")]
Split = Annotated[Optional[str], typer.Option("--split", help="Split to train on (voc: train, trainaug, trainval; ade20k: training; cityscapes: train).")]
CropSize = Annotated[Optional[int], typer.Option("--crop-size", help="Training crop side in pixels.")]
Workers = Annotated[Optional[int], typer.Option("--workers", help="DataLoader worker processes (0: load in the main process) [default: the cores the model leaves free: on the CPU, cores minus torch threads; with CUDA, cores minus one; at most 8].")]
SkipBad = Annotated[Optional[bool], typer.Option("--skip-bad/--no-skip-bad", help="Skip (and count) unreadable or invalid samples instead of stopping.")]
Iters = Annotated[Optional[int], typer.Option("--iters", help="Training iterations (optimizer steps).")]
Optimizer = Annotated[Optional[str], typer.Option("--optimizer", help="sgd (DeepLab's: momentum 0.9) or adamw (learns faster from random weights; use lr ~1e-3..3e-3); both under the poly schedule.")]
Lr = Annotated[Optional[float], typer.Option("--lr", help="Base learning rate of the poly schedule.")]
WeightDecay = Annotated[Optional[float], typer.Option("--weight-decay", help="Weight decay, applied to convolution weights only.")]
Momentum = Annotated[Optional[float], typer.Option("--momentum", help="SGD momentum (--optimizer sgd only).")]
WarmupIters = Annotated[Optional[int], typer.Option("--warmup-iters", help="Linear learning-rate warm-up iterations (0: none).")]
Amp = Annotated[Optional[str], typer.Option("--amp", help="Mixed precision: off, bf16 (CPU or CUDA) or fp16 (CUDA only, with gradient scaling).")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Seed of initialisation, data order and augmentation.")]
RunDir = Annotated[Optional[str], typer.Option("--run-dir", help="Run directory [default: runs/<recipe name>].")]
EvalEvery = Annotated[Optional[int], typer.Option("--eval-every", help="Evaluate on the val split every N iterations (0: only at the end).")]
SaveEvery = Annotated[Optional[int], typer.Option("--save-every", help="Write checkpoints/last.pt every N iterations (and at the end).")]
LogEvery = Annotated[Optional[int], typer.Option("--log-every", help="Write a metrics.jsonl line every N iterations.")]
Deterministic = Annotated[Optional[bool], typer.Option("--deterministic/--no-deterministic", help="Deterministic algorithms: on the CPU a killed and resumed run ends bit for bit like an uninterrupted one.")]


SyncBn = Annotated[Optional[bool], typer.Option("--sync-bn/--no-sync-bn", help="SyncBatchNorm across processes under torchrun [default: on when world size > 1].")]


def run_overrides(*, backbone=None, head=None, rates=None, merge=None, ksac_impl=None, output_stride=None,
                  decoder=None, pretrained=None, backbone_weights=None, dataset=None, data_root=None, split=None,
                  crop_size=None, workers=None, skip_bad=None, batch_size=None, iters=None, optimizer=None,
                  lr=None, weight_decay=None, momentum=None, warmup_iters=None, amp=None, seed=None, device=None,
                  run_dir=None, eval_every=None, save_every=None, log_every=None, deterministic=None,
                  sync_bn=None) -> dict:
    """Flags -> the nested override dict of a RunConfig (None: not given)."""
    return {
        "model": {"backbone": backbone, "head": head, "rates": rates, "merge": merge, "ksac_impl": ksac_impl,
                  "output_stride": output_stride, "decoder": decoder, "pretrained": pretrained,
                  "backbone_weights": None if backbone_weights is None else str(backbone_weights)},
        "data": {"dataset": dataset, "data_root": data_root, "split": split, "crop_size": crop_size,
                 "workers": workers, "skip_bad": skip_bad},
        "train": {"batch_size": batch_size, "iters": iters, "optimizer": optimizer, "lr": lr,
                  "weight_decay": weight_decay, "momentum": momentum, "warmup_iters": warmup_iters, "amp": amp,
                  "seed": seed, "device": device, "run_dir": run_dir, "eval_every": eval_every, "save_every": save_every, "log_every": log_every,
                  "deterministic": deterministic, "sync_bn": sync_bn},
    }


def argv_without(option: str) -> list[str]:
    """This command's own arguments without `option` and its value (for re-running it elsewhere)."""
    out, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out

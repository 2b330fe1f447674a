"""One row of results/ablation.csv: one cell and seed. The dataclass IS the CSV schema (results/README.md).
Plain Python only, so the report can read the schema without torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class AblationRow:
    grid: str  # the grid's name (runs/ablate/<grid>)
    cell: str  # the cell's name (its run directory under the grid)
    seed: int  # the grid's seed: the cells of one seed are paired (same data order and shared initial weights)
    stream: int  # 0; 1, ... for the copies of an A/A check (ksac ablate --streams), trained with other seeds
    config_hash: str  # short hash of the cell's resolved config (config.short_hash)
    status: str  # ok | failed
    backbone: str
    head: str
    merge: str
    rates: str  # "6,12,18"
    output_stride: int
    decoder: bool
    backbone_weights: str  # the starting backbone: builtin:<name>, a file, timm:imagenet, or '' (random weights)
    backbone_sha256: str  # its content ('' for random weights)
    freeze_backbone: bool  # True: only the head and decoder were trained
    dataset: str
    iterations: int
    crop_size: int
    batch_size: int
    amp: str  # the mixed precision it trained and evaluated in, resolved: off (float32), bf16 or fp16
    params_total: int | None
    params_head: int | None
    gmacs_total: float | None  # fvcore MACs (one multiply-add = one flop) at the training crop, batch 1
    gmacs_head: float | None
    miou: float | None  # final evaluation, fraction in [0, 1]
    pixel_accuracy: float | None
    iou_small: float | None  # IoU over pixels of ground-truth objects < 32x32 px
    iou_medium: float | None  # < 96x96 px
    iou_large: float | None
    per_class_iou: str  # JSON {class name: IoU}
    best_miou: float | None
    best_iteration: int | None
    train_seconds: float | None
    images_per_s: float | None  # median training throughput over the log intervals
    run_dir: str
    margin: float  # δ of the verdicts, in mIoU points, at most the claim (grid.delta: --margin, else half the claim)
    claim: float | None  # the paper's KSAC - ASPP mIoU gain the verdicts are read against, points (grid.claim)
    error: str  # the failure's message when status is failed
    git_commit: str  # the code's commit when this invocation of ksac ablate started
    git_state: str  # clean, dirty <sha256 of `git diff HEAD`, 12 hex>, or unknown (not run from a checkout)
    toolkit_version: str
    torch_version: str
    device: str  # cpu (model, threads, ISA, native bf16) or cuda (GPU name): env.device_name
    date: str


COLUMNS = [f.name for f in dataclasses.fields(AblationRow)]
# What makes rows one run, whose verdicts are read together: the code, the precision and the machine it ran on
# (with its grid). A resumed or extended ablation on the same machine and commit is the same run; the committed
# reference rows, made elsewhere, are another (report/runs.py).
RUN = ("grid", "git_commit", "amp", "device")
# A rerun never adds a second row with the same key; another run's row of the same cell and seed is kept beside it
KEY = ("grid", "cell", "seed", "config_hash", *RUN[1:])

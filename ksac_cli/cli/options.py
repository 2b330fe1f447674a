"""Every flag that sets a config value, declared once (option, config key, type, help), and `takes`, which
adds a list of them to a command: the command receives the ones given as `overrides`, nested like a
recipe ({"train": {"lr": 0.01}}; flags not given are absent), for one resolve function in ksac_cli.config.
Also what several commands share: --print-config, the rule of --recipe, and the checks of output places."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ksac_cli import io
from ksac_cli.config.load import recipe_names
from ksac_cli.config.schema import MAX_SEEDS, MIN_SEEDS, SEEDS_WITHOUT_BUDGET
from ksac_cli.errors import KsacError


@dataclass(frozen=True)
class Flag:
    key: str  # the config value it sets: "train.lr"
    type: Any  # str, int, float, bool (a --x/--no-x pair), Path, or list[...] (repeatable)
    help: str
    name: str = ""  # the option, when not "--" + the key's last part with dashes

    @property
    def option(self) -> str:
        return self.name or "--" + self.key.rsplit(".", 1)[-1].replace("_", "-")

    @property
    def param(self) -> str:
        return self.option.removeprefix("--").replace("-", "_")

    def annotation(self):
        decl = f"{self.option}/--no-{self.option[2:]}" if self.type is bool else self.option
        return Annotated[Optional[self.type], typer.Option(decl, help=self.help)]


EVAL_IMAGES = Flag("eval.max_images", int, "Evaluate on the first N images of the val split (every evaluation: "
                                          "during training, at its end, ksac eval) [default: all].",
                   name="--eval-images")
HEAD_HELP = ("aspp (one 3x3 kernel per rate), ksac (one shared 3x3 kernel), or your own class as module:Class, "
             "called as Class(in_channels, atrous_rates, out_channels) like torchvision's ASPP (docs/models.md)")
BACKBONE_HELP = "mobilenetv2, mobilenetv2_050 (and _035/_075/_140), resnet50, resnet101, xception65"
IMPL_HELP = ("taps (9 tap products computed once, shifted per rate: one conv's multiply-adds whatever the number "
             "of rates) or conv (one dilated conv per rate); same parameters and checkpoints")

# ---- one run: ksac train (all of them), ksac ablate (all but the grid's and the run directory's) ----------
MODEL = (
    Flag("model.backbone", str, f"Backbone: {BACKBONE_HELP}."),
    Flag("model.head", str, f"Head: {HEAD_HELP}."),
    Flag("model.rates", str, "Atrous rates, a comma list such as 6,12,18."),
    Flag("model.merge", str, "KSAC only: concat (paper Fig. 4) or sum (paper Alg. 1)."),
    Flag("model.output_stride", int, "Backbone output stride: 8, 16 or 32."),
)
RUN = (
    Flag("model.ksac_impl", str, f"KSAC only, how the shared kernel is applied: {IMPL_HELP}."),
    Flag("model.decoder", bool, "DeepLabV3+ decoder (default), or DeepLabV3 without it."),
    Flag("model.decoder_separable", bool, "Depthwise-separable 3x3 convolutions in the DeepLabV3+ decoder, as DeepLab's "
                                          "own implementation has them (about 8x fewer multiply-adds there)."),
    Flag("model.pretrained", bool, "Start the backbone from timm's ImageNet weights (a download)."),
    Flag("model.backbone_weights", str, "The backbone's starting weights: a state-dict file (e.g. from ksac pretrain), "
                                        "builtin:<name> for weights shipped in ksac_cli/weights, or none for random "
                                        "weights [default: the recipe's; quick: builtin:quick_backbone]."),
    Flag("data.dataset", str, "synthetic (built in, default), voc, ade20k, cityscapes or folder."),
    Flag("data.data_root", str, "Folder of the dataset (synthetic: a cache folder, made on first use)."),
    Flag("data.split", str, "Split to train on (voc: train, trainaug, trainval; ade20k: training; cityscapes: train)."),
    Flag("data.crop_size", int, "Training crop side in pixels."),
    Flag("data.workers", int, "DataLoader worker processes (0: the main process) [default: the cores the model "
                              "leaves free, at most 8]."),
    Flag("data.skip_bad", bool, "Skip (and count) unreadable or invalid samples instead of stopping."),
    Flag("train.batch_size", int, "Images per batch (the global batch under torchrun)."),
    Flag("train.iters", int, "Training iterations (optimizer steps)."),
    Flag("train.optimizer", str, "sgd (DeepLab's, momentum 0.9) or adamw (lr ~1e-3..3e-3); both with the poly schedule."),
    Flag("train.lr", float, "Base learning rate of the poly schedule."),
    Flag("train.weight_decay", float, "Weight decay, applied to convolution weights only."),
    Flag("train.momentum", float, "SGD momentum (--optimizer sgd only)."),
    Flag("train.loss_stride", int, "Compute the training loss at 1/N of the crop's side: the logits resized to it, "
                                   "the labels taken every N pixels (4: the decoder's own resolution, no full-size "
                                   "upsampling); 1: at full size. Evaluation is always at full size."),
    Flag("train.warmup_iters", int, "Linear learning-rate warm-up over N iterations, from lr/N at the first step "
                                    "up to lr at step N (0: none)."),
    Flag("train.amp", str, "Mixed precision: off, auto (bf16 where the device computes it natively: CUDA, or a CPU "
                           "with AVX512-BF16/AMX; else off), bf16 (CPU or CUDA) or fp16 (CUDA only, with gradient "
                           "scaling)."),
    Flag("train.freeze_backbone", bool, "Keep the backbone's weights and BatchNorm statistics fixed: only the head "
                                        "and decoder train (fine-tuning from --backbone-weights)."),
    Flag("train.seed", int, "Seed of initialisation, data order and augmentation."),
    Flag("train.device", str, "auto (cuda when present, else cpu), cpu, cuda or cuda:N."),
    Flag("train.eval_every", int, "Evaluate on the val split every N iterations (0: only at the end)."),
    EVAL_IMAGES,
    Flag("train.save_every", int, "Write checkpoints/last.pt every N iterations (and at the end)."),
    Flag("train.log_every", int, "Write a metrics.jsonl line every N iterations."),
    Flag("train.tensorboard", bool, "Write TensorBoard events into <run-dir>/tb (needs pip install -e \".[tensorboard]\") "
                                    "[default: on when the package is installed]."),
    Flag("train.deterministic", bool, "Deterministic algorithms: on the CPU a killed and resumed run ends bit for "
                                      "bit like an uninterrupted one."),
)
TRAIN_ONLY = (
    Flag("train.run_dir", str, "Run directory [default: runs/<recipe name>/<backbone>_<head>_r<rates>_os<stride>_seed<seed>, "
                               "as ksac ablate names its cells: the same command resumes there, another model "
                               "trains beside it]."),
    Flag("train.sync_bn", bool, "SyncBatchNorm across processes under torchrun [default: on when world size > 1]."),
)

# ---- grids: ksac ablate and ksac profile take each model axis repeated -----------------------------------
GRID = (
    Flag("grid.backbone", list[str], f"Backbone (repeatable): {BACKBONE_HELP}."),
    Flag("grid.head", list[str], f"Head (repeatable): {HEAD_HELP}."),
    Flag("grid.rates", list[str], "Atrous rates as a comma list (repeatable), e.g. --rates 6,12,18 --rates 6,12,18,24."),
    Flag("grid.merge", list[str], "KSAC only (repeatable): concat (paper Fig. 4) or sum (paper Alg. 1)."),
    Flag("grid.output_stride", list[int], "Backbone output stride (repeatable): 8, 16 or 32."),
)
PROFILE_GRID = (
    Flag("grid.ksac_impl", list[str], "KSAC only (repeatable): taps and/or conv [default: both, so the "
                                      "multiply-adds each really performs are listed]."),
    Flag("grid.decoder", bool, "DeepLabV3+ decoder (default), or DeepLabV3 without it."),
)

ABLATE = (
    Flag("grid.budget", str, "Wall time for the whole grid (15m, 900s, 1h30m, or none) that fixes the seeds per cell "
                             "before anything trains. The planner times one training step and one evaluation batch "
                             "per distinct model (as --dry-run does; a frozen backbone's share is counted once where "
                             "cells share it), estimates a seed round (every cell of one seed: steps, evaluations, data "
                             "path, set-up) and runs the rounds that fit after what the grid computes once: "
                             f"floor((budget - once) / round) seeds per cell, at least {MIN_SEEDS} and at most "
                             f"{MAX_SEEDS}, recorded in <out>/seeds.json so that a rerun of the same grid keeps them; "
                             f"none: {SEEDS_WITHOUT_BUDGET} seeds; --seeds wins [default: the recipe's; quick: 15m]."),
    Flag("grid.margin", float, "The equivalence margin in mIoU points, at most the paper's claim: a KSAC - ASPP "
                               "difference whose interval lies within +-margin counts as equivalent [default: half "
                               "the recipe's grid.claim: 0.3 for MobileNetV2's +0.6]."),
    Flag("grid.streams", int, "Seed streams, 1 or 2: 2 trains every cell twice on disjoint seeds, an A/A check (stream 1's "
                              "cells are named ..._stream1_seed<i> and train with seed i + 10000), e.g. --head aspp "
                              "--rates 6,12,18 --streams 2 [default: 1]."),
)

# ---- ksac eval: settings of the evaluation; the rest comes from the checkpoint --------------------------
EVAL = (
    Flag("data.dataset", str, "Dataset [default: the checkpoint's]: synthetic, voc, ade20k, cityscapes or folder."),
    Flag("data.data_root", str, "Folder of the dataset [default: the checkpoint's]."),
    Flag("data.val_split", str, "Split to evaluate [default: the checkpoint's val split].", name="--split"),
    Flag("train.device", str, "auto (cuda when present, else cpu), cpu, cuda or cuda:N."),
    Flag("eval.output_stride", int, "Evaluate at another output stride than training (8, 16 or 32)."),
    Flag("model.head", str, "The checkpoint's head, named again: a class of your own (module:Class) is imported "
                            "only when you name it here (or with --trust-head-code) [default: the checkpoint's]."),
    Flag("model.ksac_impl", str, f"KSAC only, how the shared kernel is applied: {IMPL_HELP}."),
    Flag("eval.scales", str, "Inference scales, a comma list (DeepLab: 0.5,0.75,1.0,1.25,1.5,1.75) [default: 1.0]."),
    Flag("eval.flip", bool, "Also infer on the horizontally flipped image."),
    Flag("eval.batch_size", int, "Images per batch."),
    EVAL_IMAGES,
    Flag("data.workers", int, "DataLoader worker processes (0: the main process)."),
    Flag("data.skip_bad", bool, "Skip (and count) unreadable or invalid samples instead of stopping."),
)


# ---- options shared by several commands ------------------------------------------------------------------
RECIPE_RULE = (f"Built-in recipes (installed with the package; their sources are in the project's recipes/ folder): "
               f"{', '.join(recipe_names())}. A recipe overrides the schema defaults (ksac_cli/config/schema.py) "
               "only where it sets a key, and flags override both; --print-config shows the result.")
PrintConfig = Annotated[bool, typer.Option(
    "--print-config", help="Print the resolved config as YAML, every value that is not the schema default marked "
                           "with where it came from (# recipe, # flag --lr), and exit: nothing is run or written.")]
TrustHeadCode = Annotated[bool, typer.Option(
    "--trust-head-code", help="Import the head class (module:Class) a checkpoint names without naming it yourself: "
                              "that runs its code.")]
FILE_OR_FOLDER = "an existing folder, or a path ending in '/', means the file {name} inside it"


def given(overrides: dict, *groups: tuple[Flag, ...], own: dict[str, str] | None = None) -> dict[str, str]:
    """The dotted config keys the command line set, each with its option ({"train.lr": "--lr"}), for
    --print-config; `own` adds a command's own options that set a key ({"grid.seeds": "--seeds"})."""
    out = {}
    for key, option in {**{f.key: f.option for group in groups for f in group}, **(own or {})}.items():
        section, _, name = key.partition(".")
        value = overrides.get(section, {}).get(name)
        if value is not None:
            out[key] = f"--no-{option[2:]}" if value is False else option  # only a --x/--no-x flag gives False
    return out


def output_file(value: str | Path, option: str, name: str | None = None) -> Path:
    """The file an output option names: with a default file `name`, an existing folder or a path ending in
    '/' means that file inside it; without one, a folder is refused. Nothing is created here."""
    path = Path(value)
    if str(value).endswith(("/", os.sep)) or path.is_dir():
        if name is None:
            raise KsacError(f"{option} {value}: a folder; give the path of the file to write")
        return path / name
    return path


def writable_folder(path: str | Path, option: str) -> Path:
    """Make the folder an output option writes into, before any work is done: a path that cannot be a
    folder (a file is there or above it, a read-only place, /proc) is one error naming it (exit 2)."""
    path = folder_can_be_made(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # what the checks cannot see: /proc, a full or read-only file system
        raise KsacError(f"{option}: cannot make the folder {path} ({e.strerror or e}); choose another path") from None
    return path


def writable_file(path: Path, option: str) -> Path:
    """A file that a long job writes at its end, checked before the job: its folder exists (see
    `writable_folder`) and a file can be created there (io.check_writable); else one error naming it."""
    try:
        io.check_writable(path)
    except KsacError as e:
        raise KsacError(f"{option}: {e}; choose another path") from None
    return path


def folder_can_be_made(path: str | Path, option: str) -> Path:
    """`writable_folder`'s check without making anything (for a command that validates more input first):
    a file on the path, or a nearest existing folder that cannot be written, is one error naming it."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise KsacError(f"{option}: cannot make the folder {path} ({existing} is a file, not a folder); "
                        f"choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == path:
            raise KsacError(f"{option}: the folder {path} is not writable; choose another path or change its "
                            f"permissions")
        raise KsacError(f"{option}: cannot make the folder {path} ({existing} is not writable); choose another path")
    return path


def check_optional_packages(overrides: dict) -> None:
    """A flag that asks for an optional package names the command that installs it (exit 2)."""
    import importlib.util

    if overrides.get("train", {}).get("tensorboard") and importlib.util.find_spec("tensorboard") is None:
        raise KsacError('--tensorboard: the tensorboard package is not installed here; install it with '
                        'pip install -e ".[tensorboard]" (or pip install tensorboard), or drop the flag')


def takes(*groups: tuple[Flag, ...]):
    """Decorator: add the flags of `groups` to a command's options (after its own); the command gets the
    given ones as `overrides`, a nested dict keyed like the config (Paths as strings)."""
    flags = [f for group in groups for f in group]

    def decorate(command):
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "overrides"]
        added = [inspect.Parameter(f.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=f.annotation())
                 for f in flags]

        @functools.wraps(command)
        def wrapper(**kwargs):
            given = {f.key: kwargs.pop(f.param) for f in flags}
            return command(overrides=nested(given), **kwargs)

        wrapper.__signature__ = inspect.Signature(own + added)
        wrapper.__annotations__ = {}  # typer reads the annotations from the signature above
        return wrapper

    return decorate


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """{"train.lr": 0.1, "data.workers": None} -> {"train": {"lr": 0.1}}: flags not given are left out."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = str(value) if isinstance(value, Path) else value
    return out


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

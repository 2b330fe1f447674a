"""Every default, once: the frozen dataclasses of each command's config, with their validation (types are
checked by `coerce.from_dict`, ranges and choices here). Modules never read the config themselves: each
component has one translation point (for example `models.deeplab.build_model`)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from ksac_cli.config.values import (
    AMP_MODES,
    BACKBONE_NAMES,
    DATASET_NAMES,
    KSAC_IMPLS,
    MERGES,
    OPTIMIZERS,
    OUTPUT_STRIDES,
    TIMED_AMP_MODES,
    check_choice,
    check_device,
    check_model_axes,
    check_name,
    parse_duration,
    parse_rates,
)
from ksac_cli import heads
from ksac_cli.errors import KsacError
from ksac_cli.weights import resolve as resolve_weights


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name  # where "": a recipe's top-level keys (ksac profile)


def check_least(where: str, obj: object, names: tuple[str, ...], least: int = 1) -> None:
    """Every field `names` of `obj` that is set (not None) is at least `least`; an error names the key."""
    for name in names:
        value = getattr(obj, name)
        if value is not None and value < least:
            expected = "a positive integer" if least == 1 else f">= {least}"
            raise KsacError(f"{_key(where, name)}: {value} must be {expected}")


def check_filled(where: str, obj: object, names: tuple[str, ...], what: str = "value") -> None:
    """Every field `names` of `obj` (a tuple of values) holds at least one."""
    for name in names:
        if not getattr(obj, name):
            raise KsacError(f"{_key(where, name)}: empty; give at least one {what}")


# ---- ksac train / ksac eval: the model, the data, the optimisation, the evaluation -------------------


@dataclass(frozen=True)
class ModelConfig:
    """DeepLabV3(+) with an ASPP or KSAC head; defaults follow DeepLab (paper.md)."""

    backbone: str = "mobilenetv2"
    head: str = "ksac"
    rates: tuple[int, ...] = (6, 12, 18)
    merge: str = "concat"  # KSAC only: concat (paper Fig. 4) or sum (paper Alg. 1)
    ksac_impl: str = "taps"  # KSAC only: conv (one dilated conv per rate) or taps (9 tap products, shifted)
    output_stride: int = 16
    decoder: bool = True  # DeepLabV3+ decoder; False gives DeepLabV3
    channels: int = 256  # head channels
    decoder_channels: int = 256
    low_level_channels: int = 48  # 1x1 projection of the stride-4 features
    decoder_separable: bool = False  # depthwise-separable 3x3 convs in the DeepLabV3+ decoder (as DeepLab's own)
    separable: bool = False  # depthwise-separable atrous convolutions (both heads)
    dropout: float = 0.1  # after the head's 1x1 projection
    num_classes: int = 21
    pretrained: bool = False  # ImageNet weights through timm (needs a download)
    backbone_weights: str | None = None  # a state_dict file for the backbone, or builtin:<name> (ksac_cli/weights)

    def label(self) -> str:
        """'mobilenetv2 KSAC (concat) 6,12,18'."""
        return f"{self.backbone} {heads.model_label(self.head, self.merge, self.rates)}"

    def validate(self, where: str = "model") -> None:
        check_name(f"{where}.backbone", "backbone", self.backbone, BACKBONE_NAMES)
        if "separable" not in heads.spec(self.head, f"{where}.head").extras and self.separable:
            raise KsacError(f"{where}.separable: the head {self.head} has no separable form; leave it off")
        parse_rates(list(self.rates), option=f"{where}.rates")
        check_choice(f"{where}.output_stride", self.output_stride, OUTPUT_STRIDES)
        check_choice(f"{where}.merge", self.merge, MERGES)
        check_choice(f"{where}.ksac_impl", self.ksac_impl, KSAC_IMPLS)
        check_least(where, self, ("channels", "decoder_channels", "low_level_channels", "num_classes"))
        if not 0.0 <= self.dropout < 1.0:
            raise KsacError(f"{where}.dropout: {self.dropout} must be in [0, 1)")
        if self.backbone_weights is not None and not resolve_weights(self.backbone_weights).is_file():
            raise KsacError(f"{where}.backbone_weights: file {self.backbone_weights} does not exist")



@dataclass(frozen=True)
class SyntheticConfig:
    """The built-in dataset (`ksac data synth --help` explains its design)."""

    train: int = 600  # images
    val: int = 100
    size: int = 256  # square image side, pixels
    seed: int = 0

    def validate(self, where: str = "synthetic") -> None:
        check_least(where, self, ("train", "val"))
        if self.size < 32:
            raise KsacError(f"{where}.size: {self.size} must be at least 32 pixels")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "synthetic"
    data_root: str | None = None  # synthetic: default cache folder under $KSAC_HOME or ~/.cache/ksac
    split: str = "train"  # training split
    val_split: str = "val"  # evaluation split
    crop_size: int = 256  # training crop side, pixels
    scale_min: float = 0.5  # random scale range of the training augmentation
    scale_max: float = 2.0
    workers: int | None = None  # DataLoader worker processes; None: auto (`engine.loaders.worker_count`)
    skip_bad: bool = False  # skip unreadable/invalid samples (counted) instead of stopping
    synthetic: SyntheticConfig = SyntheticConfig()

    def validate(self, where: str = "data") -> None:
        check_choice(f"{where}.dataset", self.dataset, DATASET_NAMES)
        if self.dataset != "synthetic" and not self.data_root:
            raise KsacError(f"{where}.data_root: dataset {self.dataset!r} needs --data-root (the folder of your copy)")
        if self.crop_size < 16:
            raise KsacError(f"{where}.crop_size: {self.crop_size} must be at least 16 pixels")
        if not 0 < self.scale_min <= self.scale_max:
            raise KsacError(f"{where}.scale_min/scale_max: need 0 < scale_min <= scale_max, got "
                            f"{self.scale_min}, {self.scale_max}")
        check_least(where, self, ("workers",), least=0)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and run bookkeeping (DeepLabV3+ protocol defaults: SGD 0.9, poly 0.9)."""

    iters: int = 300
    batch_size: int = 8  # the global batch
    optimizer: str = "sgd"  # sgd (DeepLab's: momentum, poly schedule) | adamw (same schedule; faster from scratch)
    lr: float = 0.01
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4  # conv weights only
    poly_power: float = 0.9
    # the loss at 1/N of the crop's side: the logits resized to it and the labels sampled every N pixels (4: the
    # DeepLabV3+ decoder's own resolution, which spares the full-size logits' upsampling and loss); 1: full size
    loss_stride: int = 1
    warmup_iters: int = 0  # linear warm-up: step i (0-based) uses lr * (i+1)/warmup_iters, from lr/warmup_iters to lr
    amp: str = "off"  # off | bf16 (CPU or CUDA autocast) | fp16 (CUDA, gradient scaling) | auto (machine.resolve_amp)
    seed: int = 0
    freeze_backbone: bool = False  # fine-tuning: only the head and decoder train (backbone weights and BN fixed)
    deterministic: bool = False  # torch deterministic algorithms; exact resume on CPU
    device: str = "auto"
    eval_every: int = 0  # iterations between evaluations; 0: only at the end
    save_every: int = 50  # iterations between checkpoints (and always at the end)
    log_every: int = 10  # iterations between metrics.jsonl lines
    run_dir: str | None = None  # default runs/<name>/<model and seed> (config.load.run_dir_of)
    sync_bn: bool = True  # SyncBatchNorm across processes when distributed (world size > 1)
    tensorboard: bool = True  # TensorBoard events in <run_dir>/tb when the tensorboard package is installed

    def validate(self, where: str = "train") -> None:
        check_least(where, self, ("iters", "batch_size", "save_every", "log_every", "loss_stride"))
        check_least(where, self, ("warmup_iters", "eval_every", "weight_decay"), least=0)
        if self.lr <= 0:
            raise KsacError(f"{where}.lr: {self.lr} must be > 0")
        if not 0 <= self.momentum < 1:
            raise KsacError(f"{where}.momentum: {self.momentum} must be in [0, 1)")
        if self.poly_power < 0:
            raise KsacError(f"{where}.poly_power: {self.poly_power} must be >= 0 (0: constant learning rate)")
        check_choice(f"{where}.amp", self.amp, AMP_MODES)
        check_choice(f"{where}.optimizer", self.optimizer, OPTIMIZERS)
        check_device(f"{where}.device", self.device)


@dataclass(frozen=True)
class EvalConfig:
    """Inference settings: single scale by default; DeepLab's multi-scale is 0.5..1.75 with flip."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    batch_size: int = 1
    output_stride: int | None = None  # evaluate at another stride than training (e.g. 8)
    max_images: int | None = None  # evaluate the split's first N images (None: all of them)

    def validate(self, where: str = "eval") -> None:
        if not self.scales or any(s <= 0 for s in self.scales):
            raise KsacError(f"{where}.scales: {self.scales} must be a non-empty list of positive numbers")
        check_least(where, self, ("batch_size",))
        if self.output_stride is not None:
            check_choice(f"{where}.output_stride", self.output_stride, OUTPUT_STRIDES)
        if self.max_images is not None and self.max_images < 1:
            raise KsacError(f"{where}.max_images: {self.max_images} must be a positive integer (or absent: all)")


@dataclass(frozen=True)
class RunConfig:
    """Everything `ksac train` needs; dumped as config.yaml in the run directory."""

    name: str = "run"
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def validate(self, where: str = "") -> None:
        if not self.name or "/" in self.name:
            raise KsacError(f"name: {self.name!r} must be a non-empty name without '/'")


# ---- ksac profile ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileGrid:
    """A cross product of model variants; `merge` only varies KSAC (ASPP always concatenates)."""

    backbone: tuple[str, ...] = ("mobilenetv2",)
    head: tuple[str, ...] = ("aspp", "ksac")
    rates: tuple[tuple[int, ...], ...] = ((6, 12, 18), (6, 12, 18, 24))
    merge: tuple[str, ...] = ("concat",)
    ksac_impl: tuple[str, ...] = ("conv", "taps")  # KSAC only: both, so the MACs each performs are listed
    output_stride: tuple[int, ...] = (16,)
    decoder: tuple[bool, ...] = (True,)

    def validate(self, where: str = "grid") -> None:
        check_filled(where, self, ("backbone", "head", "rates", "merge", "ksac_impl", "output_stride", "decoder"))
        check_model_axes(where, self.backbone, self.head, self.output_stride, self.merge, self.ksac_impl, self.rates)

    def models(self, base: ModelConfig) -> list[ModelConfig]:
        """Expand into model configs (`expand_models`), in a stable order."""
        axes = ("backbone", "decoder", "output_stride", "rates", "head", "merge", "ksac_impl")  # outermost first
        return expand_models(base, {name: getattr(self, name) for name in axes})


@dataclass(frozen=True)
class ProfileConfig:
    """`ksac profile`: parameters, MACs, latency and training-step time for every model of one or more grids."""

    grids: tuple[ProfileGrid, ...] = (ProfileGrid(),)
    size: int = 513  # square input side, pixels
    num_classes: int = 21
    batch_size: int = 1
    runs: int = 10  # timed forward passes per model
    warmup: int = 3
    latency: bool = True
    train_step: bool = False  # also time the training step: forward, loss, backward, optimizer update
    device: str = "auto"  # auto: cuda when present, else cpu
    out: str = "results/profile.csv"
    # execution variants, timed for every model (their cross product): memory format, autocast, torch.compile
    channels_last: tuple[bool, ...] = (False,)
    amp: tuple[str, ...] = ("off",)  # off (float32) | bf16 | fp16 (CUDA)
    compile: tuple[bool, ...] = (False,)
    peak: bool = False  # also time a large matmul per dtype: the machine's achievable GFLOP/s

    def validate(self, where: str = "") -> None:
        check_least(where, self, ("size", "num_classes", "batch_size", "runs"))
        check_least(where, self, ("warmup",), least=0)
        check_filled(where, self, ("grids",), "grid")
        check_filled(where, self, ("channels_last", "amp", "compile"))
        for amp in self.amp:
            check_choice(_key(where, "amp"), amp, TIMED_AMP_MODES)
        check_device(_key(where, "device"), self.device)

    def variants(self) -> list[tuple[bool, str, bool]]:
        """(channels_last, amp, compile) of every timed variant."""
        return list(itertools.product(self.channels_last, self.amp, self.compile))

    def models(self) -> list[ModelConfig]:
        base = ModelConfig(num_classes=self.num_classes)
        return list(dict.fromkeys(cfg for grid in self.grids for cfg in grid.models(base)))


# ---- ksac analyze ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyzeConfig:
    """`ksac analyze`: the settings of the scale sweep, the effective receptive fields and the per-rate
    contributions (the checkpoints are its inputs). None: the analysed run's own value."""

    # factors every val image and its mask are rescaled by (single-scale inference at each)
    scales: tuple[float, ...] = (0.5, 0.625, 0.75, 0.875, 1.0, 1.25, 1.5, 1.75, 2.0)
    images: int | None = None  # the val split's first N images (None: all; then scale 1.0 gives ksac eval's mIoU)
    erf_images: int = 8  # val images (drawn with seed 0) averaged in each effective receptive field; 0: skip it
    device: str | None = None
    amp: str | None = None  # off | bf16
    batch_size: int | None = None  # evaluation images per batch
    out: str = "results"  # folder of analysis_*.csv and analysis_erf.npz (what ksac report --results reads)
    trust_head_code: bool = False  # import a module:Class head a checkpoint names (that runs its code)

    def validate(self) -> None:
        """Every value is a flag of `ksac analyze` (no recipe): errors name the flag."""
        for name, least in (("images", 1), ("erf_images", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise KsacError(f"--{name.replace('_', '-')}: {value} must be >= {least}")
        if self.amp is not None:
            check_choice("--amp", self.amp, ("off", "bf16"))
        if self.device is not None:
            check_device("--device", self.device)


# ---- ksac ablate -------------------------------------------------------------------------------------


RESULTS = "results"  # --results of ksac ablate (written) and ksac report (read): the results folder
ABLATION_CSV = "ablation.csv"  # the ablation's rows, in that folder
SEEDS_WITHOUT_BUDGET = 3  # seeds per cell with --budget none: the fewest that give a confidence interval worth reading
MIN_SEEDS, MAX_SEEDS = 2, 20  # a budget's seeds (experiments/plan.py): a paired difference's spread needs 2; a step
# estimate far too low (a tiny recipe, a busy machine at planning) must not run for days
STREAM_SEED_OFFSET = 10_000  # stream s of seed i trains with seed i + s * this: disjoint from stream 0's seeds
STREAMS = (1, 2)  # grid.streams: one stream, or two for the A/A check (docs/training.md)


# The paper's KSAC - ASPP mIoU gain on PASCAL VOC 2012 val, in points, by the backbone it was measured with (the
# abstracts' claims, /work/shared/paper.md): MobileNetV2 "+0.6 points"; Xception-65 83.34% -> 85.96% (+2.62).
# grid.claim names the one a recipe's verdicts are read against; the margin delta is derived from it.
PAPER_CLAIMS = {"mobilenetv2": 0.6, "xception65": 2.62}


def margin_for(claim: float, margin: float | None) -> float:
    """The equivalence margin delta (points) for a paper's claim (points): `margin` when it is at most the claim,
    else half the claim (docs/results.md says why)."""
    return margin if margin is not None and 0 < margin <= abs(claim) else abs(claim) / 2


@dataclass(frozen=True)
class AblationGrid:
    """The cross product `ksac ablate` runs; an empty tuple means 'the recipe's value'. The number of seeds
    is fixed before any cell trains: `seeds` when given, else as many as the time `budget` allows by the dry
    run's estimate (workflows/ablate.py: plan_seeds), else SEEDS_WITHOUT_BUDGET."""

    head: tuple[str, ...] = ("aspp", "ksac")
    rates: tuple[tuple[int, ...], ...] = ((6, 12, 18), (6, 12, 18, 24))
    backbone: tuple[str, ...] = ()
    merge: tuple[str, ...] = ()
    output_stride: tuple[int, ...] = ()
    seeds: int | None = None  # seeds per cell (recipe seed, seed + 1, ...); None: chosen by `budget`
    budget: str = "none"  # wall time for the whole grid (15m, 900s, 1h30m) that sets the seeds; none: 3 seeds
    claim: str = "mobilenetv2"  # the paper's KSAC - ASPP gain the verdicts are read against: a PAPER_CLAIMS name
    # the equivalence margin delta, mIoU points, at most the claim; None: half the claim (`margin_for`)
    margin: float | None = None
    # the recorded std (points) of the per-seed KSAC - ASPP mIoU differences of this recipe, for the expected
    # half-width before a run (experiments/plan.py); None: not recorded, no expectation printed
    paired_std: float | None = None
    streams: int = 1  # seed streams: 2 runs every cell twice, on disjoint seeds (an A/A check of the comparison)

    def validate(self, where: str = "grid") -> None:
        check_least(where, self, ("seeds",))
        check_choice(f"{where}.streams", self.streams, STREAMS)
        if self.streams > 1 and (self.seeds or 0) >= STREAM_SEED_OFFSET:
            raise KsacError(f"{where}.seeds: {self.seeds} with {self.streams} streams would reuse seeds; use fewer "
                            f"than {STREAM_SEED_OFFSET}")
        check_choice(f"{where}.claim", self.claim, tuple(PAPER_CLAIMS))
        if self.margin is not None and not 0 < self.margin <= self.claim_points:
            raise KsacError(f"{where}.margin: {self.margin} must be > 0 and at most the paper's claim it tests, "
                            f"{self.claim_points} points ({where}.claim {self.claim}); leave it out for half the claim")
        if self.paired_std is not None and not self.paired_std > 0:
            raise KsacError(f"{where}.paired_std: {self.paired_std} must be > 0 (mIoU points)")
        self.budget_seconds(where)
        check_model_axes(where, self.backbone, self.head, self.output_stride, self.merge, rates=self.rates)

    @property
    def claim_points(self) -> float:
        """The paper's KSAC - ASPP gain named by `claim`, mIoU points."""
        return PAPER_CLAIMS[self.claim]

    @property
    def delta(self) -> float:
        """The equivalence margin, mIoU points: `margin`, else half the claim (`margin_for`)."""
        return margin_for(self.claim_points, self.margin)

    def budget_seconds(self, where: str = "grid") -> float | None:
        """The budget in seconds, None for none: the one place the grid's `budget` text is read."""
        return parse_duration(self.budget, f"{where}.budget")

    def fixed_seeds(self) -> int | None:
        """The seeds per cell known without timing anything: `seeds`, or SEEDS_WITHOUT_BUDGET when there is no
        budget; None when the budget decides."""
        if self.seeds is not None:
            return self.seeds
        return SEEDS_WITHOUT_BUDGET if self.budget_seconds() is None else None

    def models(self, base: ModelConfig) -> list[ModelConfig]:
        """The grid's models (`expand_models`; an empty axis keeps the recipe's value), without seeds."""
        axes = ("backbone", "output_stride", "rates", "head", "merge")  # outermost first
        return expand_models(base, {name: getattr(self, name) for name in axes})


def expand_models(base: ModelConfig, axes: dict[str, tuple]) -> list[ModelConfig]:
    """The cross product of `axes` (a ModelConfig field -> its values; an empty tuple keeps `base`'s value),
    the first axis outermost, duplicates dropped. KSAC-only settings do not multiply ASPP: an ASPP model
    always concatenates and keeps `base`'s ksac_impl. Shared by ksac ablate and ksac profile."""
    out: dict[ModelConfig, None] = {}  # insertion-ordered, without duplicates
    for values in itertools.product(*[axes[n] or (getattr(base, n),) for n in axes]):
        changes = dict(zip(axes, values))
        taken = heads.spec(changes.get("head", base.head)).options
        changes.update({k: v for k, v in (("merge", "concat"), ("ksac_impl", base.ksac_impl)) if k not in taken})
        out[dataclasses.replace(base, **changes)] = None
    return list(out)


# ---- ksac pretrain -----------------------------------------------------------------------------------


def check_pretraining_setup(cfg: RunConfig) -> None:
    """The head is the neutral one, and built-in data is drawn with a seed the experiments do not use."""
    if cfg.model.head != heads.NEUTRAL:
        raise KsacError(f"model.head: ksac pretrain trains the backbone with the neutral head {heads.NEUTRAL!r} "
                        f"(a 1x1 projection) so that neither compared head is favoured; got {cfg.model.head!r}")
    experiments_seed = SyntheticConfig().seed
    if cfg.data.dataset == "synthetic" and cfg.data.synthetic.seed == experiments_seed:
        raise KsacError(f"data.synthetic.seed: {experiments_seed} is the seed of the built-in dataset that ksac "
                        f"train and ksac ablate train and evaluate on; pretrain on another seed (the recipe "
                        f"pretrain_quick uses 1) so that no pretraining image is one of theirs")

"""`ksac profile`: parameters, MACs, latency and training-step time of ASPP vs KSAC models."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli import heads
from ksac_cli.cli import options, output
from ksac_cli.config import ProfileConfig, resolve_profile, to_dict


PROFILE = (
    options.Flag("profile.size", int, "Square input side in pixels [default: 513]."),
    options.Flag("profile.num_classes", int, "Number of classes of the classifier [default: 21]."),
    options.Flag("profile.batch_size", int, "Images per forward pass (and training step) [default: 1]."),
    options.Flag("profile.runs", int, "Timed forward passes per model, after warm-up, and as many training steps "
                                      "with --train-step [default: 10]."),
    options.Flag("profile.warmup", int, "Untimed warm-up passes (and steps) [default: 3]."),
    options.Flag("profile.latency", bool, "Time the forward pass (median, p90, images/s) [default: on]."),
    options.Flag("profile.train_step", bool, "Also time the training step of the whole model, the one ksac train "
                 "runs (engine/train.py): forward, cross-entropy on random masks, backward and an SGD update (momentum "
                 "0.9) of every parameter, on --batch-size images, in every timing variant: median and p90 ms and "
                 "images/s, the train_* columns [default: off]. At batch 1 the image-pooling branch keeps its "
                 "BatchNorm in eval mode (one image gives it one value per channel; ksac train refuses batch 1).", name="--train-step"),
    options.Flag("profile.device", str, "auto (cuda when present, else cpu), cpu, cuda or cuda:N."),
    options.Flag("profile.channels_last", bool, "Also time every model in channels_last memory format.", name="--channels-last"),
    options.Flag("profile.amp", list[str], "Also time under autocast (repeatable): bf16 (CPU or CUDA), fp16 (CUDA)."),
    options.Flag("profile.compile", bool, "Also time every model compiled with torch.compile (compilation is not timed).", name="--compile"),
    options.Flag("profile.peak", bool, "Time a large matmul in each dtype used: each model's achieved GFLOP/s is then also given as a share of that practical peak.", name="--peak"),
    options.Flag("profile.out", str, "The CSV FILE to write, the KSAC-vs-ASPP reduction table beside it as .md; "
                 + options.FILE_OR_FOLDER.format(name="profile.csv") + " [default: results/profile.csv]."),
)


@options.takes(options.GRID, options.PROFILE_GRID, PROFILE)
def profile(
    overrides: dict,
    recipe: Annotated[Optional[str], typer.Option("--recipe", help="A YAML recipe of grids and settings, or the name of one in recipes/ (e.g. paper_params) [default: none: the defaults below]. A grid flag replaces the recipe's grids with one grid. " + options.RECIPE_RULE)] = None,
    print_config: options.PrintConfig = False,
) -> None:
    """Count parameters (total, backbone, head, decoder) and multiply-accumulates, and time the forward pass
    (and with --train-step the training step: forward, backward, optimizer update), for the cross product of
    --backbone x --head x --rates x --merge x --output-stride.

    MACs come from fvcore, which counts ONE fused multiply-add as ONE flop: its "flops" are MACs, and the
    gmacs_* columns are 1e9 multiply-adds for one image. Default grid: mobilenetv2, aspp and ksac, rates
    6,12,18 and 6,12,18,24, output stride 16, with the DeepLabV3+ decoder, at 513x513.
    """
    cfg: ProfileConfig = resolve_profile(recipe, overrides)
    cfg = dataclasses.replace(cfg, out=str(options.output_file(cfg.out, "--out", "profile.csv")))
    if print_config:
        return _print_config(cfg, overrides)
    options.writable_folder(Path(cfg.out).parent, "--out")
    from ksac_cli.workflows import profile as workflow  # torch: imported once the flags are known to be good

    with output.progress() as bar:
        task = bar.add_task("profiling", total=None)

        def on_model(i: int, n: int, what: str) -> None:
            bar.update(task, completed=i, total=n, description=what)

        rows = workflow.profile(cfg, progress=on_model)

    output.table(f"ksac profile: {cfg.size}x{cfg.size}, batch {cfg.batch_size}, {rows[0].device}", *_table(cfg, rows))
    output.info(f"wrote {cfg.out}" + (f" and {Path(cfg.out).with_suffix('.md')}" if any(heads.spec(r.head).role == heads.CANDIDATE for r in rows) else ""))


def _print_config(cfg: ProfileConfig, overrides: dict) -> None:
    """--print-config: the "profile" flags set top-level keys; the grid flags together make the one grid of
    `grids`."""
    flags = {key.removeprefix("profile."): option for key, option in options.given(overrides, PROFILE).items()}
    grid_flags = options.given(overrides, options.GRID, options.PROFILE_GRID)
    if grid_flags:
        flags["grids"] = " ".join(sorted(grid_flags.values()))
    output.print_config("ksac profile", to_dict(cfg), to_dict(ProfileConfig()), flags, "recipe")


def _table(cfg: ProfileConfig, rows: list) -> tuple[list[str], list[list[str]]]:
    """(columns, lines) of the profile table: sizes and MACs, then the timings `cfg` asked for."""
    from ksac_cli.workflows.profile import describe, describe_variant

    variants = len(cfg.variants()) > 1
    columns = ["model", *(["variant"] if variants else []), "params (M)", "backbone (M)", "head (M)", "decoder (M)",
               "GMACs", "head GMACs"]
    table = [[describe(r), *([describe_variant(r)] if variants else []), f"{r.params_total / 1e6:.3f}",
              f"{r.params_backbone / 1e6:.3f}", f"{r.params_head / 1e6:.3f}", f"{r.params_decoder / 1e6:.3f}",
              f"{r.gmacs_total:.2f}", f"{r.gmacs_head:.2f}"] for r in rows]
    if cfg.latency:
        columns += ["ms median", "ms p90", "images/s", "GFLOP/s"]
        for line, r in zip(table, rows):
            line += [f"{r.latency_ms_median:.1f}", f"{r.latency_ms_p90:.1f}", f"{r.images_per_s:.2f}",
                     f"{r.gflops_per_s:.1f}"]
    if cfg.latency and cfg.peak:
        columns += ["% of peak"]
        for line, r in zip(table, rows):
            line += [f"{100 * r.share_of_peak:.1f} (of {r.peak_gflops_per_s:.0f})"]
    if cfg.train_step:
        columns += ["train ms median", "train ms p90", "train images/s"]
        for line, r in zip(table, rows):
            line += [f"{r.train_ms_median:.1f}", f"{r.train_ms_p90:.1f}", f"{r.train_images_per_s:.2f}"]
    return columns, table

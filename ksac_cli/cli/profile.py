"""`ksac profile`: parameters, MACs and latency of ASPP vs KSAC models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli.cli import options, output
from ksac_cli.config import (
    AMP_MODES,
    KSAC_IMPLS,
    MERGES,
    OUTPUT_STRIDES,
    ProfileConfig,
    check_choice,
    from_dict,
    load_yaml,
    merged,
    parse_rates,
)


def profile(
    recipe: options.Recipe = None,
    backbone: options.Backbones = None,
    head: options.Heads = None,
    rates: options.RatesList = None,
    merge: options.Merges = None,
    ksac_impl: Annotated[Optional[list[str]], typer.Option("--ksac-impl", help="KSAC only (repeatable): taps and/or conv [default: both, so the multiply-adds each really performs are listed].")] = None,
    output_stride: options.OutputStrides = None,
    decoder: options.Decoder = None,
    size: Annotated[Optional[int], typer.Option("--size", help="Square input side in pixels [default: 513].")] = None,
    num_classes: options.NumClasses = None,
    batch_size: options.BatchSize = None,
    runs: Annotated[Optional[int], typer.Option("--runs", help="Timed forward passes per model, after warm-up [default: 10].")] = None,
    warmup: Annotated[Optional[int], typer.Option("--warmup", help="Untimed warm-up passes [default: 3].")] = None,
    latency: Annotated[Optional[bool], typer.Option("--latency/--no-latency", help="Time the forward pass (median, p90, images/s) [default: on].")] = None,
    device: options.Device = None,
    channels_last: Annotated[Optional[bool], typer.Option("--channels-last", help="Also time every model in channels_last memory format.")] = None,
    amp: Annotated[Optional[list[str]], typer.Option("--amp", help="Also time under autocast (repeatable): bf16 (CPU or CUDA), fp16 (CUDA).")] = None,
    compile_: Annotated[Optional[bool], typer.Option("--compile", help="Also time every model compiled with torch.compile (compilation is not timed).")] = None,
    peak: Annotated[Optional[bool], typer.Option("--peak", help="Time a large matmul in each dtype used: each model's achieved GFLOP/s is then also given as a share of that practical peak.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="CSV to write [default: results/profile.csv]; the KSAC-vs-ASPP reduction table goes beside it as .md.")] = None,
) -> None:
    """Count parameters (total, backbone, head, decoder) and multiply-accumulates, and time the forward pass,
    for the cross product of --backbone x --head x --rates x --merge x --output-stride.

    MACs come from fvcore, which counts ONE fused multiply-add as ONE flop: its "flops" are MACs, and the
    gmacs_* columns are 1e9 multiply-adds for one image. Default grid: mobilenetv2, aspp and ksac, rates
    6,12,18 and 6,12,18,24, output stride 16, with the DeepLabV3+ decoder, at 513x513.
    """
    for value in output_stride or []:
        check_choice("--output-stride", value, OUTPUT_STRIDES)
    for value in merge or []:
        check_choice("--merge", value, MERGES)
    for value in ksac_impl or []:
        check_choice("--ksac-impl", value, KSAC_IMPLS)
    for value in amp or []:
        check_choice("--amp", value, AMP_MODES)
    base = load_yaml(recipe) if recipe else {}
    grid_flags = {"backbone": backbone, "head": head, "merge": merge, "ksac_impl": ksac_impl,
                  "output_stride": output_stride,
                  "rates": [list(parse_rates(r)) for r in rates] if rates else None,
                  "decoder": None if decoder is None else [decoder]}
    if any(v is not None for v in grid_flags.values()):
        base["grids"] = [{k: v for k, v in grid_flags.items() if v is not None}]
    flags = {"size": size, "num_classes": num_classes, "batch_size": batch_size, "runs": runs, "warmup": warmup,
             "latency": latency, "device": device, "out": None if out is None else str(out), "peak": peak,
             "channels_last": [False, True] if channels_last else None,
             "amp": ["off", *[a for a in amp if a != "off"]] if amp else None,
             "compile": [False, True] if compile_ else None}
    cfg: ProfileConfig = from_dict(ProfileConfig, merged(base, flags), where=str(recipe) if recipe else "")

    from ksac_cli.workflows import profile as workflow  # torch: imported once the flags are known to be good

    with output.progress() as bar:
        task = bar.add_task("profiling", total=None)

        def on_model(i: int, n: int, what: str) -> None:
            bar.update(task, completed=i, total=n, description=what)

        rows = workflow.profile(cfg, progress=on_model)

    variants = len(cfg.variants()) > 1
    columns = ["model", *(["variant"] if variants else []), "params (M)", "backbone (M)", "head (M)", "decoder (M)",
               "GMACs", "head GMACs"]
    table = [[workflow.describe_row(r), *([workflow.describe_variant(r)] if variants else []),
              f"{r.params_total / 1e6:.3f}", f"{r.params_backbone / 1e6:.3f}", f"{r.params_head / 1e6:.3f}", f"{r.params_decoder / 1e6:.3f}", f"{r.gmacs_total:.2f}",
              f"{r.gmacs_head:.2f}"] for r in rows]
    if cfg.latency:
        columns += ["ms median", "ms p90", "images/s"]
        for line, r in zip(table, rows):
            line += [f"{r.latency_ms_median:.1f}", f"{r.latency_ms_p90:.1f}", f"{r.images_per_s:.2f}"]
        columns += ["GFLOP/s"]
        for line, r in zip(table, rows):
            line += [f"{r.gflops_per_s:.1f}"]
        if cfg.peak:
            columns += ["% of peak"]
            for line, r in zip(table, rows):
                line += [f"{100 * r.share_of_peak:.1f} (of {r.peak_gflops_per_s:.0f})"]
    output.table(f"ksac profile: {cfg.size}x{cfg.size}, batch {cfg.batch_size}, {rows[0].device}", columns, table)
    output.info(f"wrote {cfg.out}" + (f" and {Path(cfg.out).with_suffix('.md')}" if any(r.head == "ksac" for r in rows) else ""))

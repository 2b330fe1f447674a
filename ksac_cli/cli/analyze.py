"""`ksac analyze`: why, not only how much: scale sweep, effective receptive field, per-rate contribution."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli.cli import options, output
from ksac_cli.config import AnalyzeConfig, parse_floats
from ksac_cli.errors import KsacError

SCALES = ",".join(map(str, AnalyzeConfig.scales))  # 0.5,0.625,...,2.0


def analyze(
    checkpoint: Annotated[Optional[list[Path]], typer.Option("--checkpoint", help="A checkpoint written by ksac train (repeatable).")] = None,
    ablation: Annotated[Optional[Path], typer.Option("--ablation", help="A folder ksac ablate wrote (runs/ablate/<recipe name>): every cell's last.pt, seeds included.")] = None,
    scales: Annotated[str, typer.Option("--scales", help="Factors every val image and its mask are rescaled by, a comma list.")] = SCALES,
    images: Annotated[Optional[int], typer.Option("--images", help="Use the val split's first N images [default: all; with all, scale 1.0 equals ksac eval's mIoU].")] = None,
    erf_images: Annotated[int, typer.Option("--erf-images", help="Val images (drawn with seed 0) averaged in each effective receptive field (0: skip it).")] = AnalyzeConfig.erf_images,
    device: Annotated[Optional[str], typer.Option("--device", help="auto (cuda when present, else cpu), cpu, cuda or cuda:N [default: the run's own].")] = None,
    amp: Annotated[Optional[str], typer.Option("--amp", help="off or bf16 [default: the run's own --amp].")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Evaluation images per batch [default: the run's own].")] = None,
    trust_head_code: options.TrustHeadCode = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for analysis_*.csv and analysis_erf.npz; ksac report --results on it adds the section.")] = Path(AnalyzeConfig.out),
) -> None:
    """Test the paper's reason for KSAC (one kernel sees a pattern at several scales) on trained models:

    (1) scale sweep: mIoU and IoU per object size with every val image and its mask rescaled by each
    --scales factor (single-scale inference); (2) effective receptive field (Luo et al. 2016): |gradient|
    of the head output's centre w.r.t. the input image (whole model) and w.r.t. the backbone's output
    (head alone), with the radii holding 50% and 90% of it; (3) per-rate contribution: mIoU with one
    atrous branch's output zeroed after its BN and ReLU. Then `ksac report` draws the plots and compares
    KSAC with ASPP over seeds.

    Each model's results are saved as soon as it is done (in --out/.analysis_parts, and the CSV files and
    .npz rewritten with every model finished so far): killed, run the same command again and it skips
    the models done with the same checkpoint and settings, saying how many; a changed checkpoint or flag
    recomputes that model.
    """
    factors = parse_floats(scales, "--scales")
    if any(f <= 0 for f in factors):
        raise KsacError(f"--scales: {scales!r} holds a factor <= 0; every factor must be positive (e.g. {SCALES})")
    cfg = AnalyzeConfig(factors, images, erf_images, device, amp, batch_size, str(out), trust_head_code)
    cfg.validate()
    if bool(checkpoint) == (ablation is not None):
        raise KsacError("give --checkpoint (repeatable) or --ablation <folder>, one of the two")
    paths = checkpoint or sorted(ablation.glob("*/checkpoints/last.pt"))
    if not paths:
        raise KsacError(f"--ablation {ablation}: no <cell>/checkpoints/last.pt in it; give the folder `ksac ablate` "
                        f"wrote (runs/ablate/<recipe name>)")
    for path in paths:
        if not path.is_file():
            raise KsacError(f"checkpoint {path} does not exist")
    options.folder_can_be_made(out, "--out")  # before any model is analysed; made once the inputs are read
    from ksac_cli.workflows import analyze as workflow  # torch: imported once the flags are known to be good

    with output.progress() as bar:
        files = workflow.analyze(paths, cfg, _display(bar, len(paths)))
    output.info("wrote " + ", ".join(str(p) for p in files.values()) + f"; next: ksac report --results {out}")


def _display(bar, total: int):
    """The event handler: the progress bar over models (skipped ones counted as finished), a line per model."""
    task = bar.add_task("analysing", total=total)

    def event(kind: str, data: dict) -> None:
        if kind == "skipped":
            output.info(f"skipped {data['count']} of {data['total']} models: already analysed with the same "
                        f"checkpoint and settings (in {data['folder']})")
        elif kind == "checkpoint":
            bar.update(task, completed=data["done"])
            output.info(f"[{data['index']}/{data['total']}] {data['path']}")
        elif kind == "step":
            bar.update(task, description=data["what"])

    return event

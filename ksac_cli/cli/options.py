"""Option aliases shared by several commands (one spelling, one help text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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

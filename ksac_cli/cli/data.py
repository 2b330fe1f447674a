"""`ksac data synth` and `ksac data check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli.cli import options, output
from ksac_cli.config import DataConfig, SyntheticConfig, from_dict
from ksac_cli.errors import KsacError

CHECK_FOLDER = "results/"  # where `ksac data check` writes its report without --out (never the current folder)

app = typer.Typer(help="Make the built-in dataset, or check a dataset's files.", no_args_is_help=True)


@app.command("synth")
def synth(
    out: Annotated[Optional[Path], typer.Option("--out", help="The FOLDER to write the dataset into [default: a cache folder under $KSAC_HOME or ~/.cache/ksac, per setting].")] = None,
    train: Annotated[int, typer.Option("--train", help="Training images.")] = 600,
    val: Annotated[int, typer.Option("--val", help="Validation images.")] = 100,
    size: Annotated[int, typer.Option("--size", help="Image side in pixels.")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Seed; the same settings give the same bytes.")] = 0,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Processes [default: the CPU count, at most 8].")] = None,
    figure: Annotated[Optional[Path], typer.Option("--figure", help="Also write a PNG of the first 4 training images above their masks.")] = None,
) -> None:
    """Write the built-in dataset in the PASCAL VOC layout: 5 shape classes (disc, square, triangle, ring,
    cross) + background, told apart by outline only (every object has a texture from one distribution),
    objects from 6 px to 95% of the side (small, medium and large all common), on cluttered background.
    Deterministic: the same settings give the same bytes, whatever --workers. Defaults: 600 train and
    100 val images of 256x256, seed 0 (what ksac train uses with no options). The design and its reasons:
    the docstring of ksac_cli/data/synthetic.py.
    """
    cfg = _from_flags(SyntheticConfig, {"train": train, "val": val, "size": size, "seed": seed}, "synth")
    if out is not None:
        options.writable_folder(out, "--out")
    if figure is not None:
        options.writable_folder(figure.parent, "--figure")
    from ksac_cli.workflows import data as workflow  # numpy, PIL and the readers: imported on use

    folder, seconds, reused = workflow.data_synth(cfg, out, workers, figure)
    verb = "reused" if reused else f"wrote in {seconds:.1f} s"
    output.info(f"{verb}: {folder} ({train} train + {val} val images of {size}x{size}, seed {seed})"
                + (f"; figure {figure}" if figure else ""))


@app.command("check")
def check(
    dataset: Annotated[str, typer.Option("--dataset", help="synthetic, voc, ade20k, cityscapes or folder.")] = "synthetic",
    data_root: Annotated[Optional[str], typer.Option("--data-root", help="Folder of the dataset (synthetic: the cache folder of the default settings).")] = None,
    split: Annotated[str, typer.Option("--split", help="Split to check.")] = "train",
    out: Annotated[Optional[str], typer.Option("--out", help="The JSON report FILE to write; an existing folder, or a path ending in '/', means the file data-check-<dataset>-<split>.json inside it [default: that file in results/, the folder of the toolkit's other results].")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Processes reading the files (0: this process).")] = 0,
) -> None:
    """Read every sample of a split once; report counts, image sizes, class pixel frequencies and object
    sizes (connected components per class: small < 32x32 px, medium < 96x96, large), and every problem
    with its file: missing image or mask, unreadable or truncated image, mask not single-channel/palette,
    labels outside the classes and 255, image and mask of different sizes. Exit 1 when there are problems.

    --dataset folder reads: classes.txt (one name per line), images/<id>.jpg|png, masks/<id>.png (class
    indices, 255 ignore) and optional <split>.txt lists of ids.
    """
    cfg = _from_flags(DataConfig, {"dataset": dataset, "data_root": data_root}, "data")
    if workers < 0:
        raise KsacError(f"--workers: {workers} must be >= 0 (0: this process)")
    if dataset != "synthetic" and data_root is not None and not Path(data_root).is_dir():  # before the readers load
        raise KsacError(f"--data-root: {data_root} is not a folder; expected the root of the {dataset} dataset")
    path = options.output_file(out or CHECK_FOLDER, "--out", f"data-check-{dataset}-{split}.json")
    options.writable_folder(path.parent, "--out")
    from ksac_cli.workflows import data as workflow  # the readers (torch): imported on use

    with output.progress() as bar:
        task = bar.add_task("checking", total=None)
        report, path = workflow.data_check(cfg, split, path, workers,
                                            on_start=lambda n: bar.update(task, total=n),
                                            on_sample=lambda n: bar.advance(task, n))
    _show_check(report, path)


def _show_check(report: dict, path: Path) -> None:
    """The check's class table and file, then every problem (exit 1) or 'no problems found'."""
    output.table(f"{report['dataset']} {report['split']}: {report['readable']}/{report['samples']} samples readable, "
                 f"sizes {', '.join(list(report['image_sizes'])[:3])}",
                 ["class", "pixels (%)", "small", "medium", "large"],
                 [[c, f"{100 * f:.2f}", *(report["objects"].get(c, {}).get(b, "") for b in ("small", "medium", "large"))]
                  for c, f in report["class_pixel_frequency"].items()])
    output.info(f"wrote {path}")
    if report["problems"]:
        for p in report["problems"]:
            output.error(f"{p['path']}: {p['problem']}")
        output.error(f"{len(report['problems'])} problems in {report['dataset']} {report['split']}")
        raise typer.Exit(1)
    output.info("no problems found")


def _from_flags(cls: type, values: dict, where: str):
    """`from_dict` for a command whose every value is a flag: errors name the flag ('--data-root: ...'),
    as recipe-taking commands do (`config.blame`), not the config key ('data.data_root: ...')."""
    try:
        return from_dict(cls, values, where)
    except KsacError as e:
        key, _, rest = str(e).partition(": ")
        name = key.removeprefix(where + ".")
        if name not in values:
            raise
        raise KsacError(f"--{name.replace('_', '-')}: {rest}") from None

"""`ksac eval`: metrics of a checkpoint on a split, with multi-scale + flip inference if asked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli import launch
from ksac_cli.cli import options, output
from ksac_cli.config import RunConfig, parse_floats, to_dict
from ksac_cli.config.load import checkpoint_config, resolve_eval_config
from ksac_cli.errors import KsacError
from ksac_cli.workflows import preflight


@options.takes(options.EVAL)
def evaluate(
    overrides: dict,
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A checkpoint written by ksac train (last.pt or best.pt); its config is the run's, and the flags below override it.")],
    out: Annotated[Optional[str], typer.Option("--out", help="The eval.json FILE to write, confusion.csv/.png and eval_images.npz beside it; " + options.FILE_OR_FOLDER.format(name="eval.json") + " [default: eval.json in the checkpoint's run directory].")] = None,
    save_predictions: Annotated[Optional[Path], typer.Option("--save-predictions", help="Write <id>.png (palette PNG of class indices, original size) and <id>_overlay.jpg per image into this FOLDER.")] = None,
    trust_head_code: options.TrustHeadCode = False,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the config evaluated as YAML (the checkpoint's, with the flags applied), every value that is not the schema default marked with where it came from (# checkpoint, # flag --split), and exit: nothing is run or written.")] = False,
) -> None:
    """Evaluate a checkpoint: mIoU, per-class IoU, pixel accuracy, mean class accuracy, frequency-weighted
    IoU and IoU per object size (small < 32x32 px, medium < 96x96, large), written to eval.json as fractions.

    Conventions: ONE confusion matrix accumulated over the whole split (not a mean of per-image IoUs);
    pixels labelled 255 are ignored; a class absent from both the ground truth and the predictions is left
    out of the mean. Multi-scale inference sums the softmax probabilities over scales (and flips).
    """
    if "scales" in overrides.get("eval", {}):  # checked before the checkpoint is read
        overrides["eval"]["scales"] = parse_floats(overrides["eval"]["scales"], "--scales")
    if not checkpoint.is_file():
        raise KsacError(f"checkpoint {checkpoint} does not exist")
    if print_config:
        return _print_config(checkpoint, overrides)
    if out is not None:
        out = options.output_file(out, "--out", "eval.json")
        options.writable_folder(out.parent, "--out")
    if save_predictions is not None:
        options.writable_folder(save_predictions, "--save-predictions")
    preflight.check_eval(checkpoint, overrides)
    from ksac_cli.workflows import evaluate as workflow  # torch: imported once the flags are known to be good

    record = workflow.evaluate_checkpoint(checkpoint, overrides, out, save_predictions,
                                          output.EvalLog().event if launch.is_main_process() else None,
                                          trust_head_code)
    if launch.is_main_process():
        _show(record, save_predictions)


def _print_config(checkpoint: Path, overrides: dict) -> None:
    """--print-config: the checkpoint's config with the flags applied, each value not the default marked."""
    cfg = resolve_eval_config(checkpoint_config(checkpoint), overrides, where=f"{checkpoint} (config)")
    flags = options.given(overrides, options.EVAL)
    if "eval.output_stride" in flags:  # it sets the model's too
        flags["model.output_stride"] = flags["eval.output_stride"]
    output.print_config("ksac eval", to_dict(cfg), to_dict(RunConfig()), flags, "checkpoint")


def _show(record: dict, save_predictions: Optional[Path]) -> None:
    """The eval record as a table of IoUs, then what was skipped and written."""
    output.table(
        f"ksac eval: {record['dataset']} {record['split']}, {record['images']} images, OS{record['output_stride']}, "
        f"scales {','.join(map(str, record['scales']))}{' + flip' if record['flip'] else ''}",
        ["class", "IoU (%)"],
        [[name, "-" if iou is None else f"{100 * iou:.2f}"] for name, iou in record["per_class_iou"].items()]
        + [["mIoU", f"{100 * record['miou']:.2f}"], ["pixel accuracy", f"{100 * record['pixel_accuracy']:.2f}"],
           ["mean class accuracy", f"{100 * record['mean_class_accuracy']:.2f}"], ["fw IoU", f"{100 * record['fw_iou']:.2f}"]]
        + [[f"IoU {b} objects", "-" if v is None else f"{100 * v:.2f}"] for b, v in record["size_iou"].items()],
    )
    if record["skipped_bad_samples"]:
        output.warning(f"skipped {record['skipped_bad_samples']} bad samples (--skip-bad)")
    output.info("wrote " + ", ".join(record["files"]) + (f" and predictions in {save_predictions}" if save_predictions else ""))

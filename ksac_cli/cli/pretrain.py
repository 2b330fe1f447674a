"""`ksac pretrain`: train a recipe's backbone once with the neutral head, write its weights and provenance."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli.cli import options, output
from ksac_cli.cli.train import FORCE_HELP, RESUME_HELP, TrainDisplay
from ksac_cli.config import RunConfig, resolve_run_config, to_dict
from ksac_cli.config.load import run_dir_of
from ksac_cli.config.schema import check_pretraining_setup


@options.takes(options.MODEL, options.RUN, options.TRAIN_ONLY)
def pretrain(
    overrides: dict,
    recipe: Annotated[Optional[str], typer.Option("--recipe", help="A YAML recipe, or the name of one in recipes/ [default: pretrain_quick, the quick recipe's backbone]. " + options.RECIPE_RULE)] = None,
    out: Annotated[Optional[str], typer.Option("--out", help="The backbone's state-dict FILE to write; its provenance goes beside it with the suffix .json; " + options.FILE_OR_FOLDER.format(name="backbone.pt") + " [default: <run-dir>/backbone.pt].")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help=RESUME_HELP)] = True,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    print_config: options.PrintConfig = False,
) -> None:
    """Pretrain a backbone for fine-tuning: the recipe's model with the NEUTRAL head (pointwise, a 1x1
    projection: neither ASPP nor KSAC), on built-in data drawn with a seed that ksac train/ablate never use.

    It is an ordinary training run (resumable, checkpoints every --save-every iterations, evaluations on
    its own held-out val split), followed by the export of the final backbone: --out holds the state dict
    (load it with --backbone-weights), --out with .json the provenance (this command, the resolved config,
    generator version and seed, iterations, time, held-out mIoU, sha256). The quick recipe's shipped
    backbone (ksac_cli/weights/quick_backbone.pt) was made by:
    ksac pretrain --recipe pretrain_quick --out ksac_cli/weights/quick_backbone.pt
    """
    cfg = resolve_run_config(recipe, overrides, default="pretrain_quick")
    if print_config:
        output.print_config("ksac pretrain", to_dict(cfg), to_dict(RunConfig()),
                            options.given(overrides, options.MODEL, options.RUN, options.TRAIN_ONLY), "recipe")
        return
    check_pretraining_setup(cfg)  # before anything is created
    if cfg.train.run_dir is None:  # its folder stays runs/<recipe name> (ksac train's runs are named by model)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, run_dir=str(Path("runs") / cfg.name)))
    options.writable_folder(run_dir_of(cfg), "--run-dir")
    target = run_dir_of(cfg) / "backbone.pt"
    if out:
        target = options.output_file(out, "--out", "backbone.pt")
        options.writable_folder(target.parent, "--out")
    options.writable_file(target, "--out" if out else "--run-dir")
    from ksac_cli.workflows import pretrain as workflow  # torch: imported once the flags are known to be good

    output.info(f"pretraining the {cfg.model.backbone} backbone with {cfg.model.label()} on {cfg.data.dataset} "
                f"(seed {cfg.data.synthetic.seed}) for {cfg.train.iters} iterations")
    with TrainDisplay(cfg.train.iters) as display:
        record = workflow.pretrain(cfg, target, sys.argv[1:], resume=resume, force=force, on_event=display.event)
    output.info(f"done: held-out mIoU {100 * (record['heldout_miou'] or float('nan')):.2f}%; backbone "
                f"{target} (sha256 {record['sha256'][:12]}...), provenance {target.with_suffix('.json')}")

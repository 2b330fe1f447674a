"""`ksac pretrain`: train a recipe's backbone once with the neutral head, write its weights and provenance."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli.cli import options, output
from ksac_cli.cli.train import TrainDisplay
from ksac_cli.config import resolve_run_config


@options.takes(options.MODEL, options.RUN, options.TRAIN_ONLY)
def pretrain(
    overrides: dict,
    recipe: Annotated[Optional[str], typer.Option("--recipe", help="YAML recipe, or the name of one in recipes/ [default: pretrain_quick, the quick recipe's backbone].")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="The backbone's state-dict FILE to write; its provenance goes beside it with the suffix .json [default: <run-dir>/backbone.pt].")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from <run-dir>/checkpoints/last.pt when it exists.")] = True,
    force: Annotated[bool, typer.Option("--force", help="With --no-resume: delete the run directory's checkpoints and logs and start over.")] = False,
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
    cfg = resolve_run_config(recipe or "pretrain_quick", overrides)
    from ksac_cli.workflows import pretrain as workflow  # torch: imported once the flags are known to be good

    target = out or Path(cfg.train.run_dir or Path("runs") / cfg.name) / "backbone.pt"
    output.info(f"pretraining the {cfg.model.backbone} backbone with {cfg.model.label()} on {cfg.data.dataset} "
                f"(seed {cfg.data.synthetic.seed}) for {cfg.train.iters} iterations")
    with TrainDisplay(cfg.train.iters) as display:
        record = workflow.pretrain(cfg, target, sys.argv[1:], resume=resume, force=force, on_event=display.event)
    output.info(f"done: held-out mIoU {100 * (record['heldout_miou'] or float('nan')):.2f}%; backbone "
                f"{target} (sha256 {record['sha256'][:12]}...), provenance {target.with_suffix('.json')}")

"""`ksac train`: a recipe plus flags -> a run directory with checkpoints, logs and evaluations."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ksac_cli import launch
from ksac_cli.cli import options, output
from ksac_cli.config import RunConfig, resolve_run_config, to_dict
from ksac_cli.config.load import attribute, run_dir_of, starting_line
from ksac_cli.errors import KsacError
from ksac_cli.workflows import preflight

RESUME_HELP = ("Continue from <run-dir>/checkpoints/last.pt when it exists; --no-resume refuses to touch a run "
               "directory that holds a run (add --force to start over).")
FORCE_HELP = ("Start over: delete the previous run in the run directory (checkpoints, logs, evaluations, samples, "
              "TensorBoard events) and train from iteration 0, saying so.")


@options.takes(options.MODEL, options.RUN, options.TRAIN_ONLY)
def train(
    overrides: dict,
    recipe: Annotated[Optional[str], typer.Option("--recipe", help="A YAML recipe, or the name of one in recipes/ (e.g. quick, voc_mobilenetv2_ksac) [default: quick]. " + options.RECIPE_RULE)] = None,
    nproc_per_node: Annotated[Optional[int], typer.Option("--nproc-per-node", help="Launch this many processes on this machine with torchrun (DistributedDataParallel; gloo on CPU, nccl on CUDA). --batch-size stays the global batch.")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help=RESUME_HELP)] = True,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    print_config: options.PrintConfig = False,
) -> None:
    """Train a DeepLab model with an ASPP or KSAC head: SGD with momentum (or AdamW), poly learning rate,
    cross-entropy ignoring label 255, evaluation on the val split (every --eval-every iterations and at the end).

    With no options it trains the quick recipe on the built-in dataset. The run directory holds
    config.yaml, metrics.jsonl, eval.jsonl, checkpoints/last.pt and checkpoints/best.pt, all written
    atomically. Running the same command again resumes from last.pt (--force starts over); Ctrl-C saves a
    checkpoint and exits 130.
    """
    options.check_optional_packages(overrides)
    cfg = resolve_run_config(recipe, overrides)
    if print_config:
        return _print_config(cfg, overrides)
    # what can be refused without torch is refused here, before a launch and before the imports (seconds)
    launching = nproc_per_node is not None and nproc_per_node > 1 and not launch.is_distributed()
    preflight.check_train(cfg, resume, force, nproc_per_node if launching else launch.world()[1])
    if launching:
        raise typer.Exit(launch.launch_torchrun(nproc_per_node, options.argv_without("--nproc-per-node")))
    options.writable_folder(run_dir_of(cfg), "--run-dir")
    from ksac_cli.workflows import train as workflow  # torch: imported once the flags are known to be good

    main_process = launch.is_main_process()
    if main_process:
        _starting(cfg, workflow.time_estimate(cfg))
    with TrainDisplay(cfg.train.iters, enabled=main_process) as display:
        try:
            summary = workflow.train(cfg, resume=resume, force=force, on_event=display.event)
        except KsacError as e:  # 'model.backbone_weights: ...' -> named by its flag or its recipe
            raise attribute(e, recipe, overrides) from None
    if main_process:
        _done(summary)


def _print_config(cfg: RunConfig, overrides: dict) -> None:
    """--print-config: the resolved config, each value not the default marked, and where training starts from."""
    output.print_config("ksac train", to_dict(cfg), to_dict(RunConfig()),
                        options.given(overrides, options.MODEL, options.RUN, options.TRAIN_ONLY), "recipe")
    output.info(f"# {starting_line(cfg)}")


def _starting(cfg: RunConfig, estimate: dict) -> None:
    """What trains, how long it should take here (training and evaluation), and what the backbone starts from;
    a warning when the evaluation will take much longer than the training."""
    train_s, eval_s = estimate["train"], estimate["eval"]
    output.info(f"training {cfg.model.label()} OS{cfg.model.output_stride} on {cfg.data.dataset} for "
                f"{cfg.train.iters} iterations: about {output.duration(train_s + eval_s)} on this machine (training "
                f"{output.duration(train_s)}, evaluation of {estimate['images']} images {output.duration(eval_s)}; "
                f"from one timed step and evaluation batch)")
    if eval_s > max(2 * train_s, 60):
        output.warning(f"the evaluation ({output.duration(eval_s)}) will take much longer than the training "
                       f"({output.duration(train_s)}); --eval-images N evaluates on the first N val images")
    output.info(starting_line(cfg))


def _done(summary: dict) -> None:
    """The run's summary in one line: best and final mIoU, iterations, time, skipped samples, where."""
    final = summary["final"] or {}
    bad = f", skipped {summary['skipped_bad_samples']} bad samples" if summary["skipped_bad_samples"] else ""
    output.info(f"done: best mIoU {100 * summary['best_miou']:.2f}% at iteration {summary['best_iteration']}, "
                f"final mIoU {100 * final.get('miou', float('nan')):.2f}%, {summary['trained_now']} iterations in "
                f"{summary['seconds']:.0f} s{bad}; files in {summary['run_dir']}")


class TrainDisplay(output.BarDisplay):
    """A rich progress bar with loss, lr, images/s and ETA on a terminal; plain log lines otherwise."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        super().__init__(enabled and sys.stderr.isatty(),
                         "loss {task.fields[loss]:.4f} lr {task.fields[lr]:.5f} {task.fields[ips]:.1f} img/s")
        self.total = total
        self.enabled = enabled
        self.task = self.bar.add_task("train", total=total, loss=float("nan"), lr=0.0, ips=0.0)
        self.eval_log = output.EvalLog()

    def event(self, kind: str, data: dict) -> None:
        if not self.enabled:
            return
        if kind == "restart":
            output.info(f"--force: removed the previous run in {data['run_dir']}; starting over")
        elif kind == "resume":
            output.info(f"resuming from {data['path']} at iteration {data['iteration']}")
            self.bar.update(self.task, completed=data["iteration"])
        elif kind == "step":
            self.bar.update(self.task, completed=data["iteration"], loss=data["loss"], lr=data["lr"])
        elif kind == "log":
            self.bar.update(self.task, ips=data["images_per_s"] or 0.0)
            if not self.live:
                output.info(f"iter {data['iteration']}/{self.total} loss {data['loss']:.4f} lr {data['lr']:.5f} "
                            f"{data['images_per_s'] or 0:.1f} images/s")
        elif kind in ("eval_start", "eval_batch"):
            self.eval_log.event(kind, data)
        elif kind == "eval":
            output.info(f"eval at iteration {data['iteration']}: mIoU {100 * data['miou']:.2f}%, pixel accuracy "
                        f"{100 * data['pixel_accuracy']:.2f}%")

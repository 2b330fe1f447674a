"""`ksac ablate`: the paper's experiments as one command: a grid of train runs, one CSV row per cell."""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from ksac_cli import io
from ksac_cli.cli import options, output
from ksac_cli.config import AblationGrid, RunConfig, resolve_ablation, to_dict
from ksac_cli.config.load import starting_line
from ksac_cli.config.schema import ABLATION_CSV, RESULTS, SEEDS_WITHOUT_BUDGET
from ksac_cli.errors import KsacError


@options.takes(options.GRID, options.ABLATE, options.RUN)
def ablate(
    overrides: dict,
    recipe: Annotated[Optional[str], typer.Option("--recipe", help="Base recipe of every cell: a YAML file or the name of one in recipes/ [default: quick]. " + options.RECIPE_RULE)] = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", help="Seeds per cell: the recipe's seed, seed+1, ...; wins over --budget [default: as many as --budget allows; " + f"{SEEDS_WITHOUT_BUDGET}, the fewest that give a confidence interval worth reading, with --budget none].")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="FOLDER of the cells' run directories [default: runs/ablate/<recipe name>].")] = None,
    results: Annotated[Path, typer.Option("--results", help=f"The results FOLDER: the rows are added to {ABLATION_CSV} in it (one per cell and seed; safe to share between processes), where ksac report --results reads them.")] = Path(RESULTS),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the grid with each model's parameters and MACs at once, then time a training step and an evaluation batch per distinct model (the seeds of a cell share them; untimed warm-up calls per backbone and crop) and print the time estimate; train nothing.")] = False,
    emit_jobs: Annotated[Optional[str], typer.Option("--emit-jobs", help="Write a shell script (this FILE) with one self-contained command per cell (for SLURM arrays, Kubernetes jobs, ...) and run nothing; the cells add their rows to the same --results folder safely.")] = None,
    cell: Annotated[Optional[str], typer.Option("--cell", help="Run only the cell of this name (what --emit-jobs writes).")] = None,
    print_config: options.PrintConfig = False,
) -> None:
    """Run a grid of training runs over --head x --rates x --backbone x --merge x --output-stride x seeds
    (default: aspp and ksac x rates 6,12,18 and 6,12,18,24, on the quick recipe and the built-in dataset).

    The number of seeds is fixed before the first cell trains (--seeds, else --budget), and the cells run
    seed-major (every cell of the first seed, then of the next), so a grid stopped early holds complete pairs.
    Every cell is a normal `ksac train` run + evaluation in its own run directory, so each is resumable and
    inspectable. Run the same command again: finished cells are skipped, interrupted ones resume from their
    checkpoint, failed ones are retried. A failing cell is recorded with its error and the others go on;
    the exit code is 1 if any cell failed. Then `ksac report` makes the tables and plots.
    """
    if seeds is not None:
        overrides.setdefault("grid", {})["seeds"] = seeds
    options.check_optional_packages(overrides)
    base, grid = resolve_ablation(recipe, overrides)
    if print_config:
        return _print_config(base, grid, overrides)
    folder = out or Path("runs") / "ablate" / base.name  # the grid folder
    emit_jobs = _check_outputs(results, folder, emit_jobs, dry_run)
    from ksac_cli.workflows import ablate as workflow  # torch: imported once the flags are known to be good

    # the seeds per cell, fixed and said before anything trains; a budget's plan is recorded in the folder when run
    record = emit_jobs is None and not dry_run
    plan = workflow.plan_seeds(base, grid, folder, progress=on_setting, record=record)
    output.info(plan.summary() + (f"; recorded in {folder / 'seeds.json'}" if record and plan.rule == "budget" else ""))
    for line in plan.power(grid.paired_std, grid.claim_points):  # what the seeds can resolve
        output.info(line)
    grid = dataclasses.replace(grid, seeds=plan.seeds)
    cells = workflow.ablate_cells(base, grid, folder, only=cell)
    for line in dict.fromkeys(starting_line(c.cfg) for c in cells):  # one per distinct start, in grid order
        output.info(line)
    if emit_jobs is not None:
        argv = options.argv_without("--emit-jobs")
        if plan.rule != "--seeds":  # every job runs the seeds planned here, whenever it starts
            argv += ["--seeds", str(plan.seeds)]
        lines = workflow.emit_jobs(emit_jobs, cells, argv)
        output.info(f"wrote {emit_jobs}: {lines} cell commands (run each line as one job; then ksac report)")
    elif dry_run:
        dry_run_plan(cells, folder, base, grid, plan)
    else:
        _run(cells, grid, folder, results / ABLATION_CSV)


def _print_config(base: RunConfig, grid: AblationGrid, overrides: dict) -> None:
    flags = options.given(overrides, options.GRID, options.ABLATE, options.RUN, own={"grid.seeds": "--seeds"})
    output.print_config("ksac ablate", {**to_dict(base), "grid": to_dict(grid)},
                        {**to_dict(RunConfig()), "grid": to_dict(AblationGrid())}, flags, "recipe")


def _check_outputs(results: Path, folder: Path, emit_jobs: Optional[str], dry_run: bool):
    """The --emit-jobs file or None; each folder that will be written (--results, the grid `folder`) checked first."""
    if results.is_file():
        raise KsacError(f"--results {results}: a file; --results is the FOLDER the rows go into (as "
                        f"{results / ABLATION_CSV}, which ksac report --results reads): give a folder")
    if emit_jobs is not None:
        emit_jobs = options.output_file(emit_jobs, "--emit-jobs")
        options.writable_folder(emit_jobs.parent, "--emit-jobs")
    elif not dry_run:
        options.writable_folder(results, "--results")
        options.folder_can_be_made(folder, "--out")  # made once the heads are known to build (`_run`)
    return emit_jobs


LOG = "ablate.log"  # in the grid folder: every cell's lines (start, skip, resume, evaluations, result)


def _run(cells, grid: AblationGrid, folder: Path, csv_path: Path) -> None:
    """Run the cells with a progress bar (each cell's lines go to <grid folder>/ablate.log), then the answer:
    the newest run's KSAC - ASPP verdicts against the paper's claim; exit 1 if any cell failed."""
    from ksac_cli.workflows import ablate as workflow
    from ksac_cli.workflows.report import answer

    options.writable_folder(folder, "--out")
    output.info(f"{len(cells)} cells; each cell's progress and result: {folder / LOG}")
    started = time.perf_counter()
    with AblateDisplay(len(cells), folder / LOG) as display:
        rows = workflow.ablate(cells, grid, folder, csv_path, on_event=display.event)
    failed = [r for r in rows if r.status != "ok"]
    elsewhere = csv_path.parent != Path(RESULTS)  # ksac report reads results/ unless told
    output.info(f"{len(rows)} cells run, {len(cells) - len(rows)} skipped, {len(failed)} failed in "
                f"{(time.perf_counter() - started) / 60:.1f} min; rows in {csv_path}; next: ksac report"
                + (f" --results {csv_path.parent}" if elsewhere else ""))
    made = answer(csv_path, folder.name)
    if made is not None:
        output.frame_table(*made, number="+.2f")
    for r in failed:
        output.error(f"cell {r.cell} failed: {r.error}")
    if failed:
        raise typer.Exit(1)


def on_setting(i: int, n: int, name: str) -> None:
    output.info(f"timing one training step and evaluation batch {i + 1}/{n}: {name}")


def dry_run_plan(cells, folder: Path, base: RunConfig, grid: AblationGrid, plan) -> None:
    """--dry-run: the grid with each model's parameters and MACs at once (counted, nothing trained), then one
    timed training step and evaluation batch per distinct model (the seeds of a cell share them; a budget's
    plan timed them already), a line each, then the estimate (experiments/plan.py)."""
    from ksac_cli.workflows import ablate as workflow

    settings = workflow.dry_run_settings(cells)
    measures = workflow.dry_run_measures(settings)
    rows = []
    for c in cells:
        m = measures[c.name]
        rows.append([c.name, f"{m['params_total'] / 1e6:.3f}", f"{m['params_head'] / 1e6:.3f}",
                     f"{m['gmacs_total']:.2f}", f"{m['gmacs_head']:.2f}"])
    output.table(f"ksac ablate --dry-run: {len(cells)} cells in {folder} (crop {base.data.crop_size}, "
                 f"{base.train.iters} iterations each)", ["cell", "params (M)", "head (M)", "GMACs", "head GMACs"], rows)

    costs = workflow.dry_run_costs(settings, progress=on_setting, known=plan.times)
    rows = [[c.name, len(c.shares), f"{c.times['step']:.2f}", f"{c.train.batch_size / c.times['step']:.1f}",
             f"{c.times['eval_batch']:.2f}", "yes" if any(c.shares) else "no"] for c in costs]
    output.table(f"measured: a training step (batch {base.train.batch_size}) and an evaluation batch, by model",
                 ["model", "seeds", "s/step", "images/s", "s/eval batch", "shares backbone"], rows)
    total_s, once_s, parts = workflow.estimate(costs)  # every cell of the grid: all its seed rounds
    output.info(f"estimated time {(total_s + once_s) / 60:.1f} min (" + ", ".join(
        f"{k} {v / 60:.1f}" for k, v in parts.items()) + f", val features once {once_s / 60:.1f} min); nothing was run")
    if plan.round_s is None:  # --seeds: the budget a half-width needs, from the rounds just timed
        timed = dataclasses.replace(plan, round_s=total_s / plan.seeds, once_s=once_s)
        for line in timed.power(grid.paired_std, grid.claim_points):
            output.info(line)


class AblateDisplay(output.BarDisplay):
    """Cells done / total and the current cell's iterations, with ETA, on a terminal; every cell's lines
    (start, skip, resume, evaluations, result) in the log file `log`; a cell's restart, retry or failure also
    as a warning."""

    def __init__(self, cells: int, log: Path) -> None:
        super().__init__(sys.stderr.isatty())
        self.cells = cells
        self.log_path = log
        self.grid_task = self.bar.add_task("cells", total=cells)
        self.cell_task = None
        self.eval_log = output.EvalLog(indent="  ", write=self.log)  # to the log file, not the screen

    def log(self, line: str, warn: bool = False) -> None:
        io.append_text(self.log_path, f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {line}\n")
        if warn:
            output.warning(line.strip())

    def event(self, kind: str, data: dict) -> None:
        if kind == "cell_start":
            if self.cell_task is not None:
                self.bar.remove_task(self.cell_task)
            self.cell_task = self.bar.add_task(data["cell"], total=data["iters"])
            self.log(f"cell {data['index'] + 1}/{self.cells}: {data['cell']}")
        elif kind == "cell_restart":
            self.log(f"  {data['cell']}: its config changed since it ran ({data['why']}); starting it over", warn=True)
        elif kind == "cell_skip":
            self.log(f"  skipped {data['cell']}: {data['why']}")
            self.bar.advance(self.grid_task)
        elif kind == "cell_done":
            r = data["row"]
            self.log(f"  {r.cell}: {r.status}" + (f", mIoU {100 * r.miou:.2f}%" if r.miou is not None else ""))
            self.bar.advance(self.grid_task)
        elif kind in ("cell_retry", "cell_failed"):
            self.log(f"  {data['cell']} {'failed; retrying once' if kind == 'cell_retry' else 'failed again'}: "
                     f"{data['error']}", warn=True)
        elif kind == "resume":
            self.log(f"  resuming from {data['path']} at iteration {data['iteration']}")
        elif kind == "step":  # a cell's run: after its cell_start (experiments/runner.py)
            self.bar.update(self.cell_task, completed=data["iteration"])
        elif kind in ("eval_start", "eval_batch"):
            self.eval_log.event(kind, data)
        elif kind == "eval":
            self.log(f"  eval at iteration {data['iteration']}: mIoU {100 * data['miou']:.2f}%")

"""`ksac ablate`: the grid of train runs, its dry-run plan and its job script."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ksac_cli import io
from ksac_cli.config import RunConfig
from ksac_cli.env import resolve_device
from ksac_cli.errors import Interrupted, KsacError
from ksac_cli.workflows.train import EventFn, train


def ablate_cells(base: RunConfig, grid, out: str | Path | None = None, only: str | None = None):
    """(grid name, output folder, cells) of an ablation over `base` (recipe + train flags); `only`
    keeps the one cell of that name."""
    from ksac_cli.experiments.grid import expand

    out = Path(out) if out else Path("runs") / "ablate" / base.name
    cells = expand(base, grid, out)
    if only is not None:
        names = [c.name for c in cells]
        if only not in names:
            raise KsacError(f"--cell: {only!r} is not a cell of this grid; its cells: {', '.join(names)}")
        cells = [c for c in cells if c.name == only]
    return out.name, out, cells


def measure_cell(cell, num_classes: int) -> dict:
    """Parameters and MACs (fvcore, batch 1) of the cell's model at its training crop."""
    from ksac_cli.measure.profile import profile_model

    cfg = cell.cfg
    model_cfg = dataclasses.replace(cfg.model, num_classes=num_classes, pretrained=False, backbone_weights=None)
    row = profile_model(model_cfg, cfg.data.crop_size, 1, resolve_device("cpu"), latency=False, runs=1, warmup=0)[0]
    return {"params_total": row.params_total, "params_head": row.params_head, "gmacs_total": row.gmacs_total,
            "gmacs_head": row.gmacs_head}


def plan_cell(cell) -> dict:
    """`ksac ablate --dry-run`: measures of the cell's model and an estimate of its training time from
    a short measured step (measure/step.py), evaluation not included."""
    from ksac_cli.data import build_dataset
    from ksac_cli.measure.step import seconds_per_step

    cfg = cell.cfg
    num_classes = build_dataset(cfg.data, cfg.data.val_split, train=False).num_classes
    model_cfg = dataclasses.replace(cfg.model, num_classes=num_classes, pretrained=False, backbone_weights=None)
    step = seconds_per_step(model_cfg, cfg.train, cfg.data.crop_size, resolve_device(cfg.train.device))
    return {**measure_cell(cell, num_classes), "seconds_per_step": step, "estimate_s": step * cfg.train.iters}


def emit_jobs(path: str | Path, cells, argv: list[str]) -> int:
    """Write a bash script with one line per cell: `cd <here> && ksac ablate <the same arguments> --cell <name>`.
    Returns the number of lines."""
    import os
    import shlex

    here = shlex.quote(os.getcwd())
    base = " ".join(shlex.quote(a) for a in argv)
    lines = [f"cd {here} && ksac {base} --cell {shlex.quote(cell.name)}" for cell in cells]
    io.write_text(path, "#!/usr/bin/env bash\n# One ksac ablate cell per line (ksac ablate --emit-jobs); e.g. a SLURM array:\n"
                        "#   sbatch --array=1-%d --wrap 'bash -c \"$(sed -n \"$((SLURM_ARRAY_TASK_ID+3))p\" %s)\"'\n"
                        % (len(lines), path) + "\n".join(lines) + "\n")
    return len(lines)


def ablate(base: RunConfig, grid, out: str | Path | None = None, csv_path: str | Path = "results/ablation.csv",
           on_event: EventFn | None = None, only: str | None = None) -> list:
    """Run every cell not done yet (each a normal train run + eval in its own run directory), retrying a
    failing cell once; append one row per cell to `csv_path`. Returns the rows of this invocation
    (failed ones included) and skips cells done before or running in another process."""
    from ksac_cli.env import provenance
    from ksac_cli.experiments import cells as cell_state

    emit = on_event or (lambda kind, data: None)
    grid_name, out, cells = ablate_cells(base, grid, out, only)
    csv_path = Path(csv_path)
    rows = []
    emit("grid", {"cells": len(cells), "out": str(out)})
    for index, cell in enumerate(cells):
        emit("cell_start", {"index": index, "cell": cell.name, "iters": cell.cfg.train.iters})
        if cell_state.is_done(cell, grid_name, io.read_csv_rows(csv_path)):
            emit("cell_skip", {"cell": cell.name, "why": "done"})
            continue
        with io.file_lock(Path(cell.cfg.train.run_dir) / "cell", blocking=False) as held:
            if not held:
                emit("cell_skip", {"cell": cell.name, "why": "running in another process"})
                continue
            if cell_state.is_done(cell, grid_name, io.read_csv_rows(csv_path)):  # finished while we looked
                emit("cell_skip", {"cell": cell.name, "why": "done"})
                continue
            summary, error = None, ""
            changed = changed_since_checkpoint(cell)
            if changed:
                emit("cell_restart", {"cell": cell.name, "why": "; ".join(changed)})
            for attempt in (1, 2):
                try:
                    summary = train(cell.cfg, resume=not changed, force=bool(changed), on_event=on_event)
                    break
                except Interrupted:
                    raise  # stops the grid; the cell resumes next time
                except KsacError as e:
                    error = str(e)
                except Exception as e:  # a crashing cell must not stop the others
                    error = f"{type(e).__name__}: {e}"
                emit("cell_retry" if attempt == 1 else "cell_failed", {"cell": cell.name, "error": error})
            measures = measure_cell(cell, summary["num_classes"]) if summary is not None else {}
            device = resolve_device(cell.cfg.train.device)
            row = cell_state.make_row(cell, grid_name, measures, summary, "" if summary else error, provenance(device))
            cell_state.record(csv_path, row, cell)
            rows.append(row)
            emit("cell_done", {"cell": cell.name, "row": row})
    return rows


def changed_since_checkpoint(cell) -> list[str]:
    """What differs between the cell's config and the checkpoint in its run directory (its recipe or flags
    changed since it ran): such a cell starts over there. Its earlier row stays in the CSV, and the report
    keeps the newest row of a cell and seed."""
    from ksac_cli.config import from_dict, to_dict
    from ksac_cli.engine import rundir
    from ksac_cli.engine.checkpoint import load_checkpoint

    last = rundir.last_checkpoint(Path(cell.cfg.train.run_dir))
    if not last.exists():
        return []
    saved = to_dict(from_dict(RunConfig, load_checkpoint(last)["config"], where=f"{last} (config)"))
    current = to_dict(cell.cfg)
    current["model"]["num_classes"] = saved["model"]["num_classes"]  # the dataset's, known once a run starts
    return rundir.resume_conflicts(saved, current)

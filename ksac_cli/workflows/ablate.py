"""`ksac ablate`: the grid of train runs, its dry-run plan and its job script."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ksac_cli import io
from ksac_cli.config import RunConfig
from ksac_cli.env import resolve_device
from ksac_cli.errors import KsacError
from ksac_cli.models import build_model
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
    a short measured step (one warm-up step, then the median of three), evaluation not included."""
    import statistics

    import torch

    from ksac_cli.data import build_dataset
    from ksac_cli.engine.train import build_optimizer, train_step

    cfg = cell.cfg
    num_classes = build_dataset(cfg.data, cfg.data.val_split, train=False).num_classes
    measures = measure_cell(cell, num_classes)
    device = resolve_device(cfg.train.device)
    model_cfg = dataclasses.replace(cfg.model, num_classes=num_classes, pretrained=False, backbone_weights=None)
    model = build_model(model_cfg).to(device).train()
    optimizer = build_optimizer(model, cfg.train)
    images = torch.randn(cfg.train.batch_size, 3, cfg.data.crop_size, cfg.data.crop_size, device=device)
    masks = torch.randint(0, num_classes, images.shape[:1] + images.shape[2:], device=device)
    times = []
    for _ in range(4):
        start = time.perf_counter()
        train_step(model, images, masks, optimizer, None, cfg.train.amp)
        times.append(time.perf_counter() - start)
    step = statistics.median(times[1:])
    return {**measures, "seconds_per_step": step, "estimate_s": step * cfg.train.iters}


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
            for attempt in (1, 2):
                try:
                    summary = train(cell.cfg, resume=True, on_event=on_event)
                    break
                except KsacError as e:
                    if getattr(e, "exit_code", 2) in (130, 143):
                        raise  # an interruption stops the grid; the cell resumes next time
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

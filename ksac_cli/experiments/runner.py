"""Run an ablation's cells one after the other: skip a cell that is done or that another process holds (its
lock), start over a cell whose config changed since its checkpoint, retry a failing cell once, and append
its row. How a cell trains and how its model is measured are given (`workflows.ablate` passes
`workflows.train.train` and its `measure_cell`): experiments/ runs cells, it does not build models."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ksac_cli import io, signals
from ksac_cli.errors import Interrupted, KsacError
from ksac_cli.experiments import cells as cell_state
from ksac_cli.experiments.grid import Cell
from ksac_cli.experiments.rows import AblationRow
from ksac_cli.machine import device_name, provenance, resolve_amp, resolve_device

if TYPE_CHECKING:
    from ksac_cli.engine.run import EventFn  # torch: only for the annotations

TrainFn = Callable[..., dict]  # (cfg, resume=, force=, on_event=) -> the run's summary (workflows.train.train)
MeasureFn = Callable[[Cell, int], dict]  # (cell, number of classes) -> params_* and gmacs_* of its model


@dataclasses.dataclass(frozen=True)
class Recording:
    """Where this invocation's rows go and what each of them records besides its cell."""

    grid: str  # the grid's name (its folder's)
    csv_path: Path
    margin: float  # grid.delta
    claim: float  # grid.claim_points
    code: dict  # the code when the invocation started (machine.code_state)


def run_cells(cells: list[Cell], recording: Recording, train: TrainFn, measure: MeasureFn,
              on_event: EventFn | None = None) -> list[AblationRow]:
    """Run every cell not done yet, in order; returns the rows of this invocation (failed ones included).
    Events: cell_start, cell_skip, cell_restart, cell_retry, cell_failed, cell_done, and the runs' own."""
    emit = on_event or (lambda kind, data: None)
    rows = []
    for index, cell in enumerate(cells):
        signals.check()  # a stop signal ends the grid between cells too (ksac_cli/signals.py)
        emit("cell_start", {"index": index, "cell": cell.name, "iters": cell.cfg.train.iters})
        row = run_cell(cell, recording, train, measure, emit)
        if row is not None:
            rows.append(row)
    return rows


def run_cell(cell: Cell, recording: Recording, train: TrainFn, measure: MeasureFn, emit: EventFn) -> AblationRow | None:
    """Train and evaluate one cell under its lock and record its row; None when it was skipped (done, or
    running in another process)."""
    device = resolve_device(cell.cfg.train.device)
    run = {"grid": recording.grid, "git_commit": recording.code["git_commit"],  # rows.RUN: the run of its row
           "amp": resolve_amp(cell.cfg.train.amp, device), "device": device_name(device)}
    if cell_state.is_done(cell, run, io.read_csv_rows(recording.csv_path)):
        emit("cell_skip", {"cell": cell.name, "why": "done"})
        return None
    with io.file_lock(Path(cell.cfg.train.run_dir) / "cell", blocking=False) as held:
        # looked at again under the lock: another process may have finished it while we looked
        if not held or cell_state.is_done(cell, run, io.read_csv_rows(recording.csv_path)):
            emit("cell_skip", {"cell": cell.name, "why": "done" if held else "running in another process"})
            return None
        changed = cell_state.changed_since_checkpoint(cell)
        if changed:
            emit("cell_restart", {"cell": cell.name, "why": "; ".join(changed)})
        summary, error = train_with_retry(cell, changed, train, emit)
        measures = measure(cell, summary["num_classes"]) if summary is not None else {}
        row = cell_state.make_row(cell, recording.grid, measures, summary, error, provenance(device, recording.code),
                                  margin=recording.margin, claim=recording.claim, amp=run["amp"])
        cell_state.record(recording.csv_path, row, cell)
        emit("cell_done", {"cell": cell.name, "row": row})
        return row


def train_with_retry(cell: Cell, changed: list[str], train: TrainFn, emit: EventFn) -> tuple[dict | None, str]:
    """(summary, '') of the cell's run, tried twice, or (None, the last failure's message) when both attempts
    failed. A cell whose config `changed` starts over (--force). An interruption, or any exception after a stop
    signal, stops the grid; any other is the cell's failure."""
    for attempt in (1, 2):
        try:
            return train(cell.cfg, resume=not changed, force=bool(changed), on_event=emit), ""
        except Interrupted:
            raise
        except Exception as e:  # a crashing cell must not stop the others; a stop signal must
            if signals.received() is not None:  # what it broke (a DataLoader worker) is the stop, not the cell's
                raise signals.stopped(f"in cell {cell.name}") from None
            error = str(e) if isinstance(e, KsacError) else f"{type(e).__name__}: {e}"
        emit("cell_retry" if attempt == 1 else "cell_failed", {"cell": cell.name, "error": error})
    return None, error

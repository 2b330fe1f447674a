"""A cell's state on disk and its result row. A cell is done when an ok row of THIS run (rows.RUN: grid,
commit, amp, device; not the committed reference rows, made elsewhere) is in the CSV for it and its run
directory holds result.json (written last); it starts over when its config changed since its checkpoint."""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

from ksac_cli import heads, io, weights
from ksac_cli.config import RunConfig, format_rates, from_dict, short_hash, to_dict
from ksac_cli.experiments.grid import Cell
from ksac_cli.experiments.rows import COLUMNS, KEY, RUN, AblationRow


def config_hash(cfg: RunConfig) -> str:
    """The hash of what the cell computes: where it writes (its run directory) and whether it also logs to
    TensorBoard are left out, so adding that setting left every earlier row's hash as it was. The starting
    backbone is in it by content (its sha256), not by name: a new backbone file retrains every cell."""
    config = to_dict(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, run_dir=None)))
    del config["train"]["tensorboard"]
    if cfg.model.backbone_weights:  # the file's content stands for it, wherever it lies
        config["model"]["backbone_weights"] = "sha256:" + backbone_sha256(cfg)
    return short_hash(config)


def backbone_sha256(cfg: RunConfig) -> str:
    """The sha256 of the cell's starting backbone file ('' when it starts from random weights)."""
    return weights.file_sha256(weights.resolve(cfg.model.backbone_weights)) if cfg.model.backbone_weights else ""


def result_path(cell: Cell) -> Path:
    return Path(cell.cfg.train.run_dir) / "result.json"


def is_done(cell: Cell, run: dict[str, str], csv_rows: list[dict]) -> bool:
    """Whether the cell has an ok row of `run` (its rows.RUN values, as this invocation records them)."""
    key = (run["grid"], cell.name, str(cell.seed), config_hash(cell.cfg), *(run[k] for k in RUN[1:]))
    in_csv = any(tuple(r.get(k, "") for k in KEY) == key and r.get("status") == "ok" for r in csv_rows)
    return in_csv and result_path(cell).is_file()


def make_row(cell: Cell, grid: str, measures: dict, summary: dict | None, error: str,
             provenance: dict, margin: float = 0.3, claim: float | None = 0.6, amp: str = "") -> AblationRow:
    """The cell's row; `amp`: the resolved amp it runs in, recorded where the run left no summary (a failed
    cell's row keeps its run's key)."""
    cfg, final = cell.cfg, (summary or {}).get("final") or {}
    size = final.get("size_iou") or {}
    ok = summary is not None and bool(final)
    log = io.read_jsonl(Path(cfg.train.run_dir) / "metrics.jsonl")
    speeds = [r["images_per_s"] for r in log if r.get("images_per_s")]  # training throughput per log interval
    return AblationRow(
        grid=grid, cell=cell.name, seed=cell.seed, stream=cell.stream, config_hash=config_hash(cfg), status="ok" if ok else "failed",
        backbone=cfg.model.backbone, head=cfg.model.head, merge=heads.spec(cfg.model.head).value("merge", cfg.model.merge),
        rates=format_rates(cfg.model.rates), output_stride=cfg.model.output_stride, decoder=cfg.model.decoder,
        backbone_weights=weights.start_name(cfg.model.pretrained, cfg.model.backbone_weights),
        backbone_sha256=backbone_sha256(cfg),
        freeze_backbone=cfg.train.freeze_backbone, dataset=cfg.data.dataset, iterations=cfg.train.iters, crop_size=cfg.data.crop_size,
        batch_size=cfg.train.batch_size, amp=(summary or {}).get("amp", amp), params_total=measures.get("params_total"),
        params_head=measures.get("params_head"), gmacs_total=measures.get("gmacs_total"),
        gmacs_head=measures.get("gmacs_head"), miou=final.get("miou"), pixel_accuracy=final.get("pixel_accuracy"),
        iou_small=size.get("small"), iou_medium=size.get("medium"), iou_large=size.get("large"),
        per_class_iou=json.dumps(final.get("per_class_iou") or {}),
        best_miou=(summary or {}).get("best_miou") if ok else None,
        best_iteration=(summary or {}).get("best_iteration") if ok else None,
        train_seconds=round(summary["train_seconds"], 1) if ok and summary.get("train_seconds") else None,
        images_per_s=statistics.median(speeds) if speeds else None, run_dir=str(cfg.train.run_dir),
        margin=margin, claim=claim, error=error, **provenance)


def record(csv_path: Path, row: AblationRow, cell: Cell) -> None:
    """Put the row in the CSV (locked, atomic, no duplicates), then mark the cell done."""
    io.upsert_csv_row(csv_path, dataclasses.asdict(row), COLUMNS, KEY)
    if row.status == "ok":
        io.write_json(result_path(cell), dataclasses.asdict(row))


def changed_since_checkpoint(cell: Cell) -> list[str]:
    """What differs between the cell's config and the checkpoint in its run directory: such a cell starts over
    there (its earlier row stays in the CSV). The cell's config is resolved as the engine ran the checkpoint's
    first (engine.run.as_run: --amp auto resolved), so like is compared with like."""
    from ksac_cli.engine import rundir
    from ksac_cli.engine.checkpoint import load_checkpoint
    from ksac_cli.engine.run import as_run
    from ksac_cli.machine import resolve_device

    last = rundir.last_checkpoint(Path(cell.cfg.train.run_dir))
    if not last.exists():
        return []
    saved = to_dict(from_dict(RunConfig, load_checkpoint(last)["config"], where=f"{last} (config)"))
    current = to_dict(as_run(cell.cfg, resolve_device(cell.cfg.train.device)))
    current["model"]["num_classes"] = saved["model"]["num_classes"]  # the dataset's, known once a run starts
    return rundir.resume_conflicts(saved, current)

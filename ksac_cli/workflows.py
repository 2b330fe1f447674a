"""The library API the CLI is thin over: one function per command, plain arguments and configs in,
files and rows out. Nothing here prints or imports the CLI libraries; progress goes through callbacks."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ksac_cli import io
from ksac_cli.config import ModelConfig, ProfileConfig, RunConfig, dump_yaml, load_run_config, to_dict
from ksac_cli.env import resolve_device
from ksac_cli.errors import KsacError
from ksac_cli.models import build_model, check_names, warn_large_rates

ProgressFn = Callable[[int, int, str], None]


def profile(cfg: ProfileConfig, progress: ProgressFn | None = None) -> list:
    """Profile every model of `cfg`'s grids; write `cfg.out` (CSV) and the reduction table beside it (.md)."""
    from ksac_cli.measure.profile import COLUMNS, profile_model  # torch-heavy; imported on use
    from ksac_cli.report.params import reduction_table

    models = cfg.models()
    for model_cfg in models:  # fail on any bad name before spending time on the others
        check_names(model_cfg)
    device = resolve_device(cfg.device)
    warned: set[tuple[int, int]] = set()
    rows = []
    for i, model_cfg in enumerate(models):
        if progress:
            progress(i, len(models), describe(model_cfg))
        new = tuple(r for r in model_cfg.rates if (r, model_cfg.output_stride) not in warned)
        warned.update((r, model_cfg.output_stride) for r in new)
        warn_large_rates(new, cfg.size, model_cfg.output_stride)
        rows.append(profile_model(model_cfg, cfg.size, cfg.batch_size, device, cfg.latency, cfg.runs, cfg.warmup))
    if progress:
        progress(len(models), len(models), "done")
    out = Path(cfg.out)
    io.write_csv(out, [dataclasses.asdict(r) for r in rows], COLUMNS)
    table = reduction_table(pd.DataFrame([dataclasses.asdict(r) for r in rows]))
    if len(table):
        io.write_text(out.with_suffix(".md"), reductions_markdown(table, cfg))
    return rows


def reductions_markdown(table: pd.DataFrame, cfg: ProfileConfig) -> str:
    from ksac_cli.report.tables import to_markdown

    return (
        f"# KSAC vs ASPP: whole-model parameters\n\n"
        f"Input {cfg.size}x{cfg.size}, {cfg.num_classes} classes. MACs from fvcore (one multiply-add = one "
        f"flop), batch 1. Made by `ksac profile`, rows in `{Path(cfg.out).name}`.\n\n" + to_markdown(table)
    )


def describe(cfg: ModelConfig) -> str:
    merge = f" ({cfg.merge})" if cfg.head == "ksac" else ""
    decoder = "V3+" if cfg.decoder else "V3"
    return (f"{cfg.backbone} {cfg.head}{merge} rates {','.join(map(str, cfg.rates))} "
            f"OS{cfg.output_stride} {decoder}")


def describe_row(row) -> str:
    """The same label as `describe`, from a profile row."""
    merge = f" ({row.merge})" if row.head == "ksac" else ""
    return (f"{row.backbone} {row.head}{merge} rates {row.rates} OS{row.output_stride} "
            f"{'V3+' if row.decoder else 'V3'}")


# ---- ksac train / ksac eval ------------------------------------------------------------------------

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
EventFn = Callable[[str, dict], None]


def recipe_path(recipe: str | Path | None) -> Path:
    """A recipe file, or the name of one shipped in recipes/ ('quick' -> recipes/quick.yaml); default quick."""
    if recipe is None:
        return RECIPES / "quick.yaml"
    path = Path(recipe)
    if not path.exists() and not path.suffix and (RECIPES / f"{recipe}.yaml").exists():
        return RECIPES / f"{recipe}.yaml"
    return path


def resolve_run_config(recipe: str | Path | None, overrides: dict) -> RunConfig:
    """Recipe + flags, validated, with the class count taken from the dataset."""
    cfg = load_run_config(recipe_path(recipe), overrides)
    check_names(cfg.model)
    return cfg


def train(cfg: RunConfig, resume: bool = True, force: bool = False, on_event: EventFn | None = None) -> dict:
    """Train `cfg` in its run directory (resuming from checkpoints/last.pt when present); returns the
    summary: best mIoU and iteration, final metrics, seconds, run directory, skipped bad samples."""
    from ksac_cli.engine import distributed, rundir
    from ksac_cli.engine.checkpoint import load_checkpoint, load_model_state, set_rng_state
    from ksac_cli.engine.loaders import checked, eval_loader, train_loader
    from ksac_cli.engine.train import Progress, build_optimizer, build_scheduler, fit

    emit = on_event or (lambda kind, data: None)
    dist = distributed.init(cfg.train.device)
    device = dist.device
    run_dir = Path(cfg.train.run_dir or Path("runs") / cfg.name)
    resuming = rundir.prepare(run_dir, resume, force) if dist.is_main else rundir.last_checkpoint(run_dir).exists() and resume
    dist.barrier()
    if cfg.train.batch_size % dist.world_size:
        raise KsacError(f"--batch-size {cfg.train.batch_size} does not split evenly across {dist.world_size} "
                        f"processes; pick a multiple of {dist.world_size}")
    seed_everything(cfg.train.seed, cfg.train.deterministic)

    train_set, val_set = datasets_for(cfg)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_classes=train_set.num_classes))
    warn_large_rates(cfg.model.rates, cfg.data.crop_size, cfg.model.output_stride)
    config_dict = to_dict(cfg)

    model = build_model(cfg.model).to(device)
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train)
    scaler = amp_scaler(cfg.train.amp, device)
    progress = Progress(iteration=0, samples_seen=0)
    if resuming:
        path = rundir.last_checkpoint(run_dir)
        state = load_checkpoint(path, for_resume=True)
        changed = rundir.config_differences(state["config"], config_dict)
        changed = [c for c in changed if not c.startswith(("data.workers", "data.skip_bad"))]
        if changed:
            raise KsacError(f"{run_dir} holds a run of another configuration ({'; '.join(changed)}); use another "
                            f"--run-dir, or --no-resume --force to start over there")
        load_model_state(model, state["model"], path)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        progress = Progress(state["iteration"], state["samples_seen"], state["best"]["miou"], state["best"]["iteration"])
        if dist.is_main:  # drop log lines written after that checkpoint: they will be written again
            for name in ("metrics.jsonl", "eval.jsonl"):
                io.truncate_jsonl(run_dir / name, lambda r: r.get("iteration", 0) <= progress.iteration)
        emit("resume", {"iteration": progress.iteration, "path": str(path)})
    if dist.is_main:
        io.write_text(run_dir / "config.yaml", dump_yaml(cfg))
    model = dist.wrap(model, cfg.train)

    bad: list = []
    loader = train_loader(train_set, cfg.train.batch_size, cfg.data.workers, cfg.train.seed, progress.samples_seen,
                          dist.rank, dist.world_size, pin_memory=device.type == "cuda")
    batches = checked(iter(loader), cfg.data.skip_bad, bad)
    val_loader = eval_loader(val_set, cfg.eval.batch_size, cfg.data.workers, dist.rank, dist.world_size)

    def evaluate_fn(iteration: int) -> dict:
        emit("eval_start", {"iteration": iteration, "images": len(val_set)})
        result = evaluate_split(_unwrap(model), val_loader, val_set, device, cfg, bad, dist)
        return metrics_record(result.metrics(), val_set.classes)

    start = time.perf_counter()
    done_before = progress.iteration
    if progress.iteration < cfg.train.iters:
        progress = fit(model, optimizer, scheduler, scaler, batches, cfg.train, device, run_dir, progress,
                       config_dict, evaluate_fn, on_event, is_main=dist.is_main,
                       reduce_fn=dist.mean if dist.world_size > 1 else None)
    seconds = time.perf_counter() - start
    evals = io.read_jsonl(run_dir / "eval.jsonl")
    summary = {"run_dir": str(run_dir), "iterations": progress.iteration, "trained_now": progress.iteration - done_before,
               "best_miou": progress.best_miou, "best_iteration": progress.best_iteration, "seconds": seconds,
               "train_seconds": sum(r.get("seconds") or 0.0 for r in io.read_jsonl(run_dir / "metrics.jsonl")),
               "num_classes": cfg.model.num_classes,
               "final": evals[-1] if evals else None, "skipped_bad_samples": len(bad)}
    dist.close()
    return summary


def seed_everything(seed: int, deterministic: bool) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def amp_scaler(amp: str, device):
    """fp16 needs CUDA and a gradient scaler; bf16 and off need none."""
    import torch

    if amp == "fp16":
        if device.type != "cuda":
            raise KsacError("--amp fp16 needs a CUDA device; on the CPU use --amp bf16 or --amp off")
        return torch.amp.GradScaler("cuda")
    return None


def datasets_for(cfg: RunConfig):
    """(training set with augmentation, evaluation set without) of `cfg.data`."""
    from ksac_cli.data import build_dataset

    return build_dataset(cfg.data, cfg.data.split, train=True), build_dataset(cfg.data, cfg.data.val_split, train=False)


def evaluate_split(model, loader, dataset, device, cfg: RunConfig, bad: list, dist=None, on_batch=None):
    """Evaluate `model` on a (sharded) loader; confusion matrices are summed across ranks."""
    from ksac_cli.data import object_size_masks
    from ksac_cli.engine.evaluate import evaluate
    from ksac_cli.engine.loaders import checked

    batches = checked(iter(loader), cfg.data.skip_bad, bad)
    result = evaluate(model, batches, dataset.num_classes, device,
                      size_masks=lambda m: object_size_masks(m, dataset.object_classes),
                      scales=cfg.eval.scales, flip=cfg.eval.flip, amp=cfg.train.amp, on_batch=on_batch)
    if dist is not None and dist.active:
        for cm in [result.confusion, *result.by_size.values()]:
            dist.sum_(cm.mat)
    return result


def metrics_record(metrics: dict, classes: list[str]) -> dict:
    """The eval.json / eval.jsonl record: per-class IoU keyed by class name; undefined values (NaN) as null."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return None if isinstance(value, float) and value != value else value

    return clean({**metrics, "per_class_iou": dict(zip(classes, metrics["per_class_iou"]))})


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def is_distributed() -> bool:
    import os

    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch_torchrun(nproc: int, argv: list[str]) -> int:
    """`ksac train --nproc-per-node N ...` -> `torchrun --nproc-per-node N -m ksac_cli train ...`; its exit code."""
    import subprocess
    import sys

    if nproc < 1:
        raise KsacError(f"--nproc-per-node: {nproc} must be a positive integer")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "ksac_cli", *argv]
    return subprocess.call(cmd)


def is_main_process() -> bool:
    """False on ranks other than 0 of a torchrun launch: only rank 0 prints and writes."""
    import os

    return int(os.environ.get("RANK", "0")) == 0


def evaluate_checkpoint(checkpoint: str | Path, overrides: dict, out: str | Path | None = None,
                        save_predictions: str | Path | None = None, on_event: EventFn | None = None) -> dict:
    """Evaluate a checkpoint; write eval.json, confusion.csv and confusion.png; returns the eval record.

    `overrides` is nested like a RunConfig ({"data": {...}, "eval": {...}, "model": {"output_stride": 8},
    "train": {"device": ...}}); the dataset and its root default to the checkpoint's config."""
    import numpy as np
    import torch

    from ksac_cli.config import from_dict, merged
    from ksac_cli.data import build_dataset
    from ksac_cli.engine.checkpoint import load_checkpoint, load_model_state
    from ksac_cli.engine.loaders import eval_loader
    from ksac_cli.report.plots import confusion_heatmap

    path = Path(checkpoint)
    state = load_checkpoint(path)
    saved = state["config"]
    saved = merged(saved, {"model": {"pretrained": False, "backbone_weights": None}})  # weights come from the checkpoint
    dataset_changed = (overrides.get("data", {}).get("dataset") not in (None, saved.get("data", {}).get("dataset")))
    if dataset_changed and overrides["data"].get("data_root") is None:
        saved["data"]["data_root"] = None
    cfg: RunConfig = from_dict(RunConfig, merged(saved, overrides), where=f"{path} (config)")
    if cfg.eval.output_stride is not None:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, output_stride=cfg.eval.output_stride))
    from ksac_cli.engine import distributed

    dist = distributed.init(cfg.train.device)
    dist_device = dist.device
    split = cfg.data.val_split
    dataset = build_dataset(cfg.data, split, train=False)
    if dataset.num_classes != cfg.model.num_classes:
        raise KsacError(f"{path} predicts {cfg.model.num_classes} classes but dataset {cfg.data.dataset!r} has "
                        f"{dataset.num_classes}; evaluate it on the dataset it was trained on")
    model = build_model(cfg.model)
    load_model_state(model, state["model"], path)
    model.to(dist_device).eval()

    writer = None
    if save_predictions is not None:
        from ksac_cli.data.transforms import MEAN, STD
        from ksac_cli.engine.predictions import PredictionWriter

        writer = PredictionWriter(save_predictions, dataset.palette, MEAN, STD)
    loader = eval_loader(dataset, cfg.eval.batch_size, cfg.data.workers, dist.rank, dist.world_size)
    bad: list = []
    emit = on_event or (lambda kind, data: None)
    emit("eval_start", {"images": len(dataset)})

    def on_batch(images, masks, pred, ids) -> None:
        if writer is not None:
            for image, p, m, sample_id in zip(images, pred, masks, ids):
                writer.write(image, p, m, sample_id)
        emit("eval_batch", {"images": images.shape[0]})

    result = evaluate_split(model, loader, dataset, dist_device, cfg, bad, dist, on_batch=on_batch)
    images = torch.tensor(float(result.images))
    result.images = int(dist.sum_(images).item())
    record = {"checkpoint": str(path), "iteration": state["iteration"], "dataset": cfg.data.dataset, "split": split,
              "output_stride": cfg.model.output_stride, "scales": list(cfg.eval.scales), "flip": cfg.eval.flip,
              "images": result.images, "skipped_bad_samples": len(bad),
              **metrics_record(result.metrics(), dataset.classes)}
    out = Path(out) if out else (path.parent.parent if path.parent.name == "checkpoints" else path.parent) / "eval.json"
    record["files"] = [str(out), str(out.with_name("confusion.csv")), str(out.with_name("confusion.png"))]
    if not dist.is_main:
        dist.close()
        return record
    io.write_json(out, {k: v for k, v in record.items() if k != "files"})
    matrix = result.confusion.mat.cpu().numpy()
    io.write_csv(out.with_name("confusion.csv"),
                 [{"true_class": c, **{p: int(v) for p, v in zip(dataset.classes, row)}}
                  for c, row in zip(dataset.classes, matrix)], ["true_class", *dataset.classes])
    confusion_heatmap(np.asarray(matrix), dataset.classes, out.with_name("confusion.png"),
                      title=f"{cfg.data.dataset} {split}: mIoU {100 * record['miou']:.2f}%")
    dist.close()
    return record



def report(results: str | Path = "results", out: str | Path | None = None):
    """Tables and plots from what `results` holds (see report/document.py); returns the Report."""
    from ksac_cli.report.document import make_report

    results = Path(results)
    if not results.is_dir():
        raise KsacError(f"--results: folder {results} does not exist; run ksac ablate or ksac profile first")
    return make_report(results, Path(out) if out else results)


# ---- ksac ablate ---------------------------------------------------------------------------------------


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
    for cell in cells:
        check_names(cell.cfg.model)
    return out.name, out, cells


def measure_cell(cell, num_classes: int) -> dict:
    """Parameters and MACs (fvcore, batch 1) of the cell's model at its training crop."""
    from ksac_cli.measure.profile import profile_model

    cfg = cell.cfg
    model_cfg = dataclasses.replace(cfg.model, num_classes=num_classes, pretrained=False, backbone_weights=None)
    row = profile_model(model_cfg, cfg.data.crop_size, 1, resolve_device("cpu"), latency=False, runs=1, warmup=0)
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


# ---- ksac data -----------------------------------------------------------------------------------------


def data_synth(out, train: int, val: int, size: int, seed: int, workers: int | None = None, figure=None):
    """Make (or reuse) the built-in dataset, and optionally a PNG of a few images and masks;
    returns (folder, seconds, reused)."""
    from ksac_cli.config import SyntheticConfig, from_dict
    from ksac_cli.data import synthetic

    cfg = from_dict(SyntheticConfig, {"train": train, "val": val, "size": size, "seed": seed}, "synth")
    start = time.perf_counter()
    if out is None:
        folder = synthetic.ensure_synthetic(cfg, None, workers)
        reused = time.perf_counter() - start < 0.5
    else:
        reused = synthetic.is_complete(Path(out), synthetic.settings_of(cfg))
        folder = synthetic.generate(Path(out), cfg, workers)
    seconds = time.perf_counter() - start
    if figure is not None:
        synthetic.figure(folder, figure, min(4, train))
    return folder, seconds, reused


def data_check(dataset: str, data_root, split: str, out=None, workers: int = 0, on_start=None, on_sample=None):
    """Check every sample of a split; write the JSON report; returns (report, path)."""
    from ksac_cli.config import DataConfig, from_dict
    from ksac_cli.data import DATASETS, dataset_root
    from ksac_cli.data.check import check_dataset

    cfg = from_dict(DataConfig, {"dataset": dataset, "data_root": data_root}, "data")
    ds = DATASETS[cfg.dataset](dataset_root(cfg), split)
    ds.name = cfg.dataset
    if on_start:
        on_start(len(ds))
    report = check_dataset(ds, workers, progress=on_sample)
    path = Path(out) if out else Path(f"data-check-{dataset}-{split}.json")
    io.write_json(path, report)
    return report, path

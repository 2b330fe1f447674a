"""`ksac analyze`: trained checkpoints -> the scale sweep, the effective receptive fields and the per-rate
contributions, as CSV files (+ the ERF maps as .npz) that `ksac report` turns into plots and a section.

Model by model: each finished model is saved as one part in <out>/.analysis_parts/, keyed by what it computes,
and the four files are rebuilt from the parts after each; a rerun skips a model whose part has the same key
(docs/reliability.md)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ksac_cli import heads, io, weights
from ksac_cli.config import AnalyzeConfig, format_rates, short_hash
from ksac_cli.errors import KsacError
from ksac_cli.report import analysis as report  # the files and their columns, as `ksac report` reads them

if TYPE_CHECKING:
    from ksac_cli.engine.run import EventFn  # torch: only for the annotations

PARTS = ".analysis_parts"  # one finished model per part, in the --out folder


def analyze(checkpoints: Sequence[str | Path], cfg: AnalyzeConfig = AnalyzeConfig(),
            on_event: EventFn | None = None) -> dict[str, Path]:
    """Analyse each checkpoint (an existing file) on its own val split (its first `cfg.images` images; None: all);
    write the CSV files (and ERF maps) into `cfg.out`, one model at a time (the module's docstring: parts, keys,
    skipping). `cfg.amp` and `cfg.batch_size` default to the run's own, so with every image scale 1.0 gives
    `ksac eval`'s mIoU exactly. Events: "skipped" {count, total, folder} once when models are already done, then
    "checkpoint" {index, total, path, done: models finished so far} and "step" {what} for each model analysed."""
    emit = on_event or (lambda kind, data: None)
    out = Path(cfg.out)
    settings = {"scales": [float(f) for f in cfg.scales], "images": cfg.images, "erf_images": cfg.erf_images,
                "device": cfg.device, "amp": cfg.amp, "batch_size": cfg.batch_size,
                "rows": 4}  # 4: config_hash and run_date as the ablation's row has them (older parts are made again)
    parts = [part_of(Path(c), out, settings) for c in checkpoints]
    if out.is_dir():  # remove the temporary files of writes a kill interrupted (io.atomic_open: .<name>.*.tmp)
        with io.file_lock(out / PARTS):
            for tmp in [*out.glob(".analysis_*.tmp"), *(out / PARTS).glob(".*.tmp")]:
                tmp.unlink(missing_ok=True)
    results = [load_part(part) for part in parts]  # None: still to do
    skipped = sum(r is not None for r in results)
    if skipped:
        emit("skipped", {"count": skipped, "total": len(parts), "folder": str(out / PARTS)})
    files = None
    for n, part in enumerate(parts, start=1):
        if results[n - 1] is not None:
            continue
        emit("checkpoint", {"index": n, "total": len(parts), "path": str(part.checkpoint),
                            "done": sum(r is not None for r in results)})
        save_part(part, analyze_one(part.checkpoint, cfg, emit))
        results[n - 1] = load_part(part)  # what a rerun would read: the files do not depend on who computed
        files = assemble(out, [r for r in results if r is not None])
    return files or assemble(out, results)


@dataclass(frozen=True)
class Part:
    """One checkpoint's finished analysis on disk (see the module's docstring)."""
    checkpoint: Path
    key: str  # short hash of the checkpoint's sha256, its run name and the settings
    json: Path  # <out>/.analysis_parts/<run>-<8 hex of the checkpoint's resolved path>.json: rows and key
    npz: Path  # the same name, .npz: the ERF maps


def part_of(path: Path, out: Path, settings: dict) -> Part:
    key = short_hash({"sha256": weights.file_sha256(path), "run": run_name(path), "settings": settings})
    stem = f"{run_name(path)}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
    return Part(path, key, out / PARTS / f"{stem}.json", out / PARTS / f"{stem}.npz")


def load_part(part: Part) -> dict | None:
    """The part's {"scales", "branches", "erf": rows, "maps": {key: (H, W)}}, or None when it is not done
    for these settings (missing, another key, or unreadable: then it is computed again)."""
    import numpy as np

    try:
        record = json.loads(part.json.read_text(encoding="utf-8"))
        if record.get("key") != part.key:
            return None
        with np.load(part.npz) as arrays:
            maps = {name: arrays[name] for name in arrays.files}
        return {"scales": record["scales"], "branches": record["branches"], "erf": record["erf"], "maps": maps}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def save_part(part: Part, result: dict) -> None:
    """The maps, then the rows and key: the JSON, written last, marks the part done. An older JSON is removed
    first, so a kill in between never pairs it with these maps."""
    part.json.unlink(missing_ok=True)
    io.write_npz(part.npz, **result["maps"])
    io.write_json(part.json, {"key": part.key, "checkpoint": str(part.checkpoint),
                              **{kind: result[kind] for kind in ("scales", "branches", "erf")}})


def assemble(out: Path, results: list[dict]) -> dict[str, Path]:
    """The four files from `results` (finished parts, in the order given), under a lock on the folder."""
    files = {"scales": out / report.SCALES_CSV, "branches": out / report.BRANCHES_CSV, "erf": out / report.ERF_CSV}
    with io.file_lock(out / PARTS):
        for kind, columns in zip(files, (report.SCALE_COLUMNS, report.BRANCH_COLUMNS, report.ERF_COLUMNS)):
            io.write_csv(files[kind], [row for r in results for row in r[kind]], columns)
        files["maps"] = out / report.ERF_NPZ
        io.write_npz(files["maps"], **{name: m for r in results for name, m in r["maps"].items()})
    return files


def analyze_one(path: Path, settings: AnalyzeConfig, emit: EventFn) -> dict:
    """The three analyses of one checkpoint: {"scales", "branches", "erf": rows, "maps": {key: (H, W)}}."""
    from ksac_cli.analysis.branches import atrous_branches, silenced
    from ksac_cli.analysis.scales import at_scale
    from ksac_cli.data import build_dataset
    from ksac_cli.machine import resolve_amp, resolve_device
    from ksac_cli.workflows.evaluate import open_checkpoint, trained_model

    overrides = {"train": {"device": settings.device, "amp": settings.amp},
                 "eval": {"batch_size": settings.batch_size}}
    cfg, state = open_checkpoint(path, overrides, settings.trust_head_code, can_name=False)
    dev = resolve_device(cfg.train.device)
    dataset = build_dataset(cfg.data, cfg.data.val_split, train=False)
    model = trained_model(cfg, state, path, dataset.num_classes).to(dev)
    m = cfg.model
    config_hash, run_date = trained_run(state["config"], path)
    ident = {"run": run_name(path), "head": m.head, "merge": heads.spec(m.head).value("merge", m.merge),
             "rates": format_rates(m.rates), "seed": cfg.train.seed, "iteration": state["iteration"],
             "config_hash": config_hash, "run_date": run_date, "amp": resolve_amp(cfg.train.amp, dev)}

    def at(factor: float) -> dict:
        row = at_scale(model, cfg, factor, dev, settings.images)
        emit("step", {"what": f"{ident['run']}: scale {factor:g}"})
        return row

    scale_rows = [{**ident, **at(f)} for f in settings.scales]
    at_one = next((r["miou"] for r in scale_rows if r["scale"] == 1.0), None)
    if at_one is None:
        at_one = at(1.0)["miou"]
    branch_rows = []
    branches = atrous_branches(model.head)
    if branches is None:
        emit("step", {"what": f"{ident['run']}: per-rate contribution skipped (its head's branches are not known)"})
    for branch, rate in zip(branches or (), m.rates):
        with silenced([branch]):
            miou = at(1.0)["miou"]
        branch_rows.append({**ident, "rate": rate, "miou": miou, "miou_all": at_one, "drop": at_one - miou})
    erf_rows, maps = receptive_fields(model, dataset, settings.erf_images, cfg.data.crop_size, dev, ident)
    emit("step", {"what": f"{ident['run']}: receptive fields"})
    return {"scales": scale_rows, "branches": branch_rows, "erf": erf_rows, "maps": maps}


def receptive_fields(model, dataset, images: int, side: int, device, ident: dict) -> tuple[list[dict], dict]:
    """ERF of the whole model (w.r.t. the image, in pixels) and of the head alone (w.r.t. the backbone's
    output, in feature cells) over `images` val images drawn with seed 0, each centre-cropped (or padded
    with the mean colour, 0 after normalisation) to `side` x `side`, the training crop."""
    import numpy as np
    import torch

    from ksac_cli.analysis.erf import effective_receptive_field, mass_radii

    if images < 1:
        return [], {}
    chosen = np.sort(np.random.default_rng(0).choice(len(dataset), size=min(images, len(dataset)), replace=False))
    batch = torch.stack([centre_square(dataset[int(i)][0], side) for i in chosen]).to(device)  # (N, 3, S, S)
    with torch.no_grad():
        features = model.backbone(batch)["out"]  # (N, C, h, w): the head's input; no graph to the image
    parts = {"model": (lambda x: model.head(model.backbone(x)["out"]), batch, "pixels"),
             "head": (model.head, features, "feature cells")}
    rows, maps = [], {}
    for part, (fn, inputs, unit) in parts.items():
        erf = effective_receptive_field(fn, inputs)
        r50, r90 = mass_radii(erf)
        rows.append({**ident, "part": part, "unit": unit, "r50": r50, "r90": r90, "images": len(chosen)})
        maps[f"{ident['run']}/{part}"] = erf.astype(np.float32)
    return rows, maps


def centre_square(image, side: int):
    """(3, H, W) -> (3, side, side): the centre crop, padded with zeros (the mean colour) where smaller."""
    import torch.nn.functional as F

    dh, dw = side - image.shape[-2], side - image.shape[-1]  # < 0: cropped (a negative padding)
    # half of each difference (rounded toward 0) before, the rest (an odd pixel) after
    return F.pad(image, (int(dw / 2), dw - int(dw / 2), int(dh / 2), dh - int(dh / 2)))


def trained_run(saved: dict, path: Path) -> tuple[str, str]:
    """(config_hash, date) of the run as `ksac ablate` wrote them in its row, read from <run>/result.json
    (experiments/cells.record; docs/results.md, "Which analysis rows"). A run ksac ablate did not make: the hash
    of its `saved` config (experiments/cells.config_hash) and no date; ("", "") when neither can be made."""
    from ksac_cli.config import RunConfig, from_dict
    from ksac_cli.experiments.cells import config_hash

    row = path.parent.parent / "result.json"
    try:
        if path.parent.name == "checkpoints" and row.is_file():
            data = json.loads(row.read_text())
            return str(data["config_hash"]), str(data.get("date") or "")
        return config_hash(from_dict(RunConfig, saved, where=f"{path} (config)")), ""
    except (KsacError, OSError, ValueError, KeyError):
        return "", ""


def run_name(path: Path) -> str:
    """The run directory's name of <run>/checkpoints/<file>.pt, else the file's stem."""
    return path.parent.parent.name if path.parent.name == "checkpoints" else path.stem

"""`ksac eval`: a checkpoint's metrics on a split, written as eval.json + confusion matrix + the per-image
matrices (eval_images.npz)."""

from __future__ import annotations

from pathlib import Path

from ksac_cli import heads, io
from ksac_cli.config import RunConfig
from ksac_cli.engine.run import EventFn
from ksac_cli.errors import KsacError
from ksac_cli.models import build_model


def evaluate_checkpoint(checkpoint: str | Path, overrides: dict, out: str | Path | None = None,
                        save_predictions: str | Path | None = None, on_event: EventFn | None = None,
                        trust_head_code: bool = False) -> dict:
    """Evaluate a checkpoint; write eval.json, confusion.csv, confusion.png and eval_images.npz (per-image
    matrices, engine/evidence.py) beside it; returns the eval record.

    `overrides` is nested like a RunConfig ({"data": {...}, "eval": {...}, "model": {"ksac_impl": ...},
    "train": {"device": ...}}); the dataset and its root default to the checkpoint's config."""
    import torch

    from ksac_cli.data import build_dataset
    from ksac_cli.engine import distributed
    from ksac_cli.engine.evaluate import evaluate_split, metrics_record
    from ksac_cli.engine.evidence import EVAL_IMAGES, gather_per_image
    from ksac_cli.engine.loaders import eval_loader, worker_count

    path = Path(checkpoint)
    cfg, state = open_checkpoint(path, overrides, trust_head_code)
    dist = distributed.init(cfg.train.device)
    dataset = build_dataset(cfg.data, cfg.data.val_split, train=False, images=cfg.eval.max_images)
    model = trained_model(cfg, state, path, dataset.num_classes).to(dist.device)
    loader = eval_loader(dataset, cfg.eval.batch_size, worker_count(cfg.data.workers, dist.device, dist.world_size),
                         dist.rank, dist.world_size, pin_memory=dist.device.type == "cuda")
    bad: list = []
    emit = on_event or (lambda kind, data: None)
    emit("eval_start", {"images": len(dataset)})
    on_batch = batch_callback(save_predictions, dataset, emit)
    result = evaluate_split(model, loader, dataset, dist.device, cfg, bad, dist, on_batch=on_batch)
    result.images = int(dist.sum_(torch.tensor(float(result.images))).item())
    record = {"checkpoint": str(path), "iteration": state["iteration"], "dataset": cfg.data.dataset,
              "split": cfg.data.val_split, "output_stride": cfg.model.output_stride,
              "ksac_impl": heads.spec(cfg.model.head).value("ksac_impl", cfg.model.ksac_impl),
              "scales": list(cfg.eval.scales), "flip": cfg.eval.flip,
              "images": result.images, "skipped_bad_samples": len(bad),
              **metrics_record(result.metrics(), dataset.classes)}
    out = Path(out) if out else (path.parent.parent if path.parent.name == "checkpoints" else path.parent) / "eval.json"
    record["files"] = [str(out.with_name(name)) for name in (out.name, "confusion.csv", "confusion.png", EVAL_IMAGES)]
    per_image = gather_per_image(result.per_image, dist)  # every rank takes part; rank 0 gets them all
    if dist.is_main:
        write_eval_files(out, record, result.confusion.mat.cpu().numpy(), per_image, dataset.classes)
    dist.close()
    return record


def batch_callback(save_predictions: str | Path | None, dataset, emit: EventFn):
    """What every evaluated batch triggers: the prediction files (--save-predictions) and progress."""
    writer = None
    if save_predictions is not None:
        from ksac_cli.data.transforms import MEAN, STD
        from ksac_cli.engine.predictions import PredictionWriter

        writer = PredictionWriter(save_predictions, dataset.palette, MEAN, STD)

    def on_batch(images, masks, pred, ids) -> None:
        if writer is not None:
            for image, p, m, sample_id in zip(images, pred, masks, ids):
                writer.write(image, p, m, sample_id)
        emit("eval_batch", {"images": images.shape[0]})

    return on_batch


def write_eval_files(out: Path, record: dict, matrix, per_image: list, classes: list[str]) -> None:
    """eval.json, confusion.csv (rows: true class, columns: predicted), confusion.png, eval_images.npz."""
    from ksac_cli.engine.evidence import EVAL_IMAGES, write_eval_images
    from ksac_cli.report.plots import confusion_heatmap

    io.write_json(out, {k: v for k, v in record.items() if k != "files"})
    io.write_csv(out.with_name("confusion.csv"),
                 [{"true_class": c, **{p: int(v) for p, v in zip(classes, row)}} for c, row in zip(classes, matrix)],
                 ["true_class", *classes])
    confusion_heatmap(matrix, classes, out.with_name("confusion.png"),
                      title=f"{record['dataset']} {record['split']}: mIoU {100 * record['miou']:.2f}%")
    write_eval_images(out.with_name(EVAL_IMAGES), per_image, classes)


def open_checkpoint(path: Path, overrides: dict, trust_head_code: bool = False,
                    can_name: bool = True) -> tuple[RunConfig, dict]:
    """(the run's config with `overrides` applied, the checkpoint's dict): `config.resolve_eval_config`
    (the dataset and its root default to the checkpoint's; the weights are the checkpoint's). A head class of
    the user's own is imported only when `overrides` names it again or `trust_head_code` (heads.refuse_untrusted;
    `can_name`: the command has --head to name it with)."""
    from ksac_cli.config.load import resolve_eval_config
    from ksac_cli.engine.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    heads.refuse_untrusted(state["config"].get("model", {}).get("head", RunConfig().model.head),
                           overrides.get("model", {}).get("head"), trust_head_code, f"checkpoint {path}", can_name)
    return resolve_eval_config(state["config"], overrides, where=f"{path} (config)"), state


def trained_model(cfg: RunConfig, state: dict, path: Path, num_classes: int):
    """The checkpoint's model in eval mode; an error when it predicts another number of classes than the
    dataset it is about to be evaluated on has."""
    from ksac_cli.engine.checkpoint import load_model_state

    if num_classes != cfg.model.num_classes:
        raise KsacError(f"{path} predicts {cfg.model.num_classes} classes but dataset {cfg.data.dataset!r} has "
                        f"{num_classes}; evaluate it on the dataset it was trained on")
    model = build_model(cfg.model)
    load_model_state(model, state["model"], path)
    return model.eval()

"""TensorBoard events of a run, in the run directory itself (torch.utils.tensorboard; the optional
`tensorboard` package): written on rank 0 at the same steps as metrics.jsonl and eval.jsonl. The tags and
tabs are listed in docs/training.md ("Live curves in TensorBoard").

A resumed run opens the same folder with `purge_step` = the checkpoint's iteration + 1, so TensorBoard's
reader drops what the killed process logged after the checkpoint; it reads the files in the order of their
names, which start with the second each was opened in: hence `after_earlier_files`."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ksac_cli import heads
from ksac_cli.config import format_rates
from ksac_cli.engine.predictions import overlay_panel

COMPARED = ("head", "rates", "merge", "seed")  # what an ablation's cells differ in (experiments/grid.py)


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def after_earlier_files(run_dir: Path) -> None:
    """Wait (at most a second) until the clock has passed the second in which the newest events file of
    `run_dir` was opened, so that a file opened now sorts after it."""
    stamps = [path.name.split(".")[3] for path in Path(run_dir).glob("events.out.tfevents.*")]
    seconds = [int(stamp) for stamp in stamps if stamp.isdigit()]
    deadline = time.time() + 1.5  # a file stamped in the future (the clock was set back) is not waited for
    while seconds and int(time.time()) <= max(seconds) and time.time() < deadline:
        time.sleep(0.02)


class TensorBoardLog:
    def __init__(self, run_dir: Path, config_yaml: str, resumed_at: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if resumed_at:
            after_earlier_files(run_dir)
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=resumed_at + 1 if resumed_at else None)
        if not resumed_at:
            self.writer.add_text("config", "```\n" + config_yaml + "\n```", 0)

    def event(self, kind: str, data: dict) -> None:
        """The training loop's events (`fit`'s on_event): log lines and evaluations."""
        if kind == "log":
            scalars = {f"train/{key}": data.get(key) for key in ("loss", "lr", "images_per_s")}
        elif kind == "eval":
            metrics = ("miou", "pixel_accuracy", "mean_class_accuracy", "fw_iou")
            scalars = {f"val/{key}": data.get(key) for key in metrics}
            scalars |= {f"val_class/{name}": value for name, value in (data.get("per_class_iou") or {}).items()}
            scalars |= {f"val_size/{bucket}": value for bucket, value in (data.get("size_iou") or {}).items()}
        else:
            return
        for tag, value in scalars.items():
            if value is not None:
                self.writer.add_scalar(tag, value, data["iteration"])
        self.writer.flush()  # a killed run keeps what it logged

    def evaluation_images(self, iteration: int, confusion: torch.Tensor, samples: Path) -> None:
        """The confusion matrix (rows: true class, share of the row's pixels; 16 px per cell) and the samples."""
        mat = confusion.to(torch.float64).cpu().numpy()
        share = np.divide(mat, mat.sum(axis=1, keepdims=True), out=np.zeros_like(mat), where=mat.sum(axis=1, keepdims=True) > 0)
        cells = np.kron(share, np.ones((16, 16)))  # (16K, 16K)
        self.writer.add_image("val/confusion", (255 * cells).astype(np.uint8)[None], iteration, dataformats="CHW")
        index = Path(samples) / "index.json"
        if index.is_file():
            for entry in json.loads(index.read_text())["samples"]:
                image, pred, truth = (np.asarray(Image.open(samples / entry[k]).convert("RGB"))
                                      for k in ("image", "pred", "truth"))
                panel = overlay_panel(image, pred, truth)  # as `ksac eval --save-predictions` draws it
                self.writer.add_image(f"samples/{entry['id']}", panel, iteration, dataformats="HWC")
        self.writer.flush()

    def close(self, hparams: dict, metrics: dict) -> None:
        """Hyper-parameters and final metrics (the HPARAMS tab), written into this run's own folder: what
        SummaryWriter.add_hparams writes, with COMPARED marked as differing."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        metrics = {f"hparam/{k}": v for k, v in metrics.items() if v is not None}
        experiment, start, end = hparams_summaries(hparams, metrics)
        mark_compared(experiment)
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value)
        self.writer.close()


def mark_compared(experiment) -> None:
    """Mark the COMPARED hyper-parameters of an experiment summary as the ones that differ between runs:
    TensorBoard's hparams plugin shows those columns first (backend_context._sort_and_reduce_to_hparams_limit)."""
    import importlib  # the optional [tensorboard] extra, reached only when `available()`: not a base dependency

    HParamsPluginData = importlib.import_module("tensorboard.plugins.hparams.plugin_data_pb2").HParamsPluginData

    plugin = experiment.value[0].metadata.plugin_data
    data = HParamsPluginData.FromString(plugin.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in COMPARED
    plugin.content = data.SerializeToString()


def hparams_of(cfg) -> dict:
    """The settings an ablation varies (COMPARED, first) or a reader compares, as TensorBoard
    hyper-parameters (scalars/str; the seed a str, so the table shows "1", not "1.0000")."""
    m, t = cfg.model, cfg.train
    return {"head": m.head, "rates": format_rates(m.rates), "merge": heads.spec(m.head).value("merge", m.merge),
            "seed": str(t.seed), "backbone": m.backbone, "output_stride": m.output_stride, "decoder": m.decoder,
            "dataset": cfg.data.dataset, "crop_size": cfg.data.crop_size, "iters": t.iters,
            "batch_size": t.batch_size, "optimizer": t.optimizer, "lr": t.lr, "amp": t.amp}

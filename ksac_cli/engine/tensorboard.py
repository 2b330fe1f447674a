"""TensorBoard events of a run in `<run_dir>/tb` (torch.utils.tensorboard; the optional `tensorboard`
package): written on rank 0 at the same steps as metrics.jsonl and eval.jsonl.

- train/loss, train/lr, train/images_per_s at every metrics.jsonl line;
- val/miou, val/pixel_accuracy, val_class/<class>, val_size/<bucket> and the row-normalised confusion matrix
  (val/confusion) at every evaluation, and the fixed val samples (engine/samples.py: the same images every
  time) as image | prediction over the image | truth;
- the resolved config as text, and at the end the hyper-parameters with the final metrics (the HPARAMS tab
  compares the cells of an ablation, each its own run: `tensorboard --logdir runs/ablate/<grid>`).

A resumed run opens the same folder with `purge_step` = the checkpoint's iteration + 1: events written after
the checkpoint (by the killed process) are dropped by TensorBoard's reader, so each step appears once."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ksac_cli.engine.predictions import overlay_panel

FOLDER = "tb"


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class TensorBoardLog:
    def __init__(self, run_dir: Path, config_yaml: str, resumed_at: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / FOLDER), purge_step=resumed_at + 1 if resumed_at else None)
        if not resumed_at:
            self.writer.add_text("config", "```\n" + config_yaml + "\n```", 0)

    def event(self, kind: str, data: dict) -> None:
        """The training loop's events (`fit`'s on_event): log lines and evaluations."""
        if kind == "log":
            it = data["iteration"]
            self.writer.add_scalar("train/loss", data["loss"], it)
            self.writer.add_scalar("train/lr", data["lr"], it)
            if data.get("images_per_s") is not None:
                self.writer.add_scalar("train/images_per_s", data["images_per_s"], it)
            self.writer.flush()  # a killed run keeps what it logged
        elif kind == "eval":
            it = data["iteration"]
            for key in ("miou", "pixel_accuracy", "mean_class_accuracy", "fw_iou"):
                if data.get(key) is not None:
                    self.writer.add_scalar(f"val/{key}", data[key], it)
            for name, value in (data.get("per_class_iou") or {}).items():
                if value is not None:
                    self.writer.add_scalar(f"val_class/{name}", value, it)
            for bucket, value in (data.get("size_iou") or {}).items():
                if value is not None:
                    self.writer.add_scalar(f"val_size/{bucket}", value, it)
            self.writer.flush()

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
        """Hyper-parameters and final metrics (the HPARAMS tab), written into this run's own folder."""
        self.writer.add_hparams(hparams, {f"hparam/{k}": v for k, v in metrics.items() if v is not None}, run_name=".")
        self.writer.close()


def hparams_of(cfg) -> dict:
    """The settings an ablation varies or a reader compares, as TensorBoard hyper-parameters (scalars/str)."""
    m, t = cfg.model, cfg.train
    return {"backbone": m.backbone, "head": m.head, "merge": m.merge if m.head == "ksac" else "-",
            "rates": ",".join(map(str, m.rates)), "output_stride": m.output_stride, "decoder": m.decoder,
            "dataset": cfg.data.dataset, "crop_size": cfg.data.crop_size, "iters": t.iters,
            "batch_size": t.batch_size, "optimizer": t.optimizer, "lr": t.lr, "seed": t.seed, "amp": t.amp}

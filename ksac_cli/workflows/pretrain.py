"""`ksac pretrain`: train a recipe's backbone once, with a neutral head, on data the experiments never see,
and write the backbone's state dict with its provenance beside it (issue 22).

The run itself is an ordinary training run (`engine.run.train_run`: resume, checkpoints, evaluations and
logs come from there); this adapter checks that the pretraining data is disjoint from the data the
fine-tuned models are trained and evaluated on, then exports the backbone of the final checkpoint."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import torch

from ksac_cli import io
from ksac_cli.config import RunConfig, to_dict
from ksac_cli.config.schema import check_pretraining_setup
from ksac_cli.data.synthetic import GENERATOR_VERSION
from ksac_cli.engine.checkpoint import load_checkpoint
from ksac_cli.engine.rundir import last_checkpoint
from ksac_cli.engine.run import EventFn
from ksac_cli.errors import KsacError
from ksac_cli.machine import provenance, resolve_device
from ksac_cli.weights import BACKBONE_PREFIX, sha256_of
from ksac_cli.workflows.train import train


def backbone_state(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone's entries of a DeepLab state dict, keyed as `Backbone.body` names them."""
    state = {k[len(BACKBONE_PREFIX):]: v for k, v in model_state.items() if k.startswith(BACKBONE_PREFIX)}
    if not state:
        raise KsacError(f"the checkpoint holds no {BACKBONE_PREFIX}* entries: not a DeepLab model")
    return state


def pretrain(cfg: RunConfig, out: Path, command: list[str], resume: bool = True, force: bool = False,
             on_event: EventFn | None = None) -> dict:
    """Train `cfg` (resuming; `force` starts over, as in `workflows.train.train`), then write the backbone of
    its final checkpoint to `out` and the provenance JSON to `out` with suffix .json. Returns the record."""
    check_pretraining_setup(cfg)
    started = time.perf_counter()
    made_from = provenance(resolve_device(cfg.train.device))  # the code as it was when this invocation started
    summary = train(cfg, resume, force, on_event)
    checkpoint = load_checkpoint(last_checkpoint(Path(summary["run_dir"])))
    data = io.serialised(lambda f: torch.save(backbone_state(checkpoint["model"]), f))
    io.write_bytes(out, data)
    final = summary["final"] or {}
    record = {
        "file": out.name,
        "sha256": sha256_of(data),
        "bytes": len(data),
        "backbone": cfg.model.backbone,
        "output_stride": cfg.model.output_stride,
        "command": "ksac " + " ".join(command),
        "config": checkpoint["config"],  # the resolved RunConfig, as the run saved it
        "dataset": {"name": cfg.data.dataset, **({"generator_version": GENERATOR_VERSION,
                                                  **to_dict(cfg.data.synthetic)} if cfg.data.dataset == "synthetic" else {})},
        "iterations": summary["iterations"],
        "train_seconds": round(summary["train_seconds"], 1),  # summed over every (resumed) invocation
        "wall_seconds_last_invocation": round(time.perf_counter() - started, 1),
        "heldout_miou": final.get("miou"),  # the pretraining run's own val split (seed above), final weights
        "heldout_per_class_iou": final.get("per_class_iou"),
        "run_dir": summary["run_dir"],
        "made": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **{k: v for k, v in made_from.items() if k != "date"},
    }
    io.write_json(out.with_suffix(".json"), record)
    return record


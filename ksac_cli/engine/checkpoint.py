"""Checkpoints: one `torch.save`d dict, written atomically; loading errors name the file and the key.

Keys: model, optimizer, scheduler, scaler, iteration (completed iterations), samples_seen (the data
order's position), config (the resolved RunConfig as a dict), rng (torch/cuda/numpy/python states),
best (best mIoU so far and its iteration), version.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ksac_cli import __version__, io
from ksac_cli.errors import KsacError

REQUIRED = ("model", "iteration", "config")
RESUME_REQUIRED = ("optimizer", "scheduler", "samples_seen", "rng")


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write atomically: a kill at any moment leaves the previous complete file or the new one; serialised in
    memory first (`io.serialised`)."""
    io.write_bytes(path, io.serialised(lambda f: torch.save({**state, "version": __version__}, f)))


def load_checkpoint(path: str | Path, for_resume: bool = False) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise KsacError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle garbage, wrong file type: all mean "unreadable"
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise KsacError(f"checkpoint {path} is truncated or corrupted ({reason}); "
                        f"use another checkpoint or start over with --force") from None
    if not isinstance(state, dict):
        raise KsacError(f"checkpoint {path} holds a {type(state).__name__}, not a ksac checkpoint")
    required = REQUIRED + (RESUME_REQUIRED if for_resume else ())
    missing = [k for k in required if k not in state]
    if missing:
        raise KsacError(f"checkpoint {path} lacks the key(s) {', '.join(missing)}; it was not written by "
                        f"ksac train (another toolkit's checkpoint, or one from an older ksac version)")
    return state


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load weights, naming mismatched keys (another architecture) instead of a bare traceback."""
    state = {k.removeprefix("module."): v for k, v in state.items()}  # DDP-saved checkpoints
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shape:
        kinds = (("missing", missing), ("unexpected", unexpected), ("of another shape", shape))
        parts = [f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})" for label, keys in kinds if keys]
        raise KsacError(f"checkpoint {path} does not match the model built from its config: keys "
                        f"{'; '.join(parts)}; was it trained with another backbone, head or rates?")
    model.load_state_dict(state)

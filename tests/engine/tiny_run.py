"""Helpers of the engine tests (a module name unique across tests/, so it imports unambiguously)."""

from __future__ import annotations

import subprocess
import sys

TINY_RECIPE = """\
name: tiny
model: {{backbone: mobilenetv2_035, head: {head}, rates: [1, 2], output_stride: 16, channels: 16,
        decoder_channels: 16, low_level_channels: 8}}
data:
  dataset: synthetic
  data_root: {root}
  crop_size: {crop}
  workers: 0
  synthetic: {{train: 12, val: 4, size: 96, seed: 3}}
train: {{iters: {iters}, batch_size: 2, lr: 0.01, save_every: {save_every}, log_every: 1, eval_every: 0,
        deterministic: true, device: cpu}}
"""


def ksac(*args: str, timeout: int = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ksac_cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)

"""How many loader worker processes the toolkit starts when --workers is not given."""

from __future__ import annotations

import os

import torch

from ksac_cli.engine.loaders import worker_count


def test_an_explicit_worker_count_is_kept():
    assert worker_count(3, torch.device("cpu")) == 3
    assert worker_count(0, torch.device("cuda")) == 0


def test_auto_leaves_the_model_its_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)
    assert worker_count(None, torch.device("cpu")) == 0  # the model's threads use every core
    monkeypatch.setattr(torch, "get_num_threads", lambda: 12)
    assert worker_count(None, torch.device("cpu")) == 4
    assert worker_count(None, torch.device("cuda")) == 8  # the GPU computes: all cores but one, at most 8
    assert worker_count(None, torch.device("cuda"), world_size=4) == 3  # 16 cores shared by 4 processes
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert worker_count(None, torch.device("cpu")) == 0  # this project's 2-core machine

"""torch.distributed, when the process was started by torchrun (WORLD_SIZE > 1); a no-op otherwise.

Backend nccl on CUDA, gloo on CPU. Only rank 0 writes files and prints progress; losses are averaged and
confusion matrices summed across ranks, so metrics equal the single-process ones exactly."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn

from ksac_cli.errors import KsacWarning
from ksac_cli.launch import world
from ksac_cli.machine import resolve_device


@dataclass
class Dist:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            torch_dist.barrier()

    def wrap(self, model: nn.Module, sync_bn: bool) -> nn.Module:
        """DistributedDataParallel (with SyncBatchNorm when `sync_bn`) when distributed.
        PyTorch's SyncBatchNorm runs on CUDA only: on the CPU each process keeps its own BN statistics."""
        if not self.active:
            return model
        if sync_bn:
            if self.device.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            elif self.is_main:
                warnings.warn("SyncBatchNorm needs CUDA; on the CPU each process normalises with its own batch "
                              "statistics (use --no-sync-bn to silence this)", KsacWarning, stacklevel=2)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        value = value.detach().clone()
        torch_dist.all_reduce(value, op=torch_dist.ReduceOp.SUM)
        return value / self.world_size

    def sum_(self, value: torch.Tensor) -> torch.Tensor:
        """In-place sum across ranks (no-op when single-process)."""
        if self.active:
            torch_dist.all_reduce(value, op=torch_dist.ReduceOp.SUM)
        return value

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank. Without SyncBatchNorm each
        process updates its own statistics in its last forward pass; a sharded evaluation must run ONE
        model, the one rank 0 saves in the checkpoint."""
        if self.active:
            for buffer in model.buffers():
                torch_dist.broadcast(buffer, src=0)

    def close(self) -> None:
        if self.active and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (what checkpoints and evaluations use)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def init(device_name: str) -> Dist:
    rank, world_size, local_rank = world()
    device = resolve_device(device_name)
    if world_size <= 1:
        return Dist(device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(device, rank, world_size)

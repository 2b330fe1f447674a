"""The device and the environment a result was measured in (provenance for every result row)."""

from __future__ import annotations

import datetime
import platform
import subprocess
from pathlib import Path

import torch

import ksac_cli
from ksac_cli.errors import KsacError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu; 'cuda' without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise KsacError(f"--device: {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise KsacError(f"--device {name}: no CUDA device is available here; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise KsacError(f"--device: {name!r} is not supported; expected auto, cpu, cuda or cuda:N")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively: CUDA with bf16 support, or a CPU with AVX512-BF16/AMX
    (oneDNN's check). Without it, CPU bf16 autocast is emulated and far slower than float32 (measured on
    this project's AVX2 machine: 0.6 vs 5.4 images/s, README)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no native bf16 path
        return False


def resolve_amp(amp: str, device: torch.device) -> str:
    """--amp auto -> bf16 where `device` computes it natively, else off; any other mode as given."""
    if amp != "auto":
        return amp
    return "bf16" if native_bf16(device) else "off"


def device_name(device: torch.device) -> str:
    """'cpu' or 'cuda (NVIDIA H100 80GB HBM3)': what a reader needs to compare timings."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"


def git_commit(path: Path | None = None) -> str:
    root = path or Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(device: torch.device) -> dict[str, str]:
    return {
        "git_commit": git_commit(),
        "toolkit_version": ksac_cli.__version__,
        "torch_version": torch.__version__,
        "device": device_name(device),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

"""The machine a result comes from: the device a run uses (`resolve_device`), the mixed precision it can
compute natively (`resolve_amp`), and the provenance every result row and weights file records (device
name, CPU, commit and the tree's state). Environment variables are read in launch.py, not here."""

from __future__ import annotations

import datetime
import hashlib
import platform
import subprocess
from pathlib import Path

import torch

import ksac_cli
from ksac_cli.errors import KsacError

_ROOT = Path(__file__).resolve().parent.parent  # the checkout, when the package runs from one


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
    """'cuda (NVIDIA H100 80GB HBM3)' or 'cpu (AMD EPYC, 2 threads, x86_64 AVX512, native bf16)': enough to
    tell a GPU, a CPU with native bf16 and an AVX2-only CPU apart when comparing results and timings."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    bf16 = ", native bf16" if native_bf16(device) else ""
    return (f"cpu ({cpu_model()}, {torch.get_num_threads()} threads, {platform.machine()} "
            f"{torch.backends.cpu.get_cpu_capability()}{bf16})")


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def code_state(path: Path | None = None) -> dict[str, str]:
    """The code a result comes from, of the checkout at `path` (default: the package's): its commit and the
    tree's state, 'clean' or 'dirty <sha256 of `git diff HEAD`, 12 hex>' (tracked files changed since the
    commit); both 'unknown' when `path` is not the top of a git checkout. Three git calls: take it once per
    invocation, when it starts."""
    root = path or _ROOT
    top = _git(root, "rev-parse", "--show-toplevel")
    if not top or Path(top.strip()).resolve() != root.resolve():  # an installed package, whose site-packages
        return {"git_commit": "unknown", "git_state": "unknown"}  # may even lie inside some other checkout
    head = _git(root, "rev-parse", "--short", "HEAD")
    diff = _git(root, "diff", "HEAD", "--no-ext-diff", "--binary")
    digest = hashlib.sha256((diff or "").encode()).hexdigest()[:12]
    state = "unknown" if diff is None else f"dirty {digest}" if diff else "clean"
    return {"git_commit": head.strip() if head and head.strip() else "unknown", "git_state": state}


def provenance(device: torch.device, code: dict[str, str] | None = None) -> dict[str, str]:
    """What every result row and provenance file records of where and from what code it was made; `code`:
    a `code_state()` taken earlier (default: now)."""
    return {
        **(code if code is not None else code_state()),
        "toolkit_version": ksac_cli.__version__,
        "torch_version": torch.__version__,
        "device": device_name(device),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

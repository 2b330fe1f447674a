"""ASPP vs KSAC-conv vs KSAC-taps heads: forward and forward+backward time, same process, interleaved.

    python benchmarks/bench_heads.py            # every case (input channels 320/2048, maps 33/65, 3 or 4 rates,
                                                # batch 1/8, forward and forward+backward)
    python benchmarks/bench_heads.py --quick    # rates 6,12,18,24 and batch 1 only
    python benchmarks/bench_heads.py --device cuda

Each case builds the three heads (256 output channels, the paper's width; KSAC with the paper's concat
merge, the two KSAC implementations sharing one set of weights), warms each up, then times them in turn,
`--repeats` rounds, so a slow patch of a noisy machine hits all three alike; the median of each is kept.
Writes results/bench_heads.csv (in_channels, map_size, rates, batch, pass, impl, ms_median, ratio_to_aspp,
device) and results/bench_heads.png.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from ksac_cli import io
from ksac_cli.machine import device_name, resolve_device
from ksac_cli.measure.latency import time_calls
from ksac_cli.models.heads import ASPP, KSAC

IMPLS = ("aspp", "ksac-conv", "ksac-taps")
PASSES = ("forward", "forward_backward")
COLUMNS = ["in_channels", "map_size", "rates", "batch", "pass", "impl", "ms_median", "ratio_to_aspp", "device"]


def build_heads(in_channels: int, rates: tuple[int, ...], device: torch.device, channels_last: bool) -> dict[str, nn.Module]:
    conv = KSAC(in_channels, rates, 256, ksac_impl="conv")
    taps = KSAC(in_channels, rates, 256, ksac_impl="taps")
    taps.load_state_dict(conv.state_dict())
    heads = {"aspp": ASPP(in_channels, rates, 256), "ksac-conv": conv, "ksac-taps": taps}
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return {name: head.to(device, memory_format=memory_format) for name, head in heads.items()}


def step(head: nn.Module, x: torch.Tensor, kind: str):
    """One call to time: the forward pass in inference mode, or forward + backward in training mode."""
    if kind == "forward":
        head.eval()

        def run():
            with torch.inference_mode():
                head(x)
    else:
        head.train()
        if x.shape[0] == 1:  # BatchNorm cannot train on the pooled 1x1 map of one image; the branch is cheap
            head.pooling.eval()

        def run():
            head.zero_grad(set_to_none=True)
            head(x).sum().backward()
    return run


def bench_case(in_channels, size, rates, batch, kind, device, repeats, warmup, channels_last) -> dict[str, float]:
    heads = build_heads(in_channels, rates, device, channels_last)
    x = torch.randn(batch, in_channels, size, size, device=device)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    calls = {name: step(head, x, kind) for name, head in heads.items()}
    for call in calls.values():
        time_calls(call, device, runs=0, warmup=warmup)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():  # interleaved: one run of each in turn
            times[name] += time_calls(call, device, runs=1, warmup=0)
    return {name: statistics.median(t) for name, t in times.items()}


def cases(quick: bool):
    rate_sets = [(6, 12, 18, 24)] if quick else [(6, 12, 18), (6, 12, 18, 24)]
    batches = [1] if quick else [1, 8]
    return itertools.product([320, 2048], [33, 65], rate_sets, batches, PASSES)


def plot(rows: list[dict], path: Path, device: str) -> None:
    import matplotlib.pyplot as plt

    from ksac_cli.report.plots import save_figure

    keys = list(dict.fromkeys((int(r["in_channels"]), int(r["map_size"]), r["rates"], int(r["batch"])) for r in rows))
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.75 * len(keys) + 2), 8), sharex=True)
    width = 0.38
    for ax, kind in zip(axes, PASSES):
        for offset, impl in ((-width / 2, "ksac-conv"), (width / 2, "ksac-taps")):
            values = [next(float(r["ratio_to_aspp"]) for r in rows
                           if (int(r["in_channels"]), int(r["map_size"]), r["rates"], int(r["batch"])) == k
                           and r["pass"] == kind and r["impl"] == impl) for k in keys]
            ax.bar([i + offset for i in range(len(keys))], values, width, label=impl)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_title(kind.replace("_", " + "))
        ax.set_ylabel("time / ASPP's time")
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks(range(len(keys)))
    axes[1].set_xticklabels([f"{c} ch, {s}x{s}\nrates {r}\nbatch {b}" for c, s, r, b in keys], fontsize=7,
                            rotation=60, ha="right")
    axes[0].legend()
    fig.suptitle(f"KSAC head time relative to ASPP (medians; 256 output channels), {device}")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="rates 6,12,18,24 and batch 1 only")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (synchronised before each clock read)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per case (median kept)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per head before timing")
    parser.add_argument("--channels-last", action="store_true", help="inputs and heads in channels_last")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's]")
    parser.add_argument("--out", type=Path, default=Path("results/bench_heads.csv"), help="CSV; the plot goes beside it")
    parser.add_argument("--replot", action="store_true", help="only redraw the plot from the CSV at --out")
    args = parser.parse_args(argv)
    if args.replot:
        rows = io.read_csv_rows(args.out)
        plot(rows, args.out.with_suffix(".png"), rows[0]["device"])
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = device_name(device)
    rows = []
    for in_channels, size, rates, batch, kind in cases(args.quick):
        medians = bench_case(in_channels, size, rates, batch, kind, device, args.repeats, args.warmup,
                             args.channels_last)
        line = []
        for impl in IMPLS:
            ratio = medians[impl] / medians["aspp"]
            rows.append({"in_channels": in_channels, "map_size": size, "rates": ",".join(map(str, rates)),
                         "batch": batch, "pass": kind, "impl": impl, "ms_median": round(medians[impl], 3),
                         "ratio_to_aspp": round(ratio, 4), "device": name})
            line.append(f"{impl} {medians[impl]:9.1f} ms ({ratio:.2f}x)")
        print(f"{in_channels:5d}ch {size}x{size} rates {','.join(map(str, rates)):11s} batch {batch} "
              f"{kind:16s} " + "  ".join(line), flush=True)
    io.write_csv(args.out, rows, COLUMNS)
    plot(rows, args.out.with_suffix(".png"), name)
    print(f"wrote {args.out} and {args.out.with_suffix('.png')} ({name}, {torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

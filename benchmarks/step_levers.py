"""What a training step of the quick protocol costs under each speed lever, on this CPU, in one run.

A seed round of `ksac ablate` is 4 cells x 70 training steps plus their evaluations, and training is ~80% of
it, so a lever's effect on the round is nearly its effect on the step. For each setting (the quick recipe
with --set overrides), `measure.step.cell_times` times the step exactly as the planner of `ksac ablate
--budget` does: the model as the recipe builds it, batch and crop as trained, AdamW, frozen backbone,
autocast as --amp resolves it. The frozen backbone's forward pass is shared by the 4 cells of a round
(engine/shared_features.py), so the column `round_step_ms` counts a quarter of it. Settings are timed in turns
(--turns rounds over all of them, the median kept), so a load that comes and goes touches them alike; compare
rows of one run only. Appends to --out (results/step_levers.csv) with the CPU, ISA and precision.

    python benchmarks/step_levers.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/step_levers.py --amp off   # AVX2 float32
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows_out import append_rows  # noqa: E402

from ksac_cli.config.load import load_run_config, recipe_path  # noqa: E402
from ksac_cli.machine import code_state, device_name, resolve_amp  # noqa: E402
from ksac_cli.measure.step import cell_times  # noqa: E402

LEVERS = {  # name -> overrides of the quick recipe
    "quick (loss at full size, decoder 64)": {"train": {"loss_stride": 1}, "model": {"decoder_channels": 64}},
    "loss stride 4": {"train": {"loss_stride": 4}, "model": {"decoder_channels": 64}},
    "loss stride 4, decoder 32": {"train": {"loss_stride": 4}, "model": {"decoder_channels": 32}},
    "loss stride 4, decoder 32, batch 6": {"train": {"loss_stride": 4, "batch_size": 6},
                                           "model": {"decoder_channels": 32}},
}
COLUMNS = ["lever", "head", "step_ms", "backbone_ms", "round_step_ms", "eval_batch_ms", "cpu", "isa", "precision",
           "turns", "git_commit", "git_state", "date"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amp", default="auto", help="off, bf16 or auto (as ksac ablate resolves it)")
    parser.add_argument("--turns", type=int, default=3, help="rounds over every setting; the median is kept")
    parser.add_argument("--out", default="results/step_levers.csv", help="the CSV to append to")
    args = parser.parse_args(argv)
    device = torch.device("cpu")
    lowered = os.environ.get("ATEN_CPU_CAPABILITY") or os.environ.get("ONEDNN_MAX_CPU_ISA")
    settings = []
    for lever, overrides in LEVERS.items():
        for head in ("aspp", "ksac"):
            cfg = load_run_config(recipe_path("quick"), {"model": {**overrides["model"], "head": head},
                                                         "train": {**overrides["train"], "amp": args.amp}})
            settings.append((lever, head, cfg))
    times: dict[int, list] = {i: [] for i in range(len(settings))}
    for turn in range(args.turns):
        for i, (lever, head, cfg) in enumerate(settings):
            times[i].append(cell_times(cfg.model, cfg.train, cfg.data.crop_size, cfg.data.crop_size,
                                       cfg.eval.batch_size, device, runs=5, warmup=2))
        print(f"turn {turn + 1}/{args.turns} done", flush=True)
    state, name = code_state(), device_name(device)
    isa = name if not lowered else f"{name} [AVX2 emulated via ATEN_CPU_CAPABILITY/ONEDNN_MAX_CPU_ISA]"
    rows = []
    for i, (lever, head, cfg) in enumerate(settings):
        step = 1000 * statistics.median(t.step for t in times[i])
        backbone = 1000 * statistics.median(t.backbone_step for t in times[i])
        rows.append({"lever": lever, "head": head, "step_ms": round(step, 1), "backbone_ms": round(backbone, 1),
                     "round_step_ms": round(step - 0.75 * backbone, 1),
                     "eval_batch_ms": round(1000 * statistics.median(t.eval_batch for t in times[i]), 1),
                     "cpu": name, "isa": isa, "precision": resolve_amp(cfg.train.amp, device), "turns": args.turns,
                     "git_commit": state["git_commit"], "git_state": state["git_state"],
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
        print(f"{lever:40s} {head:5s} step {step:6.1f} ms (backbone {backbone:5.1f}), in a round "
              f"{rows[-1]['round_step_ms']:6.1f} ms, eval batch {rows[-1]['eval_batch_ms']:6.1f} ms")
    out = Path(args.out)
    append_rows(out, COLUMNS, rows)
    print(f"wrote {out} ({name}, {rows[0]['precision']})")


if __name__ == "__main__":
    sys.exit(main())

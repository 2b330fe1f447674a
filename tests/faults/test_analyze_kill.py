"""SIGKILL `ksac analyze` over two tiny checkpoints once the first model's results are on disk, then the same
command again: the first model is skipped (its part's bytes and mtime unchanged, the output says so, it is
not analysed again) and the files equal an uninterrupted run's."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
from faultkit import assert_no_half_written_file, ci_or_full, run

from ksac_cli.report.analysis import BRANCHES_CSV, ERF_CSV, ERF_NPZ, SCALES_CSV

CSVS = (SCALES_CSV, BRANCHES_CSV, ERF_CSV)
FLAGS = ("--scales", "0.5,1.0", "--erf-images", "1")
# per model: 2 scales + 2 silenced rates = 4 sweeps of 4 val images, one per batch: 16 evaluation batches.
# The point, and the files of the first model on disk when the kill lands (the npz is written last).
POINTS = {
    "write:analysis_erf.npz@1=kill": CSVS,  # its part is saved, three of the four files rewritten
    "write:analysis_scales.csv@1=kill": (),  # its part is saved, no file rewritten yet
    "eval@20=kill": (*CSVS, ERF_NPZ),  # inside the second model's scale sweep
    "write:analysis_scales.csv@2=kill": (*CSVS, ERF_NPZ),  # both parts saved: the rerun only rebuilds the files
}
CASES = ci_or_full(list(POINTS), ["write:analysis_erf.npz@1=kill"])


@pytest.fixture(scope="module")
def checkpoints(pair) -> list[Path]:
    """The last.pt of an ASPP and a KSAC tiny run (conftest.py: pair); the ASPP one is analysed first."""
    return [pair[head][1] / "checkpoints" / "last.pt" for head in ("aspp", "ksac")]


def analyze(checkpoints: list[Path], out: Path, fault: str | None = None):
    return run("analyze", *[a for c in checkpoints for a in ("--checkpoint", str(c))], *FLAGS, "--out", str(out),
               fault=fault)


@pytest.fixture(scope="module")
def reference(checkpoints, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    proc = analyze(checkpoints, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "skipped" not in proc.stdout
    return out


def lines_of(path: Path, run_name: str) -> list[str]:
    """The CSV's header and the lines of one run."""
    lines = path.read_text().splitlines()
    return [lines[0], *[line for line in lines[1:] if line.startswith(f"{run_name},")]]


def maps_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


def assert_same_maps(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name


@pytest.mark.parametrize("fault", CASES)
def test_killed_analyze_skips_the_finished_model_and_ends_like_an_uninterrupted_one(fault, checkpoints, reference,
                                                                                      tmp_path):
    out = tmp_path / "out"
    proc = analyze(checkpoints, out, fault)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    # the first model's results are on disk: its part, and the files rewritten before the kill, holding it alone
    (part,) = (out / ".analysis_parts").glob("aspp-*.json")
    npz = part.with_suffix(".npz")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (part, npz)}
    present = POINTS[fault]
    assert sorted(p.name for p in out.glob("analysis_*")) == sorted(present)
    for name in set(present) & set(CSVS):
        assert (out / name).read_text().splitlines() == lines_of(reference / name, "aspp"), name
    if ERF_NPZ in present:
        assert_same_maps(maps_of(out / ERF_NPZ), {k: v for k, v in maps_of(reference / ERF_NPZ).items()
                                                   if k.startswith("aspp/")})

    again = analyze(checkpoints, out)
    assert again.returncode == 0, again.stderr[-2000:]
    skipped = 2 if fault.endswith("@2=kill") else 1
    assert f"skipped {skipped} of 2 models: already analysed" in again.stdout, again.stdout
    assert f"[1/2] {checkpoints[0]}" not in again.stdout  # the first model is not analysed again
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (part, npz)} == before
    for name in CSVS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert_same_maps(maps_of(out / ERF_NPZ), maps_of(reference / ERF_NPZ))
    assert_no_half_written_file(out)

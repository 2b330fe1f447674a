"""`ksac profile` (in this process, tests/cli_runner.py): the CSV it writes, the recipe path, and bad input."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from cli_runner import ksac as ksac_here

COLUMNS = ("backbone, head, merge, ksac_impl, rates, output_stride, decoder, input_size, num_classes, params_total, "
           "params_backbone, params_head, params_decoder, gmacs_total, gmacs_head, memory_format, dtype, compiled, "
           "latency_ms_median, latency_ms_p90, images_per_s, gflops_per_s, peak_gflops_per_s, share_of_peak, "
           "train_ms_median, train_ms_p90, train_images_per_s, device").split(", ")


def ksac(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return ksac_here(*args, cwd=cwd)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_profile_writes_the_csv_with_the_documented_columns(tmp_path):
    out = tmp_path / "profile.csv"
    proc = ksac("profile", "--backbone", "mobilenetv2_035", "--head", "aspp", "--head", "ksac",
                "--rates", "1,2", "--rates", "1,2,3", "--merge", "concat", "--merge", "sum", "--ksac-impl", "taps",
                "--size", "65",
                "--runs", "2", "--warmup", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        assert next(csv.reader(f)) == COLUMNS
    rows = read_csv(out)
    # 2 rate sets x (aspp + ksac concat + ksac sum): ASPP is not duplicated per merge
    assert [(r["head"], r["merge"], r["rates"]) for r in rows] == [
        ("aspp", "concat", "1,2"), ("ksac", "concat", "1,2"), ("ksac", "sum", "1,2"),
        ("aspp", "concat", "1,2,3"), ("ksac", "concat", "1,2,3"), ("ksac", "sum", "1,2,3")]
    for r in rows:
        assert int(r["params_total"]) == sum(int(r[f"params_{p}"]) for p in ("backbone", "head", "decoder"))
        assert float(r["gmacs_total"]) > float(r["gmacs_head"]) > 0
        # the timing columns agree with each other (batch 1; values rounded in the CSV)
        median, p90 = float(r["latency_ms_median"]), float(r["latency_ms_p90"])
        assert p90 >= median > 0
        # rel: the median's rounding; abs: the column's own (3 decimals), which dominates on a slow machine
        assert float(r["images_per_s"]) == pytest.approx(1000.0 / median, rel=1e-3, abs=1e-3)
        assert float(r["gflops_per_s"]) == pytest.approx(2 * float(r["gmacs_total"]) / (median / 1000.0), rel=2e-3, abs=1e-3)
        assert r["input_size"] == "65" and r["dtype"] == "float32" and r["device"].startswith("cpu")
        assert r["train_ms_median"] == r["train_ms_p90"] == r["train_images_per_s"] == ""  # not asked for
    assert int(rows[1]["params_head"]) < int(rows[0]["params_head"])  # KSAC shares the kernel
    md = out.with_suffix(".md").read_text()
    assert md.startswith("# KSAC vs ASPP: whole-model parameters\n")
    assert "| mobilenetv2_035 | V3+ | 16 | 1,2,3 | sum |" in md
    assert "mobilenetv2_035" in proc.stdout


def test_profile_counts_the_macs_each_ksac_impl_performs_and_times_the_variants(tmp_path):
    out = tmp_path / "profile.csv"
    proc = ksac("profile", "--backbone", "mobilenetv2_035", "--rates", "1,2,3", "--size", "65", "--runs", "1",
                "--warmup", "0", "--channels-last", "--amp", "bf16", "--peak", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out)
    # default: aspp, ksac conv, ksac taps; each timed float32/bf16 x contiguous/channels_last
    assert [(r["head"], r["ksac_impl"]) for r in rows[::4]] == [("aspp", "-"), ("ksac", "conv"), ("ksac", "taps")]
    assert {(r["memory_format"], r["dtype"]) for r in rows[:4]} == {
        ("contiguous", "float32"), ("contiguous", "bfloat16"), ("channels_last", "float32"),
        ("channels_last", "bfloat16")}
    aspp, conv, taps = (rows[i] for i in (0, 4, 8))
    assert conv["params_total"] == taps["params_total"]
    # fvcore sees the 1x1 conv of the 9 tap products: one 3x3 conv's multiply-adds instead of one per rate
    head_in, head_out = 112, 256  # mobilenetv2_035's last features, the default head width
    side = 5  # 65 px at output stride 16
    saved = 2 * 9 * head_in * head_out * side * side  # 3 rates -> 1: two convolutions fewer
    # (the CSV keeps GMACs to 4 decimals: 1e5 multiply-adds)
    assert 1e9 * (float(conv["gmacs_head"]) - float(taps["gmacs_head"])) == pytest.approx(saved, abs=1e5)
    assert float(aspp["gmacs_head"]) == pytest.approx(float(conv["gmacs_head"]), rel=1e-6)
    for r in rows:
        assert float(r["gflops_per_s"]) == pytest.approx(
            2 * float(r["gmacs_total"]) / (float(r["latency_ms_median"]) / 1000.0), rel=2e-3)
        assert float(r["peak_gflops_per_s"]) > 0
        assert float(r["share_of_peak"]) == pytest.approx(float(r["gflops_per_s"]) / float(r["peak_gflops_per_s"]),
                                                           rel=2e-2)  # both rounded in the CSV
    assert "% of peak" in proc.stdout


@pytest.mark.parametrize("batch,latency", [(1, "--latency"), (2, "--no-latency")])
def test_profile_times_the_training_step_when_asked(tmp_path, batch, latency):
    out = tmp_path / "profile.csv"
    proc = ksac("profile", "--backbone", "mobilenetv2_035", "--head", "aspp", "--head", "ksac", "--ksac-impl", "taps",
                "--rates", "1,2", "--size", "65", "--batch-size", str(batch), "--runs", "2", "--warmup", "1",
                "--channels-last", latency, "--train-step", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out)
    assert [(r["head"], r["memory_format"]) for r in rows] == [
        ("aspp", "contiguous"), ("aspp", "channels_last"), ("ksac", "contiguous"), ("ksac", "channels_last")]
    for r in rows:
        median, p90 = float(r["train_ms_median"]), float(r["train_ms_p90"])
        assert p90 >= median > 0
        assert float(r["train_images_per_s"]) == pytest.approx(batch * 1000.0 / median, rel=1e-3, abs=1e-3)
        assert (r["latency_ms_median"] != "") == (latency == "--latency")
    assert f"{float(rows[0]['train_images_per_s']):.2f}" in proc.stdout  # the table shows them too


def test_profile_recipe_with_two_grids_and_no_latency(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("size: 33\nlatency: false\ngrids:\n"
                      "  - {backbone: [mobilenetv2_035], decoder: [false], head: [aspp, ksac], ksac_impl: [taps], rates: ['1,2']}\n"
                      "  - {backbone: [mobilenetv2_050], decoder: [true], head: [ksac], ksac_impl: [taps], rates: ['1,2']}\n")
    out = tmp_path / "p.csv"
    proc = ksac("profile", "--recipe", str(recipe), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out)
    assert [(r["backbone"], r["head"], r["decoder"]) for r in rows] == [
        ("mobilenetv2_035", "aspp", "False"), ("mobilenetv2_035", "ksac", "False"), ("mobilenetv2_050", "ksac", "True")]
    assert all(r["latency_ms_median"] == "" for r in rows)


@pytest.mark.parametrize("args,message", [
    (["--backbone", "vgg16"], "unknown backbone 'vgg16'; expected one of: mobilenetv2"),
    (["--head", "psp"], "unknown head 'psp'; expected one of: aspp, ksac"),
    (["--rates", "6,x"], "--rates: 'x' in '6,x' is not an integer"),
    (["--rates", "6,-12"], "--rates: rate -12 in '6,-12' must be a positive integer"),
    (["--rates", "0"], "rate 0 in '0' must be a positive integer"),
    (["--output-stride", "4"], "--output-stride: 4 is not allowed; expected one of: 8, 16, 32"),
    (["--merge", "mean"], "--merge: 'mean' is not allowed; expected one of: concat, sum"),
    (["--ksac-impl", "fft"], "--ksac-impl: 'fft' is not allowed; expected one of: conv, taps"),
    (["--amp", "int8"], "--amp: 'int8' is not allowed; expected one of: off, bf16, fp16"),
    (["--size", "abc"], "'--size'"),
    (["--size", "0"], "size: 0 must be a positive integer"),
    (["--device", "tpu"], "--device: 'tpu' is not a device; expected auto, cpu, cuda"),
    (["--recipe", "missing.yaml"], "recipe missing.yaml does not exist"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, args, message):
    proc = ksac("profile", "--no-latency", "--out", str(tmp_path / "x.csv"), *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert not (tmp_path / "x.csv").exists()


def test_bad_recipe_key_names_the_file_and_the_key(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("sise: 33\n")
    proc = ksac("profile", "--recipe", str(recipe))
    assert proc.returncode == 2
    assert f"{recipe}: unknown key(s) sise; allowed keys: grids, size" in proc.stderr

"""Options every command shares: --print-config (the resolved config, where each value
came from, nothing run or written, no torch), recipes by name, and one meaning per option name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from cli_runner import ksac as ksac_here
from tiny_run import ksac_loading

from ksac_cli.config import AblationGrid, ProfileConfig, RunConfig, resolve_ablation, resolve_profile, to_dict
from ksac_cli.config.load import resolve_eval_config, resolve_run_config

def ksac(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A process of its own: what it imports is checked (no torch for --print-config and --help)."""
    return ksac_loading(*args, cwd=cwd)


def notes_of(text: str) -> dict[str, str]:
    """'  lr: 0.1  # flag --lr' under 'train:' -> {"train.lr": "flag --lr"} (two-space indents)."""
    out, path = {}, []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        key = line.strip().split(":")[0]
        path = path[:depth] + [key]
        if "  # " in line:
            out[".".join(path)] = line.split("  # ", 1)[1]
    return out


def printed(proc: subprocess.CompletedProcess, tmp: Path) -> tuple[dict, dict]:
    """(the YAML printed, its notes), after checking: exit 0, no torch, nothing written."""
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.rstrip().endswith("LOADED []"), proc.stderr[-500:]
    assert not any(tmp.iterdir()), sorted(tmp.iterdir())
    return yaml.safe_load(proc.stdout), notes_of(proc.stdout)


@pytest.fixture
def work(tmp_path) -> Path:
    (tmp_path / "cwd").mkdir()
    return tmp_path / "cwd"


def test_train_print_config_marks_recipe_and_flag_values(work, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: mine\nmodel: {backbone: mobilenetv2_050, head: ksac}\ntrain: {lr: 1e-4, amp: off}\n")
    proc = ksac("train", "--recipe", str(recipe), "--lr", "0.02", "--rates", "1,2", "--no-decoder", "--split",
                "val", "--print-config", cwd=work)
    values, notes = printed(proc, work)
    overrides = {"train": {"lr": 0.02}, "model": {"rates": "1,2", "decoder": False}, "data": {"split": "val"}}
    assert values == to_dict(resolve_run_config(str(recipe), overrides))
    assert notes["train.lr"] == "flag --lr" and notes["model.rates"] == "flag --rates"
    assert notes["model.decoder"] == "flag --no-decoder" and notes["data.split"] == "flag --split"
    assert notes["model.backbone"] == "recipe" and notes["name"] == "recipe"
    assert "model.head" not in notes and "train.amp" not in notes  # the recipe set them to their default
    assert "train.iters" not in notes  # the schema's default: a partial recipe does not take quick's values
    assert values["train"]["iters"] == RunConfig().train.iters


def test_quick_is_the_recipe_without_one_and_print_config_says_what_it_changed(work):
    values, notes = printed(ksac("train", "--print-config", cwd=work), work)
    assert values == to_dict(resolve_run_config(None))
    assert values["name"] == "quick" and notes["model.backbone"] == "recipe" and notes["train.optimizer"] == "recipe"


def test_ablate_profile_and_pretrain_print_config(work):
    values, notes = printed(ksac("ablate", "--head", "ksac", "--seeds", "1", "--lr", "0.5", "--print-config",
                                 cwd=work), work)
    base, grid = resolve_ablation(None, {"grid": {"head": ["ksac"], "seeds": 1}, "train": {"lr": 0.5}})
    assert values == {**to_dict(base), "grid": to_dict(grid)}
    assert notes["grid.head"] == "flag --head" and notes["grid.seeds"] == "flag --seeds"
    assert notes["train.lr"] == "flag --lr" and "grid.rates" not in notes
    assert to_dict(grid)["rates"] == to_dict(AblationGrid())["rates"]

    values, notes = printed(ksac("profile", "--recipe", "paper_params", "--size", "65", "--print-config", cwd=work), work)
    assert values == to_dict(resolve_profile("paper_params", {"profile": {"size": 65}}))
    assert notes["size"] == "flag --size" and notes["grids"] == "recipe" and notes["out"] == "recipe"
    assert values["grids"] != to_dict(ProfileConfig())["grids"]

    values, notes = printed(ksac("pretrain", "--iters", "7", "--print-config", cwd=work), work)
    assert values["name"] == "pretrain_quick" and values["train"]["iters"] == 7
    assert notes["train.iters"] == "flag --iters" and notes["model.head"] == "recipe"


def test_eval_print_config_reads_the_checkpoint_without_torch(work, tmp_path):
    import torch

    saved = to_dict(resolve_run_config(None, {"model": {"output_stride": 16}}))
    checkpoint = tmp_path / "last.pt"
    torch.save({"model": {"w": torch.zeros(3)}, "iteration": 5, "config": saved, "rng": [torch.ones(2)]}, checkpoint)
    proc = ksac("eval", "--checkpoint", str(checkpoint), "--split", "train", "--output-stride", "8", "--print-config",
                cwd=work)
    values, notes = printed(proc, work)
    overrides = {"data": {"val_split": "train"}, "eval": {"output_stride": 8}}
    assert values == to_dict(resolve_eval_config(saved, overrides, "x"))
    assert values["model"]["output_stride"] == 8 and notes["model.output_stride"] == "flag --output-stride"
    assert notes["data.val_split"] == "flag --split" and notes["model.backbone"] == "checkpoint"


def test_every_recipe_option_takes_a_name_and_a_misspelt_name_lists_them(work):
    values, _ = printed(ksac("profile", "--recipe", "paper_params", "--print-config", cwd=work), work)
    assert values["out"] == "results/paper_params.csv"
    for command in ("train", "ablate", "pretrain", "profile"):
        proc = ksac(command, "--recipe", "quik", cwd=work)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and len(errors) == 1, proc.stderr
        assert "no recipe named 'quik' (did you mean quick?)" in errors[0]
        assert "paper_params, pretrain_mobilenetv2, pretrain_quick, quick" in errors[0]
        assert "Traceback" not in proc.stderr


def test_recipe_help_states_the_one_rule_for_defaults(work):
    for command in ("train", "ablate", "profile", "pretrain"):
        proc = ksac(command, "--help", cwd=work)
        text = " ".join(proc.stdout.split())
        assert "A recipe overrides the schema defaults (ksac_cli/config/schema.py) only where it sets a key" in text
        assert "--print-config" in text
    assert "--print-config" in ksac("eval", "--help", cwd=work).stdout


def test_report_help_lists_every_file_it_reads_and_every_table_it_writes(work):
    import re

    from ksac_cli.report import analysis, document

    text = " ".join(ksac("report", "--help", cwd=work).stdout.split())
    reads = [*document.MAKERS, analysis.SCALES_CSV, analysis.BRANCHES_CSV, analysis.ERF_CSV, analysis.ERF_NPZ,
             "eval_images.npz", "samples/", "metrics.jsonl", "eval.jsonl"]
    source = Path(document.__file__).read_text()
    tables = re.findall(r'\btable\("(\w+)", f?"(\([a-g]\'?\))?', source)
    assert len(tables) >= 10, tables
    plots = re.findall(r'\bplot\("([\w.]+)"', source)
    computed = ["ksac_vs_aspp", "ksac_vs_aspp_size", "rate24", "profile_reduction", "paper_params_reduction"]
    for name in [*reads, "report.md", *[slug for slug, _ in tables], *[f"{letter} {slug}" for slug, letter in tables
                                                                        if letter], *computed, *plots, "qualitative"]:
        assert name in text, name


def test_results_folder_means_ablation_csv_inside_it(tmp_path):
    from tiny_run import write_tiny_recipe

    recipe = write_tiny_recipe(tmp_path / "r.yaml", tmp_path / "synth", name="tinygrid", iters=1)
    proc = ksac_here("ablate", "--recipe", str(recipe), "--out", "grid", "--results", "myres/", "--seeds", "1",
                     "--head", "ksac", "--rates", "1,2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "myres" / "ablation.csv").is_file()
    assert "rows in myres/ablation.csv; next: ksac report --results myres" in proc.stdout
    proc = ksac_here("report", "--results", "myres/ablation.csv", cwd=tmp_path)
    assert proc.returncode == 2 and "--results: myres/ablation.csv is a file; give the FOLDER" in proc.stderr

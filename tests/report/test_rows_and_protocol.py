"""Which ablation rows the report uses and what it says they were: of a cell and seed run twice the newest
row wins; rows that started from a pretrained backbone are described (file, sha256, how it was made) and
never pooled with rows of the same grid trained from random weights, which form their own row group; a CSV
written before the backbone columns existed reads as random weights."""

from __future__ import annotations

import hashlib
import json
import re

import pandas as pd
import pytest
from handmade import ablation_row

from ksac_cli import io, weights
from ksac_cli.experiments.rows import COLUMNS
from ksac_cli.report import ablation
from ksac_cli.report.document import make_report

RANDOM_GROUP = "from random weights, for comparison"


def row(head: str, seed: int, miou: float, **changes) -> dict:
    out = ablation_row(head, "6,12,18", seed, {"miou": miou, "iou_small": miou / 2, "iou_medium": miou,
                                              "iou_large": miou}, "/nonexistent")
    return {**out, **changes}


@pytest.mark.parametrize("newest_first", [False, True], ids=["appended", "merged-csv"])
def test_a_rerun_cells_newest_row_wins(tmp_path, newest_first):
    """Same cell and seed, two config hashes: the row with the later date is used, wherever it sits in the
    file (ksac ablate appends; a CSV merged from several machines need not be in time order)."""
    old = row("aspp", 0, 0.30, config_hash="old", date="2026-11-24T09:00:00Z")
    new = row("aspp", 0, 0.60, config_hash="new", date="2026-11-25T09:00:00Z")
    other = row("ksac", 0, 0.40, date="2026-11-24T10:00:00Z")
    rows = [new, other, old] if newest_first else [old, other, new]
    io.write_csv(tmp_path / "ablation.csv", rows, COLUMNS)
    df = ablation.load(tmp_path / "ablation.csv")
    aspp = df[df["head"] == "aspp"]
    assert list(aspp["config_hash"]) == ["new"] and list(aspp["miou"]) == [0.60]
    assert len(df) == 2


def test_rows_of_one_date_the_later_in_the_file_wins(tmp_path):
    rows = [row("aspp", 0, 0.30, config_hash="first"), row("aspp", 0, 0.60, config_hash="second")]  # same date
    io.write_csv(tmp_path / "ablation.csv", rows, COLUMNS)
    assert list(ablation.load(tmp_path / "ablation.csv")["config_hash"]) == ["second"]


# mIoU per seed 0, 1, 2 of each head: pretrained KSAC is 6 points above ASPP, from random weights 1 below
PRETRAINED = {"aspp": (0.50, 0.52, 0.51), "ksac": (0.56, 0.58, 0.57)}
RANDOM = {"aspp": (0.30, 0.34, 0.32), "ksac": (0.29, 0.33, 0.31)}
RECORD = {"command": "ksac pretrain --recipe pretrain_quick --out ksac_cli/weights/quick_backbone.pt",
          "iterations": 400, "config": {"model": {"head": "pointwise"}},
          "dataset": {"name": "synthetic", "seed": 1234}, "heldout_miou": 0.4321, "train_seconds": 98.5}


@pytest.fixture
def builtin(tmp_path, monkeypatch) -> str:
    """A built-in backbone `quick_backbone` with its provenance JSON (in a temporary weights folder); returns
    the file's sha256."""
    folder = tmp_path / "weights"
    folder.mkdir()
    data = b"a backbone's bytes"
    (folder / "quick_backbone.pt").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    (folder / "quick_backbone.json").write_text(json.dumps({**RECORD, "file": "quick_backbone.pt", "sha256": sha}))
    monkeypatch.setattr(weights, "FOLDER", folder)
    return sha


def mixed_rows(sha: str) -> list[dict]:
    """The same grid, cells and seeds: first from random weights (older), then from the built-in backbone."""
    out = [row(head, seed, m, config_hash="rand", date="2026-11-24T09:00:00Z")
           for head, values in RANDOM.items() for seed, m in enumerate(values)]
    out += [row(head, seed, m, config_hash="pre", date="2026-11-26T09:00:00Z",
                backbone_weights="builtin:quick_backbone", backbone_sha256=sha, freeze_backbone=True)
            for head, values in PRETRAINED.items() for seed, m in enumerate(values)]
    return out


def split_at_group(df: pd.DataFrame, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows above and below the row group titled RANDOM_GROUP."""
    (at,) = df.index[df[column] == RANDOM_GROUP]
    return df.loc[: at - 1], df.loc[at + 1:]


def test_the_report_names_the_backbone_and_keeps_random_weights_apart(tmp_path, builtin):
    io.write_csv(tmp_path / "ablation.csv", mixed_rows(builtin), COLUMNS)
    make_report(tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    lead = md.split("## Verdicts", 1)[1].split("\n## ", 1)[0]
    assert ("Every model starts from the backbone `quick_backbone.pt` (`builtin:quick_backbone`, sha256 "
            f"`{builtin[:12]}`, made by `{RECORD['command']}`: 400 iterations with a neutral 1x1 head on built-in "
            "images of seed 1234, held-out mIoU 43.21%); the head and decoder are freshly initialised from each "
            "seed and trained for 10 iterations (backbone frozen), 3 seeds per cell.") in lead
    assert f'In the row group "{RANDOM_GROUP}", every model starts from random weights' in lead
    assert "never pooled" in lead

    verdicts = pd.read_csv(tmp_path / "out" / "report_verdicts.csv")
    main, random = split_at_group(verdicts, "family")
    vs = "mobilenetv2_050 OS16 rates 6,12,18: KSAC (concat) vs ASPP"
    for rows, delta in ((main, 6.0), (random, -1.0)):
        assert rows[(rows["comparison"] == vs) & (rows["metric"] == "mIoU")]["delta"].item() == pytest.approx(delta)
    assert set(main["family"]) >= {"primary"} and all(f.startswith(RANDOM_GROUP + " / ") for f in random["family"])
    assert "| **" + RANDOM_GROUP + "** |" in lead  # one row group in the verdict table

    compared = pd.read_csv(tmp_path / "out" / "report_ksac_vs_aspp.csv")
    main, random = split_at_group(compared, "backbone")
    assert list(main["seeds"]) == [3] and main["ASPP (%)"].item() == pytest.approx(51.0)  # not pooled: 3 seeds
    assert list(random["seeds"]) == [3] and random["ASPP (%)"].item() == pytest.approx(32.0)

    rates = pd.read_csv(tmp_path / "out" / "report_rates.csv")
    main, random = split_at_group(rates, "backbone")
    assert dict(zip(main["model"], main["mIoU (%)"])) == {"ASPP 6,12,18": "51.00 ± 1.00",
                                                          "KSAC (concat) 6,12,18": "57.00 ± 1.00"}
    assert dict(zip(random["model"], random["mIoU (%)"])) == {"ASPP 6,12,18": "32.00 ± 2.00",
                                                              "KSAC (concat) 6,12,18": "31.00 ± 2.00"}
    params = pd.read_csv(tmp_path / "out" / "report_params.csv")
    assert RANDOM_GROUP not in set(params["backbone"])  # parameters do not depend on the weights
    tex = (tmp_path / "out" / "report_rates.tex").read_text()
    assert r"\multicolumn{8}{l}{\emph{" + RANDOM_GROUP + "}}" in tex


def test_a_backbone_whose_provenance_describes_another_file_is_not_described_by_it(tmp_path, builtin):
    rows = [{**r, "backbone_sha256": "f" * 64} if r.get("backbone_weights") else r for r in mixed_rows(builtin)]
    io.write_csv(tmp_path / "ablation.csv", rows, COLUMNS)
    make_report(tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "sha256 `ffffffffffff`" in md and "describes another file" in md
    assert RECORD["command"] not in md


def test_an_old_csv_without_the_backbone_columns_reads_as_random_weights(tmp_path):
    old_columns = [c for c in COLUMNS if c not in ("backbone_weights", "backbone_sha256", "freeze_backbone")]
    rows = [{k: v for k, v in row(head, seed, m).items() if k in old_columns}
            for head, values in RANDOM.items() for seed, m in enumerate(values)]
    io.write_csv(tmp_path / "ablation.csv", rows, old_columns)
    df = ablation.load(tmp_path / "ablation.csv")
    assert set(df["backbone_weights"]) == {""} and not df["freeze_backbone"].any() and len(df) == 6
    make_report(tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert ("Every model starts from random weights: the whole network is initialised from each seed and trained "
            "for 10 iterations, 3 seeds per cell.") in md
    assert "for comparison" not in md and not re.search(r"\bnan\b", md, flags=re.I)

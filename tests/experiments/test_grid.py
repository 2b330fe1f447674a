"""Grid expansion: the cells asked for, seed-major in a stable order, each in its own run directory; seed
streams (the A/A check) named apart on disjoint seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ksac_cli.config import AblationGrid, RunConfig
from ksac_cli.experiments.grid import expand


def test_default_grid_is_two_heads_by_two_rate_sets_by_three_seeds_seed_major():
    """Every cell of seed 0, then of seed 1, ...: a grid stopped early holds complete sets of one seed."""
    cells = expand(RunConfig(), AblationGrid(), Path("out"))
    assert [(c.cfg.model.head, c.cfg.model.rates, c.seed) for c in cells] == [
        (head, rates, seed) for seed in (0, 1, 2) for rates in ((6, 12, 18), (6, 12, 18, 24))
        for head in ("aspp", "ksac")]
    assert [c.cfg.train.seed for c in cells] == [c.seed for c in cells]
    assert len({c.cfg.train.run_dir for c in cells}) == 12
    assert all(Path(c.cfg.train.run_dir).parent == Path("out") for c in cells)


def test_merges_seeds_and_backbones_multiply_but_aspp_is_not_repeated_per_merge():
    grid = AblationGrid(head=("aspp", "ksac"), rates=((1, 2),), backbone=("a", "b"), merge=("concat", "sum"), seeds=2)
    cells = expand(RunConfig(), grid, Path("o"))
    assert len(cells) == 2 * (1 + 2) * 2  # backbones x (aspp + 2 ksac merges) x seeds
    assert sorted({c.seed for c in cells}) == [0, 1]
    assert {c.cfg.train.seed for c in cells} == {0, 1}
    assert "a_ksac-sum_r1-2_os16_seed1" in [c.name for c in cells]
    assert not any("aspp-" in c.name for c in cells)


def test_seed_streams_repeat_every_cell_on_disjoint_seeds_under_other_names():
    """--streams 2 (the A/A check): each seed's cells twice, stream 1 named ..._stream1_seed<i> and trained with
    seed i + STREAM_SEED_OFFSET; stream 0 keeps the names (and so the rows) it had without streams."""
    from ksac_cli.config.schema import STREAM_SEED_OFFSET

    base = dataclasses.replace(RunConfig(), train=dataclasses.replace(RunConfig().train, seed=5))
    cells = expand(base, AblationGrid(head=("aspp",), rates=((6, 12, 18),), seeds=2, streams=2), Path("o"))
    assert [(c.name, c.seed, c.stream, c.cfg.train.seed) for c in cells] == [
        ("mobilenetv2_aspp_r6-12-18_os16_seed5", 5, 0, 5),
        ("mobilenetv2_aspp_r6-12-18_os16_stream1_seed5", 5, 1, 5 + STREAM_SEED_OFFSET),
        ("mobilenetv2_aspp_r6-12-18_os16_seed6", 6, 0, 6),
        ("mobilenetv2_aspp_r6-12-18_os16_stream1_seed6", 6, 1, 6 + STREAM_SEED_OFFSET)]
    assert [c.name for c in cells if c.stream == 0] == [
        c.name for c in expand(base, AblationGrid(head=("aspp",), rates=((6, 12, 18),), seeds=2), Path("o"))]
    # the two streams differ only in their seeds
    a, b = cells[0].cfg, cells[1].cfg
    assert dataclasses.replace(b, train=dataclasses.replace(b.train, seed=a.train.seed, run_dir=a.train.run_dir)) == a


def test_a_budget_grid_expands_only_once_its_seeds_are_fixed():
    grid = AblationGrid(budget="15m")
    assert grid.fixed_seeds() is None
    with pytest.raises(ValueError, match="plan them"):
        expand(RunConfig(), grid, Path("o"))
    assert AblationGrid().fixed_seeds() == 3 and AblationGrid(budget="15m", seeds=4).fixed_seeds() == 4
    assert len(expand(RunConfig(), dataclasses.replace(grid, seeds=2), Path("o"))) == 8


def test_a_cells_hash_follows_the_content_of_its_starting_backbone(tmp_path):
    """Issue 22: a new backbone file retrains every cell; the same bytes under another name do not."""
    import shutil

    import torch

    from ksac_cli.experiments.cells import config_hash

    files = {}
    for name, seed in (("a.pt", 0), ("b.pt", 1)):
        torch.manual_seed(seed)
        torch.save({"w": torch.randn(3)}, tmp_path / name)
        files[name] = str(tmp_path / name)
    shutil.copy(tmp_path / "a.pt", tmp_path / "a_copy.pt")

    def cell(weights):
        return dataclasses.replace(RunConfig(), model=dataclasses.replace(RunConfig().model, backbone_weights=weights))

    hashes = {name: config_hash(cell(path)) for name, path in {**files, "a_copy.pt": str(tmp_path / "a_copy.pt")}.items()}
    assert hashes["a.pt"] != hashes["b.pt"]
    assert hashes["a.pt"] == hashes["a_copy.pt"]
    assert config_hash(cell(None)) not in hashes.values()
    (tmp_path / "a.pt").write_bytes((tmp_path / "b.pt").read_bytes())  # the file changed under the same path
    assert config_hash(cell(files["a.pt"])) == hashes["b.pt"]

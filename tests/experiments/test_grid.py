"""Grid expansion: the cells asked for, in a stable order, each in its own run directory."""

from __future__ import annotations

from pathlib import Path

from ksac_cli.config import AblationGrid, RunConfig
from ksac_cli.experiments.grid import expand


def test_default_grid_is_two_heads_by_two_rate_sets_by_three_seeds():
    cells = expand(RunConfig(), AblationGrid(), Path("out"))
    assert [(c.cfg.model.head, c.cfg.model.rates, c.seed) for c in cells] == [
        (head, rates, seed) for rates in ((6, 12, 18), (6, 12, 18, 24)) for head in ("aspp", "ksac")
        for seed in (0, 1, 2)]
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

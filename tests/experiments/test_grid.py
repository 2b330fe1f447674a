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


def test_a_cells_hash_follows_the_content_of_its_starting_backbone(tmp_path):
    """Issue 22: a new backbone file retrains every cell; the same bytes under another name do not."""
    import dataclasses
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

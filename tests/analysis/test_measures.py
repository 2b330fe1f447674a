"""The three measurements of `ksac analyze` against answers known by construction: the ERF of one dilated
conv, mass radii of hand-made maps, silenced branches against a head computed by hand, the rescaling
of image and mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ksac_cli.analysis.branches import atrous_branches, silenced
from ksac_cli.analysis.erf import effective_receptive_field, mass_radii
from ksac_cli.data.transforms import eval_transform
from ksac_cli.models.heads import ASPP, KSAC


@pytest.mark.parametrize("rate", [1, 2, 5])
def test_erf_of_one_dilated_conv_is_its_nine_taps(rate):
    torch.manual_seed(rate)
    side = 4 * rate + 7  # odd: the centre output sits on the centre input
    conv = nn.Conv2d(3, 4, 3, padding=rate, dilation=rate)
    erf = effective_receptive_field(conv, torch.randn(2, 3, side, side))
    c = side // 2
    taps = {(c + dy * rate, c + dx * rate) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    support = {tuple(map(int, p)) for p in np.argwhere(erf > 0)}
    assert support == taps
    # the value at each tap is the mean over input channels of |sum over output channels of that tap's weight|
    expected = conv.weight.detach().sum(dim=0).abs().mean(dim=0).double().numpy()  # (3, 3)
    for (y, x) in taps:
        assert erf[y, x] == pytest.approx(expected[(y - c) // rate + 1, (x - c) // rate + 1], rel=1e-6)

    with torch.no_grad():
        conv.weight.fill_(1.0)  # a symmetric kernel gives a symmetric map
    erf = effective_receptive_field(conv, torch.randn(2, 3, side, side))
    assert np.array_equal(erf, erf[::-1, :]) and np.array_equal(erf, erf[:, ::-1]) and np.array_equal(erf, erf.T)


def test_mass_radii_of_hand_made_maps():
    point = np.zeros((9, 9))
    point[4, 4] = 1.0
    assert mass_radii(point) == [0.0, 0.0]
    cross = np.zeros((9, 9))
    cross[4, 4] = 0.4  # 40% at the centre, 15% at each of 4 points 3 cells away
    for y, x in ((1, 4), (7, 4), (4, 1), (4, 7)):
        cross[y, x] = 0.15
    assert mass_radii(cross, (0.3, 0.5, 0.9)) == [0.0, 3.0, 3.0]
    assert all(np.isnan(mass_radii(np.zeros((5, 5)))))


def _by_hand(head: nn.Module, x: torch.Tensor, zero: int) -> torch.Tensor:
    """The head's forward pass written out, with atrous branch `zero`'s output replaced by zeros."""
    if isinstance(head, ASPP):
        atrous = [torch.zeros_like(b(x)) if i == zero else b(x) for i, b in enumerate(head.atrous)]
    else:
        atrous = [torch.zeros_like(y) if i == zero else y for i, y in enumerate(head.atrous(x))]
        if head.merge == "sum":
            atrous = [torch.stack(atrous).sum(dim=0)]
    return head.project(torch.cat([head.pointwise(x), *atrous, head.pooling(x)], dim=1))


@pytest.mark.parametrize("make", [lambda: ASPP(8, (1, 2, 3), 8), lambda: KSAC(8, (1, 2, 3), 8),
                                  lambda: KSAC(8, (1, 2, 3), 8, merge="sum"),
                                  lambda: KSAC(8, (1, 2, 3), 8, ksac_impl="conv")], ids=["aspp", "ksac", "ksac-sum", "ksac-conv"])
def test_silencing_a_branch_equals_the_head_computed_by_hand(make):
    torch.manual_seed(0)
    head = make()
    for bn in head.modules():  # running statistics other than 0/1, so a zero after BN is not a zero before it
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    head.eval()
    x = torch.randn(2, 8, 11, 11)
    with torch.no_grad():
        full = head(x)
        for i in range(len(head.rates)):
            with silenced([atrous_branches(head)[i]]):
                out = head(x)
            assert torch.allclose(out, _by_hand(head, x, i), atol=1e-6)
            assert not torch.allclose(out, full, atol=1e-4)  # each branch matters to a random head
        with silenced(atrous_branches(head)):
            assert not torch.allclose(head(x), full, atol=1e-4)
        assert torch.equal(head(x), full)  # the hooks are gone after the block
    assert len(atrous_branches(head)) == 3


def interior(region: torch.Tensor) -> torch.Tensor:
    """The pixels of `region` whose 3x3 neighbourhood is all in it (an erosion: edges may blend)."""
    return -F.max_pool2d(-region.float()[None, None], 3, 1, 1)[0, 0] == 1


def test_rescaling_moves_image_and_mask_together():
    rng = np.random.default_rng(0)
    mask = np.zeros((30, 41), dtype=np.uint8)
    mask[5:20, 8:30] = 3
    mask[22:28, 2:9] = 255
    colour = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0], [255, 0, 0]], dtype=np.uint8)
    image = Image.fromarray(np.where(mask[..., None] == 3, colour[3], rng.integers(0, 60, (30, 41, 3))).astype(np.uint8))
    for factor in (0.5, 1.0, 1.75):
        img, msk = eval_transform(factor)(image, mask)
        assert tuple(msk.shape) == (round(30 * factor), round(41 * factor)) == tuple(img.shape[1:])
        assert set(torch.unique(msk).tolist()) == {0, 3, 255}  # nearest: no new labels
        red = img[0] > 0.5  # normalised red channel: pure red 2.25, the dark background below -1
        assert bool(red[interior(msk == 3)].all()) and not bool(red[interior(msk == 0)].any())
    identity_img, identity_msk = eval_transform(1.0)(image, mask)
    assert torch.equal(identity_msk, torch.from_numpy(mask).long())

"""Losses checked against arithmetic written out by hand on a 2x2 image."""

from __future__ import annotations

import math

import pytest
import torch

from glofwatch.errors import ConfigError, InputError
from glofwatch.train.losses import LOSSES, build_loss, loss_params

# One 2x2 image: logits z and lake target y.
Z = [[0.0, 2.0], [-1.0, 3.0]]
Y = [[0, 1], [1, 1]]


def sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def logits() -> torch.Tensor:
    return torch.tensor(Z, dtype=torch.float32).reshape(1, 1, 2, 2)


def target() -> torch.Tensor:
    return torch.tensor(Y, dtype=torch.int64).reshape(1, 2, 2)


# Per-pixel BCE by hand: -log(1 - p) for background, -log(p) for lake.
BCE_PIXELS = [
    -math.log(1 - sig(0.0)),  # y=0, z=0 -> log 2
    -math.log(sig(2.0)),
    -math.log(sig(-1.0)),
    -math.log(sig(3.0)),
]


def test_registry_names():
    assert LOSSES.names() == ["bce", "bce+dice", "ce", "dice", "focal"]


def test_bce_by_hand():
    loss = build_loss("bce")(logits(), target())
    assert loss.item() == pytest.approx(sum(BCE_PIXELS) / 4, rel=1e-6)
    assert BCE_PIXELS[0] == pytest.approx(math.log(2))


def test_bce_pos_weight_by_hand():
    # lake pixels (the last three) weigh 3; mean still over the 4 pixels
    expected = (BCE_PIXELS[0] + 3 * sum(BCE_PIXELS[1:])) / 4
    loss = build_loss("bce", pos_weight=3.0)(logits(), target())
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_bce_valid_mask_excludes_pixels():
    valid = torch.tensor([[True, False], [True, True]]).reshape(1, 2, 2)
    expected = (BCE_PIXELS[0] + BCE_PIXELS[2] + BCE_PIXELS[3]) / 3
    loss = build_loss("bce")(logits(), target(), valid)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the excluded pixel gets no gradient, even with a huge wrong logit there
    z = logits().clone()
    z[0, 0, 0, 1] = -50.0
    z.requires_grad_(True)
    build_loss("bce")(z, target(), valid).backward()
    assert z.grad[0, 0, 0, 1].item() == 0.0
    assert torch.isfinite(z.grad).all()


def test_bce_numerically_stable_for_large_logits():
    z = torch.tensor([[1000.0, -1000.0]]).reshape(1, 1, 1, 2)
    y = torch.tensor([[0, 1]]).reshape(1, 1, 2)
    loss = build_loss("bce")(z, y)
    assert loss.item() == pytest.approx(1000.0)


def test_focal_by_hand():
    alpha, gamma = 0.25, 2.0
    p = [sig(v) for row in Z for v in row]
    y = [v for row in Y for v in row]
    expected = 0.0
    for pi, yi in zip(p, y, strict=True):
        pt = pi if yi == 1 else 1 - pi
        at = alpha if yi == 1 else 1 - alpha
        expected += -at * (1 - pt) ** gamma * math.log(pt)
    expected /= 4
    loss = build_loss("focal")(logits(), target())
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # pixel 0: p=0.5, background: 0.75 * 0.5**2 * log 2
    assert 0.75 * 0.25 * math.log(2) == pytest.approx(-(1 - alpha) * (1 - (1 - p[0])) ** 2 * math.log(1 - p[0]))


def test_focal_gamma0_alpha_none_equals_bce():
    torch.manual_seed(0)
    z = torch.randn(2, 1, 8, 8) * 3
    y = (torch.rand(2, 8, 8) > 0.6).long()
    valid = torch.rand(2, 8, 8) > 0.2
    focal = build_loss("focal", alpha=None, gamma=0.0)(z, y, valid)
    bce = build_loss("bce")(z, y, valid)
    assert focal.item() == pytest.approx(bce.item(), rel=1e-6)


def test_ce_equals_bce():
    torch.manual_seed(1)
    z = torch.randn(3, 1, 8, 8) * 4
    y = (torch.rand(3, 1, 8, 8) > 0.5).float()
    valid = torch.rand(3, 8, 8) > 0.3
    for v in (None, valid):
        ce = build_loss("ce")(z, y, v)
        bce = build_loss("bce")(z, y, v)
        assert ce.item() == pytest.approx(bce.item(), rel=1e-5)
    assert build_loss("ce")(logits(), target()).item() == pytest.approx(sum(BCE_PIXELS) / 4, rel=1e-6)


def test_dice_by_hand():
    p = [sig(v) for row in Z for v in row]
    y = [v for row in Y for v in row]
    inter = sum(pi * yi for pi, yi in zip(p, y, strict=True))
    for s in (1.0, 0.0):
        expected = 1 - (2 * inter + s) / (sum(y) + sum(p) + s)
        loss = build_loss("dice", smooth=s)(logits(), target())
        assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_dice_smoothing_term_effect():
    # all background, predicted all background-ish: without smoothing the loss is 1,
    # with smooth=1 it tends to 0 as predictions get confident
    z = torch.full((1, 1, 2, 2), -20.0)
    y = torch.zeros(1, 2, 2)
    p = sig(-20.0)
    assert build_loss("dice", smooth=0.0)(z, y).item() == pytest.approx(1.0)
    smoothed = build_loss("dice", smooth=1.0)(z, y).item()
    assert smoothed == pytest.approx(1 - 1 / (4 * p + 1), abs=1e-7)
    assert smoothed < 1e-6


def test_dice_perfect_prediction_near_zero():
    y = torch.tensor([[[0, 1], [1, 1]]])
    z = (y.float() * 2 - 1).reshape(1, 1, 2, 2) * 30  # +-30 logits
    assert build_loss("dice")(z, y).item() == pytest.approx(0.0, abs=1e-6)


def test_dice_batch_vs_per_image_by_hand():
    # image 0 is the reference 2x2 image, image 1 has no lake and logits 0 (p = 0.5)
    z = torch.cat([logits(), torch.zeros(1, 1, 2, 2)])
    y = torch.cat([target(), torch.zeros(1, 2, 2, dtype=torch.int64)])
    p0 = [sig(v) for row in Z for v in row]
    y0 = [v for row in Y for v in row]
    i0 = sum(a * b for a, b in zip(p0, y0, strict=True))
    d0 = 1 - (2 * i0 + 1) / (sum(y0) + sum(p0) + 1)
    d1 = 1 - (0 + 1) / (0 + 4 * 0.5 + 1)  # = 2/3
    batch = 1 - (2 * i0 + 1) / (sum(y0) + sum(p0) + 2.0 + 1)
    assert build_loss("dice")(z, y).item() == pytest.approx(batch, rel=1e-6)
    assert build_loss("dice", per_image=True)(z, y).item() == pytest.approx((d0 + d1) / 2, rel=1e-6)


def test_dice_valid_mask():
    valid = torch.tensor([[[True, True], [False, True]]])
    p = [sig(0.0), sig(2.0), sig(3.0)]
    y = [0, 1, 1]
    inter = sum(a * b for a, b in zip(p, y, strict=True))
    expected = 1 - (2 * inter + 1) / (sum(y) + sum(p) + 1)
    assert build_loss("dice")(logits(), target(), valid).item() == pytest.approx(expected, rel=1e-6)


def test_bce_plus_dice_weighted_sum():
    bce = build_loss("bce")(logits(), target()).item()
    dice = build_loss("dice")(logits(), target()).item()
    combo = build_loss("bce+dice", bce_weight=0.5, dice_weight=2.0)(logits(), target()).item()
    assert combo == pytest.approx(0.5 * bce + 2.0 * dice, rel=1e-6)
    assert build_loss("bce+dice")(logits(), target()).item() == pytest.approx(bce + dice, rel=1e-6)


@pytest.mark.parametrize("name", ["bce", "focal", "dice", "ce", "bce+dice"])
def test_gradients_finite_and_nonzero(name):
    torch.manual_seed(2)
    z = (torch.randn(2, 1, 6, 6) * 10).requires_grad_(True)
    y = (torch.rand(2, 6, 6) > 0.5).long()
    valid = torch.rand(2, 6, 6) > 0.25
    loss = build_loss(name)(z, y, valid)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert torch.isfinite(z.grad).all()
    assert z.grad.abs().sum() > 0
    assert (z.grad[:, 0][~valid] == 0).all()


@pytest.mark.parametrize("name", ["bce", "focal", "ce", "dice"])
def test_no_valid_pixels_gives_zero(name):
    z = torch.randn(1, 1, 2, 2, requires_grad=True)
    loss = build_loss(name)(z, torch.ones(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.0)
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_unknown_name_suggests_close_match():
    with pytest.raises(ConfigError, match=r"unknown loss 'dise'; did you mean 'dice' or 'bce\+dice'\? "
                                          r"\(known: bce, bce\+dice, ce, dice, focal\)"):
        build_loss("dise")


def test_unknown_parameter_names_accepted():
    with pytest.raises(ConfigError, match=r"loss 'focal' has no parameter 'gama'; did you mean 'gamma'\? "
                                          r"\(accepted: alpha, gamma\)"):
        build_loss("focal", gama=2)
    with pytest.raises(ConfigError, match=r"loss 'ce' has no parameter 'smooth' \(accepted: none\)"):
        build_loss("ce", smooth=1.0)
    assert loss_params("bce+dice") == ["bce_weight", "dice_weight", "pos_weight", "smooth", "per_image"]


def test_bad_parameter_values():
    with pytest.raises(ConfigError, match=r"focal loss: alpha=1.5 is not a number in \[0, 1\]"):
        build_loss("focal", alpha=1.5)
    with pytest.raises(ConfigError, match=r"bce loss: pos_weight=0 is not a number in \(0, inf\)"):
        build_loss("bce", pos_weight=0)
    with pytest.raises(ConfigError, match="both 0"):
        build_loss("bce+dice", bce_weight=0, dice_weight=0)


def test_shape_errors():
    with pytest.raises(InputError, match=r"logits have shape \(1, 2, 2, 2\), expected \(N, 1, H, W\)"):
        build_loss("bce")(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2))
    with pytest.raises(InputError, match=r"target has shape \(1, 3, 3\), expected \(1, 2, 2\) or \(N, 1, H, W\)"):
        build_loss("dice")(torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 3))

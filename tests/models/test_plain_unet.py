"""The plain U-Net matches the study's Keras network layer for layer."""

from __future__ import annotations

import torch
from torch import nn

from glofwatch.models.plain_unet import PlainUNet


def _conv3(c_in: int, c_out: int) -> int:
    return 9 * c_in * c_out + c_out


def _up2(c_in: int, c_out: int) -> int:
    return 4 * c_in * c_out + c_out


def _keras_unet_params(c_in: int, widths: list[int]) -> int:
    total, c = 0, c_in
    for w in widths:  # encoder levels and bottleneck: 2 convs each
        total += _conv3(c, w) + _conv3(w, w)
        c = w
    for lo, hi in zip(reversed(widths[:-1]), reversed(widths[1:]), strict=True):
        total += _up2(hi, lo) + _conv3(2 * lo, lo) + _conv3(lo, lo)
    return total + widths[0] + 1  # 1x1 head, one output channel


def test_param_count_equals_keras_notebook():
    net = PlainUNet(in_channels=3)
    n = sum(p.numel() for p in net.parameters())
    assert n == _keras_unet_params(3, [64, 128, 256, 512, 1024]) == 31_031_745


def test_layers_follow_the_notebook():
    net = PlainUNet(in_channels=3)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs[:10]] == [64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024]
    assert all(c.padding == (1, 1) for c in convs if c.kernel_size == (3, 3))  # 'same'
    ups = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels, u.kernel_size, u.stride) for u in ups] == [
        (1024, 512, (2, 2), (2, 2)),
        (512, 256, (2, 2), (2, 2)),
        (256, 128, (2, 2), (2, 2)),
        (128, 64, (2, 2), (2, 2)),
    ]
    assert net.head.kernel_size == (1, 1) and net.head.out_channels == 1
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert all(c.bias is not None and torch.all(c.bias == 0) for c in convs)  # Keras zero bias


def test_batch_norm_option_and_tiny_shape():
    net = PlainUNet(in_channels=4, base_width=8, depth=2, batch_norm=True)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 2 * 5  # two per level: 2 down, bottleneck, 2 up
    assert all(c.bias is None for c in net.modules() if isinstance(c, nn.Conv2d) and c.kernel_size == (3, 3))
    assert net.stride == 4
    assert net(torch.zeros(1, 4, 12, 20)).shape == (1, 1, 12, 20)
    plain = PlainUNet(in_channels=3, base_width=8, depth=2)
    assert sum(p.numel() for p in plain.parameters()) == _keras_unet_params(3, [8, 16, 32])

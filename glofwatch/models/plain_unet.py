"""The study's U-Net without a backbone, rebuilt in PyTorch from the Keras notebook.

The notebook's network ("U-Net (none)" in the study's tables): four encoder
levels of 64/128/256/512 channels and a 1024-channel bottleneck; each level is
two 3x3 convolutions with ReLU and ``same`` padding; 2x2 max-pooling down;
2x2 stride-2 transposed convolutions up, concatenated with the skip; a 1x1
convolution head. The notebook has no BatchNorm (``batch_norm=False`` matches
it) and uses Keras' default initialisation (Glorot-uniform kernels, zero
biases), reproduced here. The head returns one logit channel, not a sigmoid
probability: losses take logits.

Example:
    >>> net = PlainUNet(in_channels=3)
    >>> net(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 1, 64, 64])
"""

from __future__ import annotations

import torch
from torch import nn

from glofwatch.errors import InputError
from glofwatch.models.spec import ModelSpec, register_model


def _double_conv(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    """Two 3x3 ``same`` convolutions, each followed by (BatchNorm and) ReLU."""
    layers: list[nn.Module] = []
    for c_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class PlainUNet(nn.Module):
    """Keras-style U-Net with no pretrained encoder.

    Args:
        in_channels: input bands (3 for RGB, 4 for B04/B03/B02/B08, ...).
        classes: output logit channels (1: lake vs background).
        base_width: channels of the first level; level ``i`` has ``base_width * 2**i``.
        depth: number of down-sampling steps; H and W must be multiples of ``2**depth``.
        batch_norm: add BatchNorm after every 3x3 convolution (not in the study).

    Shapes:
        input (N, in_channels, H, W) float32 -> logits (N, classes, H, W) float32.
    """

    def __init__(
        self,
        in_channels: int = 3,
        classes: int = 1,
        base_width: int = 64,
        depth: int = 4,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        widths = [base_width * 2**i for i in range(depth + 1)]  # last one is the bottleneck
        self.depth = depth
        self.down = nn.ModuleList()
        c_in = in_channels
        for width in widths[:-1]:
            self.down.append(_double_conv(c_in, width, batch_norm))
            c_in = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(widths[-2], widths[-1], batch_norm)
        self.up = nn.ModuleList()
        self.decode = nn.ModuleList()
        for width, below in zip(reversed(widths[:-1]), reversed(widths[1:]), strict=True):
            self.up.append(nn.ConvTranspose2d(below, width, 2, stride=2))
            self.decode.append(_double_conv(2 * width, width, batch_norm))
        self.head = nn.Conv2d(widths[0], classes, 1)
        self._init_keras()

    @property
    def stride(self) -> int:
        """H and W of the input must be multiples of this (``2**depth``)."""
        return 2**self.depth

    def _init_keras(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (N, classes, H, W) for images (N, C, H, W)."""
        h, w = x.shape[-2:]
        s = self.stride
        if h % s or w % s:
            raise InputError(
                f"input is {h}x{w} but this U-Net needs H and W divisible by {s}; "
                f"pad the image to {-(-h // s) * s}x{-(-w // s) * s}"
            )
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.up, self.decode, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def _plain_builder(base_width: int, depth: int):
    def build(in_channels: int = 3, **overrides: object) -> nn.Module:
        kwargs: dict = {"base_width": base_width, "depth": depth, **overrides}
        return PlainUNet(in_channels=in_channels, **kwargs)

    return build


register_model(
    ModelSpec(
        name="unet",
        family="unet",
        encoder=None,
        description="plain Keras-style U-Net, 64..512 + 1024 bottleneck, no backbone "
        "(option batch_norm=True)",
        study_row="U-Net (none)",
        default_weights=None,
        stride=16,
        fast=False,
        builder=_plain_builder(64, 4),
    )
)

register_model(
    ModelSpec(
        name="tiny-unet",
        family="unet",
        encoder=None,
        description="tiny plain U-Net (width 8, depth 2) for tests; not for real mapping",
        study_row=None,
        default_weights=None,
        stride=4,
        fast=True,
        builder=_plain_builder(8, 2),
        for_tests=True,
    )
)

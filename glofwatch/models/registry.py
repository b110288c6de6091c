"""Segmentation models by name: one :class:`ModelSpec` per entry, built with :func:`build_model`.

Every model maps an image (N, C, H, W) float32 to ONE logit channel
(N, 1, H, W): lake vs background. Entries live next to their code
(:mod:`glofwatch.models.smp_models`, :mod:`glofwatch.models.plain_unet`);
importing :mod:`glofwatch.models` registers them all. The ``glofwatch models``
command and the README table are built from :func:`list_models`.

Weights are never downloaded: models are constructed with random weights and
:mod:`glofwatch.models.weights` loads ImageNet or local weights from disk.

Example:
    >>> from glofwatch.models import build_model
    >>> net = build_model("tiny-unet", weights=None)
    >>> net(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 1, 64, 64])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glofwatch.errors import ConfigError
from glofwatch.registry import Registry

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What a registered model is and how to build it.

    Attributes:
        name: registry name, e.g. ``"deeplabv3plus-resnet50"``.
        family: decoder family, ``"deeplabv3plus"`` or ``"unet"``.
        encoder: smp encoder name (``"resnet50"``, ``"tu-tf_efficientnet_lite0"``) or
            None for the plain U-Net without backbone.
        description: one line for ``glofwatch models``.
        study_row: the row of the study's Table I this model reproduces, or None.
        default_weights: ``"imagenet"`` or None (random init) for ``weights="default"``.
        stride: input H and W must be multiples of this (predictors pad to it).
        fast: small enough to train and map on a laptop CPU.
        builder: ``builder(in_channels=..., **overrides) -> nn.Module`` with random weights.
        for_tests: a toy model for tests, not for real mapping.
    """

    name: str
    family: str
    encoder: str | None
    description: str
    study_row: str | None
    default_weights: str | None
    stride: int
    fast: bool
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)
    for_tests: bool = False


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` under ``spec.name``."""
    MODELS.register(spec.name, spec)
    return spec


def get_spec(name: str) -> ModelSpec:
    """Return the spec called ``name``; unknown names raise ConfigError with close matches."""
    return MODELS.get(name)


def list_models() -> list[ModelSpec]:
    """All specs: the study's models first, then the others, test models last (by name)."""
    specs = [spec for _, spec in MODELS.items()]
    return sorted(specs, key=lambda s: (s.for_tests, s.study_row is None, s.name))


def build_model(
    name: str,
    weights: str | None = "default",
    in_channels: int = 3,
    **overrides: Any,
) -> nn.Module:
    """Build a registered model and load its weights from disk (never from the internet).

    Args:
        name: registry name (see ``glofwatch models``).
        weights: ``"default"`` (ImageNet when the encoder's weights are on disk,
            else random init with an info log line), ``"imagenet"`` (error when not
            on disk), ``None``/``"none"`` (random init), or the path of a state dict
            or checkpoint (see :func:`glofwatch.models.weights.load_weights_file`).
        in_channels: input bands; with ImageNet weights the first convolution gets
            the RGB filters for channels 0-2 (R, G, B) and their mean for the others
            (see :func:`glofwatch.models.weights.adapt_first_conv`).
        **overrides: passed to the builder (e.g. ``batch_norm=True`` for ``unet``,
            ``decoder_atrous_rates=(12, 24, 36)`` for DeepLabV3+).

    Returns:
        A module mapping (N, in_channels, H, W) float32 to logits (N, 1, H, W);
        H and W must be multiples of ``get_spec(name).stride``.

    Raises:
        ConfigError: unknown name, bad ``in_channels`` or an option the model does not take.
        WeightsError: weights asked for cannot be had offline, or a file does not fit.
    """
    spec = get_spec(name)
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ConfigError(f"in_channels must be a positive integer, got {in_channels!r}")
    from glofwatch.models.weights import apply_weights, plan_weights

    plan = plan_weights(spec, weights)  # fail on unavailable weights before building
    try:
        model = spec.builder(in_channels=in_channels, **overrides)
    except TypeError as exc:
        if not overrides:
            raise
        raise ConfigError(
            f"model '{name}' does not take option(s) {', '.join(sorted(overrides))} ({exc}); "
            "drop them or pick another model"
        ) from exc
    apply_weights(model, spec, plan, in_channels)
    return model


def model_stride(model: nn.Module) -> int:
    """Multiple that H and W must have for ``model`` as built (after overrides).

    Reads ``model.stride`` (plain U-Net) or ``model.encoder.output_stride`` (smp).
    """
    stride = getattr(model, "stride", None)
    if isinstance(stride, int):
        return stride
    encoder = getattr(model, "encoder", None)
    stride = getattr(encoder, "output_stride", None)
    if isinstance(stride, int):
        return stride
    raise ConfigError(f"cannot tell the input stride of {type(model).__name__}; pad inputs to 32")


def count_params(spec: ModelSpec, in_channels: int = 3) -> int:
    """Number of parameters of ``spec``'s model, counted without allocating weights."""
    import torch

    with torch.device("meta"):
        model = spec.builder(in_channels=in_channels)
    return sum(p.numel() for p in model.parameters())

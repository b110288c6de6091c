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

from typing import TYPE_CHECKING, Any

from glofwatch.errors import ConfigError
from glofwatch.models.spec import (
    MODELS,
    ModelSpec,
    get_spec,
    list_models,
    register_model,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = ["MODELS", "ModelSpec", "build_model", "count_params", "get_spec", "list_models", "model_stride",
           "register_model"]


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


def encoder_stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """RGB (mean, std) the model's encoder was pretrained with, from the encoder's own config.

    timm encoders (``tu-...``) answer from their pretrained config, offline; smp's own
    encoders (ResNet50, EfficientNet-B0) and models without a pretrained encoder use ImageNet's.

    Example:
        >>> encoder_stats("unet-efflite0")
        ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    """
    from glofwatch.data.normalize import IMAGENET_MEAN, IMAGENET_STD

    encoder = get_spec(name).encoder or ""
    if encoder.startswith("tu-"):
        import timm

        cfg = timm.models.get_pretrained_cfg(encoder[3:])
        if cfg is not None and cfg.mean and cfg.std:
            return tuple(float(m) for m in cfg.mean), tuple(float(s) for s in cfg.std)
    return tuple(IMAGENET_MEAN), tuple(IMAGENET_STD)


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

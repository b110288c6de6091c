"""Losses for binary lake segmentation with one logit channel.

Every model in glofwatch outputs ONE logit channel per pixel (lake vs not
lake). Every loss here is an ``nn.Module`` called as
``loss(logits, target, valid=None)``:

* ``logits``: (N, 1, H, W) float, raw scores before the sigmoid;
* ``target``: (N, H, W) or (N, 1, H, W), values in {0, 1} (any dtype);
* ``valid``: optional (N, H, W) or (N, 1, H, W) bool, True where a pixel is
  scored; nodata pixels (False) take no part in the loss or its gradient.

It returns a scalar tensor. Pixel-wise losses (``bce``, ``focal``, ``ce``)
are the plain mean over valid pixels; ``dice`` is one overlap ratio over
the whole batch (or the mean of per-image ratios, ``per_image=True``).
A batch with no valid pixel gives a loss of 0 (still attached to the graph).
Losses are computed in float32 whatever the logits dtype (AMP-safe).

The per-pixel terms and the Dice ratio come from segmentation-models-pytorch
(``SoftBCEWithLogitsLoss``, ``focal_loss_with_logits``, ``soft_dice_score``); what is
ours is the nodata handling and the reductions. smp's own ``DiceLoss`` is not used as a
whole: it zeroes the loss of a batch without lake pixels (false alarms in lake-free
images would go unpunished), and its ``ignore_index`` mean divides by all pixels.

Losses are built by name, e.g. from a preset::

    >>> loss = build_loss("focal", alpha=0.25, gamma=2.0)
    >>> loss = build_loss("bce+dice", dice_weight=0.5)

Names: ``bce``, ``focal``, ``dice``, ``ce``, ``bce+dice`` (see each class).
"""

from __future__ import annotations

import inspect
import math
from numbers import Real

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import SoftBCEWithLogitsLoss
from segmentation_models_pytorch.losses._functional import focal_loss_with_logits, soft_dice_score
from torch import Tensor, nn

from glofwatch.errors import ConfigError, InputError
from glofwatch.registry import Registry, close_matches_hint

LOSSES: Registry[type[nn.Module]] = Registry("loss")


def _as_map(x: Tensor, name: str, shape: torch.Size | None) -> Tensor:
    """Return ``x`` as (N, H, W), accepting (N, 1, H, W); check it matches ``shape``."""
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or (shape is not None and x.shape != shape):
        want = "(N, 1, H, W)" if shape is None else f"{tuple(shape)} or (N, 1, H, W)"
        raise InputError(
            f"{name} has shape {tuple(x.shape)}, expected {want}; "
            "pass one logit channel and (N, H, W) masks of the same size"
        )
    return x


def prepare(
    logits: Tensor, target: Tensor, valid: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Check shapes and return (N, H, W) float32 logits, targets and valid weights.

    Args:
        logits: (N, 1, H, W) float logits.
        target: (N, H, W) or (N, 1, H, W) in {0, 1}.
        valid: optional (N, H, W) or (N, 1, H, W) bool mask of scored pixels.

    Returns:
        ``(z, t, w)``: logits, targets and valid weights (1.0 / 0.0, or None), all
        (N, H, W) float32.

    Raises:
        InputError: logits are not (N, 1, H, W), or target/valid do not match them.
    """
    if logits.ndim != 4 or logits.shape[1] != 1:
        raise InputError(
            f"logits have shape {tuple(logits.shape)}, expected (N, 1, H, W); "
            "binary lake models must output one logit channel"
        )
    z = logits[:, 0].float()
    t = _as_map(target, "target", z.shape).to(z.dtype)
    w = None if valid is None else _as_map(valid, "valid", z.shape).to(z.dtype)
    return z, t, w


def _masked_mean(per_pixel: Tensor, w: Tensor | None) -> Tensor:
    """Mean of ``per_pixel`` over pixels with ``w > 0`` (0 if there are none)."""
    if w is None:
        return per_pixel.mean()
    per_pixel = torch.where(w > 0, per_pixel, torch.zeros_like(per_pixel))
    return per_pixel.sum() / w.sum().clamp_min(1.0)


def _check_number(
    loss: str, param: str, value: object, low: float, high: float = math.inf, *, open_low: bool = False
) -> float:
    """Return ``value`` as float if it is a real number in range, else raise ConfigError."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        v = float(value)  # type: ignore[arg-type]  # a Real, checked above
        ok = (v > low if open_low else v >= low) and v <= high
    if not ok:
        bracket = "(" if open_low else "["
        upper = "inf)" if math.isinf(high) else f"{high:g}]"
        raise ConfigError(
            f"{loss} loss: {param}={value!r} is not a number in {bracket}{low:g}, {upper}; "
            f"fix the {param} value in the preset or option"
        )
    return v


class PixelLoss(nn.Module):
    """A loss that is the mean of a per-pixel term over the valid pixels (``bce``, ``focal``, ``ce``)."""

    def pixel_loss(self, z: Tensor, t: Tensor) -> Tensor:
        """Per-pixel loss (N, H, W) float32 for logits ``z`` and targets ``t``."""
        raise NotImplementedError

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        """Scalar loss; see the module docstring for shapes."""
        z, t, w = prepare(logits, target, valid)
        return _masked_mean(self.pixel_loss(z, t), w)


@LOSSES.register("bce")
class BCELoss(PixelLoss):
    """Binary cross-entropy on logits, mean over valid pixels.

    Per pixel: ``-[w_pos * y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z))]``,
    computed stably by ``F.binary_cross_entropy_with_logits``. The mean divides by
    the number of valid pixels (not by the sum of weights), as torch does.

    Args:
        pos_weight: weight ``w_pos`` of lake pixels (> 0); None means 1.
    """

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        self.pos_weight_value = None if pos_weight is None else _check_number(
            "bce", "pos_weight", pos_weight, 0.0, open_low=True
        )
        pw = None if pos_weight is None else torch.tensor(self.pos_weight_value)
        self.bce = SoftBCEWithLogitsLoss(pos_weight=pw, reduction="none")

    def pixel_loss(self, z: Tensor, t: Tensor) -> Tensor:
        """Per-pixel loss, (N, H, W) float32."""
        return self.bce(z, t)

    def extra_repr(self) -> str:
        return f"pos_weight={self.pos_weight_value}"


@LOSSES.register("focal")
class FocalLoss(PixelLoss):
    """Binary focal loss (Lin et al. 2017), mean over valid pixels.

    Per pixel, with ``p = sigmoid(z)`` and ``p_t = p`` for lake pixels, ``1 - p``
    otherwise: ``FL = -alpha_t * (1 - p_t) ** gamma * log(p_t)``, where
    ``alpha_t = alpha`` for lake pixels and ``1 - alpha`` otherwise.
    ``-log(p_t)`` is taken from the stable BCE-with-logits. ``gamma=0`` and
    ``alpha=None`` give exactly ``bce``. The study's alpha/gamma are unknown;
    the defaults are those of Lin et al. and of Keras ``segmentation_models``.

    Args:
        alpha: weight of lake pixels in [0, 1]; None switches alpha weighting off.
        gamma: focusing exponent >= 0.
    """

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha = None if alpha is None else _check_number("focal", "alpha", alpha, 0.0, 1.0)
        self.gamma = _check_number("focal", "gamma", gamma, 0.0)

    def pixel_loss(self, z: Tensor, t: Tensor) -> Tensor:
        """Per-pixel loss, (N, H, W) float32."""
        return focal_loss_with_logits(z, t, gamma=self.gamma, alpha=self.alpha, reduction="none")

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}"


@LOSSES.register("dice")
class DiceLoss(nn.Module):
    """Soft Dice loss on sigmoid probabilities, study eq. (2) with smoothing ``s``.

    ``loss = 1 - (2 * sum(y * p) + s) / (sum(y) + sum(p) + s)`` with
    ``p = sigmoid(z)``, sums over valid pixels only.

    Reduction: by default (``per_image=False``) the sums run over the WHOLE
    batch, so large lakes weigh more and an image without lakes only adds to
    ``sum(p)``; this is the usual Keras/smp behaviour. With ``per_image=True``
    the ratio is taken per image and the losses are averaged over the batch
    (an image with no lake and no predicted lake then scores loss ~0 thanks
    to ``s``). The study writes the smoothing as ``1 - 2(y.p + 1)/(y + p + 1)``,
    which would put 2 in the numerator; we read it as the common ``+s`` form.

    Args:
        smooth: smoothing ``s`` >= 0 added to numerator and denominator (study: 1).
        per_image: reduce per image, then average, instead of over the batch.
    """

    def __init__(self, smooth: float = 1.0, per_image: bool = False) -> None:
        super().__init__()
        self.smooth = _check_number("dice", "smooth", smooth, 0.0)
        if not isinstance(per_image, bool):
            raise ConfigError(f"dice loss: per_image={per_image!r} is not true/false; set per_image: true or false")
        self.per_image = per_image

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        """Scalar loss; see the module docstring for shapes."""
        z, t, w = prepare(logits, target, valid)
        p = torch.sigmoid(z)
        if w is not None:
            p = torch.where(w > 0, p, torch.zeros_like(p))
            t = torch.where(w > 0, t, torch.zeros_like(t))
        dims = (1, 2) if self.per_image else (0, 1, 2)
        # smp's soft Dice is (I + s') / ((P + T) / 2 + s'): s' = s / 2 gives (2I + s) / (P + T + s)
        return (1.0 - soft_dice_score(p, t, smooth=self.smooth / 2, eps=1e-7, dims=dims)).mean()

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, per_image={self.per_image}"


@LOSSES.register("ce")
class CrossEntropyLoss(PixelLoss):
    """Two-class softmax cross-entropy, as the study's U-Nets were trained ("CE").

    The single logit ``z`` becomes class logits ``[0, z]`` (background, lake);
    ``softmax([0, z])[1] = sigmoid(z)``, so this equals ``bce`` exactly. It is
    kept as its own name to match the study's tables and computed with
    ``F.cross_entropy``. Targets are cast to integer class ids (0/1).
    """

    def pixel_loss(self, z: Tensor, t: Tensor) -> Tensor:
        """Per-pixel loss, (N, H, W) float32."""
        class_logits = torch.stack([torch.zeros_like(z), z], dim=1)  # (N, 2, H, W)
        return F.cross_entropy(class_logits, t.round().long(), reduction="none")


@LOSSES.register("bce+dice")
class BCEDiceLoss(nn.Module):
    """Weighted sum ``bce_weight * bce + dice_weight * dice``.

    Args:
        bce_weight: weight of the BCE term (>= 0).
        dice_weight: weight of the Dice term (>= 0).
        pos_weight: passed to ``bce``.
        smooth: passed to ``dice``.
        per_image: passed to ``dice``.
    """

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        pos_weight: float | None = None,
        smooth: float = 1.0,
        per_image: bool = False,
    ) -> None:
        super().__init__()
        self.bce_weight = _check_number("bce+dice", "bce_weight", bce_weight, 0.0)
        self.dice_weight = _check_number("bce+dice", "dice_weight", dice_weight, 0.0)
        if self.bce_weight == 0.0 and self.dice_weight == 0.0:
            raise ConfigError("bce+dice loss: bce_weight and dice_weight are both 0; make at least one positive")
        self.bce = BCELoss(pos_weight=pos_weight)
        self.dice = DiceLoss(smooth=smooth, per_image=per_image)

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        """Scalar loss; see the module docstring for shapes."""
        return self.bce_weight * self.bce(logits, target, valid) + self.dice_weight * self.dice(
            logits, target, valid
        )

    def extra_repr(self) -> str:
        return f"bce_weight={self.bce_weight}, dice_weight={self.dice_weight}"


def loss_params(name: str) -> list[str]:
    """Names of the parameters the loss ``name`` accepts (ConfigError if unknown)."""
    cls = LOSSES.get(name)
    sig = inspect.signature(cls.__init__)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [n for n, p in sig.parameters.items() if n != "self" and p.kind in kinds]


def build_loss(name: str, **params: object) -> nn.Module:
    """Build the loss registered as ``name`` with keyword ``params``.

    Args:
        name: one of :func:`LOSSES.names` (``bce``, ``focal``, ``dice``, ``ce``, ``bce+dice``).
        **params: loss parameters, e.g. ``alpha=0.25, gamma=2.0`` for ``focal``.

    Returns:
        An ``nn.Module`` called as ``loss(logits, target, valid=None) -> scalar``.

    Raises:
        ConfigError: unknown name (with close matches), unknown parameter (naming
            the accepted ones) or a parameter value out of range.
    """
    cls = LOSSES.get(name)
    accepted = loss_params(name)
    for key in params:
        if key not in accepted:
            hint = close_matches_hint(key, accepted)
            listed = ", ".join(accepted) if accepted else "none"
            raise ConfigError(f"loss '{name}' has no parameter '{key}'{hint} (accepted: {listed})")
    return cls(**params)

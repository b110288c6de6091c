"""Input normalisation that travels with the model.

A model is trained on images rendered one way (8-bit true colour, contrast
stretched, or L2A reflectance). The same :class:`InputSpec` is saved with every
run and applied by the same code at training and at inference, so a model
is always fed what it was trained on.

Two scalings:

* ``percentile`` (default): per image and channel, map the ``p_low`` and
  ``p_high`` percentiles of the valid pixels to 0 and 1 and clip. This makes
  a model indifferent to the rendering (natural colour vs contrast-stretched,
  8-bit vs reflectance). For whole scenes the percentiles are computed once
  over the scene and passed as ``stats`` so tiles are scaled identically.
* ``fixed``: divide by ``fixed_max`` (255 for 8-bit) and clip to [0, 1].

The [0, 1] values are then standardised with ``mean``/``std`` (ImageNet by
default, as pretrained encoders expect). Invalid (nodata) pixels become 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from glofwatch.data.renderings import check_model_rendering
from glofwatch.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCALINGS = ("percentile", "fixed")
_MAX_STAT_PIXELS = 16384  # percentiles are taken on at most about this many pixels per image


@dataclass(frozen=True)
class InputSpec:
    """How raw pixels become network input.

    Attributes:
        bands: channel names in model input order, e.g. ("B04", "B03", "B02") for true colour.
        source: what the raw values are: "rgb8" (an 8-bit rendering, 0..255; which one:
            ``bands`` and ``rendering``) or "reflectance" (Sentinel-2 L2A digital numbers,
            reflectance x 10000).
        scaling: "percentile" or "fixed".
        p_low: lower percentile (0..100) for ``percentile``.
        p_high: upper percentile (0..100) for ``percentile``.
        fixed_max: raw value mapped to 1.0 for ``fixed``.
        mean: per-channel mean subtracted after scaling to [0, 1].
        std: per-channel std divided after subtracting the mean.
        gain: for ``rgb8`` models, the gain of the 8-bit rendering of the training images
            (8-bit value = reflectance x gain x 255); the scene mapper renders L2A
            scenes with it. ``None``: unknown (the mapper's default is used).
        rendering: the 8-bit rendering(s) of the training images, from the training data
            (:func:`glofwatch.data.renderings.dataset_rendering`): ``true-colour`` or
            ``false-colour`` (8-bit inputs are checked against it, see
            :mod:`glofwatch.infer.rendering`), ``any`` (trained on mixed renderings: not
            checked) or ``unknown`` (not recorded: not checked).
    """

    bands: tuple[str, ...] = ("B04", "B03", "B02")
    source: str = "rgb8"
    scaling: str = "percentile"
    p_low: float = 1.0
    p_high: float = 99.0
    fixed_max: float = 255.0
    mean: tuple[float, ...] = field(default=IMAGENET_MEAN)
    std: tuple[float, ...] = field(default=IMAGENET_STD)
    gain: float | None = None
    rendering: str = "unknown"

    def __post_init__(self) -> None:
        check_model_rendering(self.rendering)
        if self.scaling not in SCALINGS:
            raise ConfigError(f"input scaling '{self.scaling}' is unknown; use one of {', '.join(SCALINGS)}")
        if not 0.0 <= self.p_low < self.p_high <= 100.0:
            raise ConfigError(
                f"percentiles p_low={self.p_low}, p_high={self.p_high} must satisfy 0 <= p_low < p_high <= 100"
            )
        if len(self.mean) != len(self.bands) or len(self.std) != len(self.bands):
            raise ConfigError(
                f"input spec has {len(self.bands)} bands but {len(self.mean)} means and {len(self.std)} stds; "
                "give one mean and std per band"
            )

    @property
    def in_channels(self) -> int:
        """Number of input channels."""
        return len(self.bands)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (saved with runs and exported models)."""
        d = asdict(self)
        d["bands"] = list(self.bands)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown input spec keys {sorted(unknown)}; known: {sorted(known)}")
        kw = dict(d)
        for key in ("bands", "mean", "std"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)

    @classmethod
    def for_channels(cls, n: int, **kw: Any) -> InputSpec:
        """A spec for ``n`` channels: RGB true colour for 3, RGB + NIR (B08) for 4.

        Extra channels beyond RGB get the mean of the ImageNet statistics.
        """
        bands = ("B04", "B03", "B02", "B08")[:n] if n <= 4 else tuple(f"band{i + 1}" for i in range(n))
        mean, std = extend_stats(IMAGENET_MEAN, IMAGENET_STD, n)
        return cls(bands=bands, mean=mean, std=std, **kw)


def extend_stats(
    mean: tuple[float, ...], std: tuple[float, ...], n: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """RGB statistics for ``n`` channels: the first ``n`` of them, extra channels get their means.

    Example:
        >>> extend_stats((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4)
        ((0.5, 0.5, 0.5, 0.5), (0.25, 0.25, 0.25, 0.25))
    """
    mean = tuple(float(m) for m in mean) + (sum(mean) / len(mean),) * max(0, n - len(mean))
    std = tuple(float(s) for s in std) + (sum(std) / len(std),) * max(0, n - len(std))
    return mean[:n], std[:n]


def percentile_stats(
    x: torch.Tensor, spec: InputSpec, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-image, per-channel low/high percentiles of the valid pixels.

    Args:
        x: raw images (N, C, H, W), any float dtype.
        spec: the input spec (its ``p_low``/``p_high``).
        valid: optional bool mask (N, H, W); False pixels are ignored.

    Returns:
        Tensor (N, C, 2) with the low and high values; images without valid
        pixels get (0, 1).
    """
    n, c, h, w = x.shape
    step = max(1, math.ceil(math.sqrt(h * w / _MAX_STAT_PIXELS)))
    if step > 1:  # a regular subsample gives the same percentiles within noise, much faster
        x = x[:, :, ::step, ::step]
        valid = valid[:, ::step, ::step] if valid is not None else None
    flat = x.reshape(n, c, -1).float()
    if valid is not None:
        v = valid.reshape(n, 1, -1).expand(-1, c, -1)
        flat = flat.masked_fill(~v, float("nan"))
    q = torch.tensor([spec.p_low / 100.0, spec.p_high / 100.0], dtype=flat.dtype, device=flat.device)
    stats = torch.nanquantile(flat, q, dim=-1).permute(1, 2, 0)  # (N, C, 2)
    return torch.nan_to_num(stats, nan=0.0)


def normalize(
    x: torch.Tensor,
    spec: InputSpec,
    valid: torch.Tensor | None = None,
    stats: torch.Tensor | None = None,
) -> torch.Tensor:
    """Turn raw pixels into network input.

    Args:
        x: raw images (N, C, H, W) float (8-bit values or reflectance DN).
        spec: how to scale (see :class:`InputSpec`).
        valid: optional bool (N, H, W); invalid pixels are excluded from the
            percentiles and set to 0 in the output.
        stats: optional (N or 1, C, 2) low/high values to use instead of
            per-image percentiles (scene-wide statistics for tiled mapping).

    Returns:
        Float32 tensor (N, C, H, W).

    Example:
        >>> spec = InputSpec(scaling="fixed", mean=(0, 0, 0), std=(1, 1, 1))
        >>> normalize(torch.full((1, 3, 2, 2), 255.0), spec).max().item()
        1.0
    """
    if x.ndim != 4 or x.shape[1] != spec.in_channels:
        raise ConfigError(
            f"model expects input (N, {spec.in_channels}, H, W) with bands {list(spec.bands)}, got {tuple(x.shape)}"
        )
    x = x.float()
    if spec.scaling == "fixed":
        y = x / spec.fixed_max
    else:
        if stats is None:
            stats = percentile_stats(x, spec, valid)
        lo = stats[..., 0:1].unsqueeze(-1).to(x)
        hi = stats[..., 1:2].unsqueeze(-1).to(x)
        y = (x - lo) / (hi - lo).clamp_min(1e-6)
    y = y.clamp(0.0, 1.0)
    mean = torch.tensor(spec.mean, dtype=y.dtype, device=y.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=y.dtype, device=y.device).view(1, -1, 1, 1)
    y = (y - mean) / std
    if valid is not None:
        y = y * valid.unsqueeze(1).to(y.dtype)
    return y

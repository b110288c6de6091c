"""8-bit RGB renderings of 4-band reflectance, as Sentinel Hub EO Browser makes them.

EO Browser's default visualisations multiply reflectance by a gain of 2.5 and
clip to 0..1: ``true-colour`` shows (B04, B03, B02), ``false-colour`` shows
(B08, B04, B03), where vegetation is red, water blue to black and snow white.
The real Himalayan evaluation crops are false-colour renderings with a
stronger stretch (gain about 3), so crops default to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glofwatch.registry import Registry

BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08")
"""The four 10 m Sentinel-2 bands (blue, green, red, near infrared) in the order reflectance arrays use."""

CROP_GAIN_RANGE: tuple[float, float] = (2.8, 3.9)
"""Gains of the synthetic crops' 8-bit renderings; scenes are rendered at its middle for models trained on them."""


@dataclass(frozen=True)
class Rendering:
    """Which bands go to red, green and blue.

    Attributes:
        name: registry name.
        bands: three band names from :data:`BANDS`, shown as (R, G, B).
        description: one line for help texts.
    """

    name: str
    bands: tuple[str, str, str]
    description: str

    @property
    def band_index(self) -> list[int]:
        """Indices of :attr:`bands` in the reflectance arrays."""
        return [BANDS.index(b) for b in self.bands]


RENDERINGS: Registry[Rendering] = Registry("rendering")
RENDERINGS.register("true-colour", Rendering("true-colour", ("B04", "B03", "B02"), "natural colour: R=B04 G=B03 B=B02"))
RENDERINGS.register(
    "false-colour",
    Rendering("false-colour", ("B08", "B04", "B03"), "near-infrared false colour: R=B08 G=B04 B=B03 (vegetation red)"),
)


MIXED = "mixed"
"""A data set whose crops come in several renderings (``glofwatch data synth --rendering mixed``)."""

ANY = "any"
"""What a model trained on mixed renderings expects: any rendering (its inputs are not checked)."""

UNKNOWN = "unknown"
"""What a model expects when its training data did not say how it was rendered (not checked)."""


def rendering_bands(name: str) -> str:
    """``"R=B08 G=B04 B=B03"`` for a rendering name; ``name`` itself for ``any``/``unknown``/``mixed``."""
    if name in (MIXED, ANY, UNKNOWN):
        return name
    r, g, b = RENDERINGS.get(name).bands
    return f"R={r} G={g} B={b}"


def to_rgb(reflectance: np.ndarray, rendering: str = "false-colour", gain: float = 2.5) -> np.ndarray:
    """Render reflectance as 8-bit RGB.

    Args:
        reflectance: (4, H, W) float reflectance in :data:`BANDS` order (0 = nodata).
        rendering: a name in :data:`RENDERINGS` (``true-colour``, ``false-colour``).
        gain: multiplier before clipping to 0..1 (EO Browser uses 2.5).

    Returns:
        (H, W, 3) uint8; exactly 0 where all bands are 0 (nodata), at least 1 elsewhere.

    Example:
        >>> to_rgb(np.full((4, 2, 2), 0.2, np.float32), "true-colour")[0, 0].tolist()
        [128, 128, 128]
    """
    spec = RENDERINGS.get(rendering)
    rgb = reflectance[spec.band_index] * (gain * 255.0)
    out = np.clip(rgb + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    valid = np.any(reflectance > 0, axis=0)
    np.maximum(out, valid[..., None].astype(np.uint8), out=out)
    return np.ascontiguousarray(out)


def to_dn(reflectance: np.ndarray) -> np.ndarray:
    """Sentinel-2 L2A digital numbers: ``round(reflectance * 10000)``, 0 kept for nodata.

    Args:
        reflectance: float array (any shape), 0 marks nodata.

    Returns:
        uint16 array; valid pixels are at least 1 so that 0 means nodata only.
    """
    dn = np.clip(np.rint(reflectance * 10000.0), 0, 65535).astype(np.uint16)
    valid = reflectance > 0
    np.maximum(dn, valid.astype(np.uint16), out=dn)
    return dn

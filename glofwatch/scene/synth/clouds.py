"""Clouds and their shadows.

A cloud layer is an opacity field ``alpha`` (0 clear .. 1 opaque) thresholded
from fractal noise to a wanted coverage; thin cloud (haze, cirrus) never gets
opaque, thick cloud does. Its shadow is the same field shifted away from the
sun by the cloud's height and darkens the direct light only.

Pixels whose cloud opacity reaches :data:`OPAQUE_ALPHA` count as hidden: the
lake mask leaves them out (a lake under thick cloud cannot be seen, so it is
not labelled), while lakes under thin cloud or in cloud shadow stay labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from glofwatch.scene.synth.noise import coverage_threshold, fractal_noise

OPAQUE_ALPHA = 0.4
"""Cloud opacity at and above which a pixel is hidden (excluded from the lake mask)."""


@dataclass
class CloudLayer:
    """Cloud opacity and cloud-shadow strength.

    Attributes:
        alpha: (H, W) float32 cloud opacity 0..1.
        shadow: (H, W) float32 fraction of direct sunlight blocked, 0..1.
        brightness: (H, W) float32 relative brightness of the cloud top (~0.75..1.1).
    """

    alpha: np.ndarray
    shadow: np.ndarray
    brightness: np.ndarray

    @property
    def hidden(self) -> np.ndarray:
        """(H, W) bool, pixels under opaque cloud (``alpha >= OPAQUE_ALPHA``)."""
        return self.alpha >= OPAQUE_ALPHA


def clear_sky(shape: tuple[int, int]) -> CloudLayer:
    """A cloud layer with no cloud."""
    zeros = np.zeros(shape, dtype=np.float32)
    return CloudLayer(alpha=zeros, shadow=zeros, brightness=np.ones(shape, dtype=np.float32))


def make_clouds(
    rng: np.random.Generator,
    shape: tuple[int, int],
    coverage: float,
    max_opacity: float,
    sun_azimuth_deg: float,
    sun_elevation_deg: float,
    cloud_height_px: float,
    softness: float = 0.8,
) -> CloudLayer:
    """Random cloud cover.

    Args:
        rng: random source.
        shape: (height, width) in pixels.
        coverage: share of the image under some cloud, 0..1.
        max_opacity: opacity of the cloud cores; below :data:`OPAQUE_ALPHA` the cloud is thin.
        sun_azimuth_deg: sun azimuth (clockwise from north); shadows fall away from it.
        sun_elevation_deg: sun elevation; lower sun throws shadows further.
        cloud_height_px: cloud base height above ground in pixel units.
        softness: width of the cloud edge in noise standard deviations.

    Returns:
        The :class:`CloudLayer`.
    """
    if coverage <= 0 or max_opacity <= 0:
        return clear_sky(shape)
    big = max(shape)
    field = fractal_noise(rng, shape, beta=3.0, min_wavelength_px=3.0, max_wavelength_px=big)
    thr = coverage_threshold(field, coverage)
    alpha = np.clip((field - thr) / softness, 0.0, 1.0) ** 0.7 * max_opacity
    alpha = alpha.astype(np.float32)
    offset = cloud_height_px / math.tan(math.radians(max(sun_elevation_deg, 5.0)))
    d_row = math.cos(math.radians(sun_azimuth_deg)) * offset  # away from the sun: north -> +row
    d_col = -math.sin(math.radians(sun_azimuth_deg)) * offset
    shadow = _shift(alpha, int(round(d_row)), int(round(d_col)))
    shadow = np.clip(shadow * 1.15, 0.0, 0.85).astype(np.float32)
    brightness = (0.93 + 0.09 * fractal_noise(rng, shape, beta=2.6, min_wavelength_px=2.0)).astype(np.float32)
    return CloudLayer(alpha=alpha, shadow=shadow, brightness=brightness)


def _shift(a: np.ndarray, d_row: int, d_col: int) -> np.ndarray:
    """``a`` moved by (d_row, d_col) pixels, zero-filled."""
    out = np.zeros_like(a)
    h, w = a.shape
    if abs(d_row) >= h or abs(d_col) >= w:
        return out
    src_r = slice(max(0, -d_row), h - max(0, d_row))
    dst_r = slice(max(0, d_row), h - max(0, -d_row))
    src_c = slice(max(0, -d_col), w - max(0, d_col))
    dst_c = slice(max(0, d_col), w - max(0, -d_col))
    out[dst_r, dst_c] = a[src_r, src_c]
    return out

"""Fractal noise by spectral synthesis: the texture source of every synthetic layer.

A field with power spectrum ``P(k) ~ k**-beta`` is built in the Fourier domain
from Gaussian white noise and transformed back with one real inverse FFT, so a
320x320 field costs about a millisecond. ``beta`` near 2 gives rough, grainy
fields (cloud edges, rock texture); near 3.5 smooth rolling ones (terrain,
snowline). The fields are periodic; callers that mind crop a larger field.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft


@lru_cache(maxsize=16)
def _radial_frequency(height: int, width: int) -> np.ndarray:
    """|k| in cycles per pixel for an ``rfft2`` grid of shape (height, width // 2 + 1)."""
    ky = np.fft.fftfreq(height).astype(np.float32)[:, None]
    kx = np.fft.rfftfreq(width).astype(np.float32)[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k.setflags(write=False)
    return k


@lru_cache(maxsize=64)
def _amplitude(
    height: int, width: int, beta: float, min_wavelength_px: float, max_wavelength_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the kept rfft2 coefficients and their amplitudes ``|k|**(-beta/2)``."""
    k = _radial_frequency(height, width)
    keep = (k >= 0.999 / max_wavelength_px) & (k <= 1.0 / min_wavelength_px) & (k > 0)
    index = np.flatnonzero(keep)
    amp = (k.ravel()[index] ** (-beta / 2.0)).astype(np.float32)
    index.setflags(write=False)
    amp.setflags(write=False)
    return index, amp


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float = 3.0,
    min_wavelength_px: float = 2.0,
    max_wavelength_px: float | None = None,
) -> np.ndarray:
    """A zero-mean, unit-variance fractal field.

    Args:
        rng: random source (consumed deterministically).
        shape: (height, width) in pixels.
        beta: spectral exponent; larger is smoother.
        min_wavelength_px: finest structure kept (frequencies above ``1/min`` are cut).
        max_wavelength_px: coarsest structure kept (``None``: the field size).

    Returns:
        float32 array of ``shape``, mean 0 and standard deviation 1.
    """
    height, width = int(shape[0]), int(shape[1])
    index, amp = _amplitude(
        height, width, float(beta), float(min_wavelength_px), float(max_wavelength_px or max(height, width))
    )
    # uniform rather than Gaussian coefficients: the inverse FFT sums many of them, so
    # the field is Gaussian all the same, and uniforms are several times cheaper
    u = rng.random((2, index.size), dtype=np.float32)
    u -= np.float32(0.5)
    spec = np.zeros(height * (width // 2 + 1), dtype=np.complex64)
    spec.real[index] = u[0] * amp
    spec.imag[index] = u[1] * amp
    field = sfft.irfft2(spec.reshape(height, width // 2 + 1), s=(height, width), workers=1)
    field = field.astype(np.float32, copy=False)
    field -= field.mean()
    std = float(field.std())
    if std > 0:
        field /= std
    return field


def ridged(field: np.ndarray) -> np.ndarray:
    """Sharp ridges from a smooth field: ``1 - |f|``, rescaled to mean 0, std 1.

    Args:
        field: float array (e.g. from :func:`fractal_noise`).

    Returns:
        float32 array of the same shape with crests where ``field`` crosses zero.
    """
    out = 1.0 - np.abs(field)
    out -= out.mean()
    std = float(out.std())
    return (out / std if std > 0 else out).astype(np.float32, copy=False)


def unit_range(field: np.ndarray) -> np.ndarray:
    """Rescale a field linearly to [0, 1] (constant fields become 0)."""
    lo, hi = float(field.min()), float(field.max())
    if hi <= lo:
        return np.zeros_like(field, dtype=np.float32)
    return ((field - lo) / (hi - lo)).astype(np.float32, copy=False)


def coverage_threshold(field: np.ndarray, fraction: float) -> float:
    """The value above which ``fraction`` of ``field``'s pixels lie.

    Args:
        field: float array.
        fraction: wanted share of pixels above the threshold, 0..1.

    Returns:
        The threshold (``+inf`` for fraction 0, ``-inf`` for fraction 1).
    """
    if fraction <= 0:
        return float("inf")
    if fraction >= 1:
        return float("-inf")
    flat = field.ravel()
    # a strided sample is plenty for a percentile and much faster on large fields
    step = max(1, flat.size // 65536)
    return float(np.quantile(flat[::step], 1.0 - fraction))

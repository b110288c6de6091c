"""Area uncertainty of mapped lake outlines and the test of whether an area change is real.

An outline traced on a raster is uncertain by about half a pixel along its whole
shore, so the area of one outline is uncertain by

    sigma_A = perimeter x pixel_size / 2

(Fujita et al. 2009; Hanshaw & Bookhagen 2014). A 1 km2 circle mapped at 10 m
has a perimeter of 3545 m and sigma_A = 0.0177 km2. The change between two
dates is uncertain by the two sigmas in quadrature, sqrt(s1^2 + s2^2); a lake
grows or shrinks only when its change exceeds ``k`` times that (k = 1 by
default), and has drained (a possible outburst) when it also lost more than the
drain threshold (default 30 %) of its area.
"""

from __future__ import annotations

import numpy as np

from glofwatch.errors import ConfigError

DEFAULT_PIXEL_SIZE_M = 10.0
"""Pixel size assumed when none is given or found: Sentinel-2's 10 m bands."""

DEFAULT_K_SIGMA = 1.0
"""A change is real when it exceeds this many combined sigmas."""

DEFAULT_DRAIN_THRESHOLD = 0.3
"""A real loss of more than this share of the area between two dates is a drainage."""


def area_sigma_km2(perimeter_m: np.ndarray | float, pixel_size_m: np.ndarray | float) -> np.ndarray:
    """Area uncertainty of outlines: half a pixel along the perimeter.

    Args:
        perimeter_m: perimeter of each outline in metres (islands included).
        pixel_size_m: pixel size of the image each outline was mapped from, metres.

    Returns:
        sigma_A in km2, one per outline.

    Example:
        >>> round(float(area_sigma_km2(4000.0, 10.0)), 6)  # a 1 km square at 10 m
        0.02
    """
    return np.asarray(perimeter_m, dtype=float) * np.asarray(pixel_size_m, dtype=float) / 2.0 / 1e6


def combined_sigma(*sigmas: np.ndarray | float) -> np.ndarray:
    """Uncertainty of a sum or difference of independent areas: the sigmas in quadrature.

    Example:
        >>> float(combined_sigma(0.03, 0.04))
        0.05
    """
    return np.sqrt(sum(np.square(np.asarray(s, dtype=float)) for s in sigmas))


def check_parameters(k_sigma: float, drain_threshold: float) -> None:
    """Raise :class:`ConfigError` unless ``k_sigma >= 0`` and ``0 < drain_threshold < 1``."""
    if not np.isfinite(k_sigma) or k_sigma < 0:
        raise ConfigError(f"k_sigma={k_sigma} must be 0 or more (1 = one combined sigma); e.g. --k-sigma 1")
    if not 0 < drain_threshold < 1:
        raise ConfigError(f"drain threshold {drain_threshold} must be between 0 and 1 (0.3 = 30 % loss); "
                          "e.g. --drain-threshold 0.3")


def classify_change(
    area_prev_km2: np.ndarray,
    area_km2: np.ndarray,
    sigma_km2: np.ndarray,
    k_sigma: float = DEFAULT_K_SIGMA,
    drain_threshold: float = DEFAULT_DRAIN_THRESHOLD,
) -> np.ndarray:
    """Classify area changes between two dates as growing, shrinking, drained or stable.

    Args:
        area_prev_km2: area on the earlier date.
        area_km2: area on the later date.
        sigma_km2: combined uncertainty of the change (see :func:`combined_sigma`).
        k_sigma: a change is real only beyond ``k_sigma * sigma_km2``.
        drain_threshold: a real loss of more than this share of ``area_prev_km2`` is ``drained``.

    Returns:
        Array of ``"growing"``, ``"shrinking"``, ``"drained"`` or ``"stable"``.

    Example:
        >>> classify_change(np.array([1.0, 1.0, 1.63, 1.0]), np.array([1.4, 0.9, 0.6, 1.01]),
        ...                 np.array([0.03, 0.03, 0.03, 0.03])).tolist()
        ['growing', 'shrinking', 'drained', 'stable']
    """
    check_parameters(k_sigma, drain_threshold)
    prev = np.asarray(area_prev_km2, dtype=float)
    change = np.asarray(area_km2, dtype=float) - prev
    margin = k_sigma * np.asarray(sigma_km2, dtype=float)
    status = np.full(change.shape, "stable", dtype=object)
    status[change > margin] = "growing"
    status[change < -margin] = "shrinking"
    status[(change < -margin) & (-change > drain_threshold * prev)] = "drained"
    return status

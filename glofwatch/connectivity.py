"""Base layer: what one lake is in a raster mask, the same in every stage: 4-connected pixels.

Two lake pixels belong to one lake when they share an edge, not when they only touch at a
corner. Every stage counts lakes this way (polygons, YOLO labels, lake recall, the error
analysis) because the polygons must agree with the pixels: a pixel outline traced with
8-connectivity joins two squares at a single vertex, which is not a valid simple polygon, and
at 10 m two ponds touching only diagonally are not one water body the sensor resolved.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LAKE_CONNECTIVITY = 4
"""Neighbourhood of one lake (rasterio ``connectivity``, OpenCV ``connectivity``)."""

FOUR = ndimage.generate_binary_structure(2, 1)
"""The 4-neighbourhood as a ``scipy.ndimage`` structuring element."""


def label_lakes(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Number the lakes of a mask.

    Args:
        mask: (H, W) array, lake where > 0 (or True).

    Returns:
        ``(labels, n)``: (H, W) int32 lake numbers 1..n (0 elsewhere) and the count.

    Example:
        >>> m = np.array([[1, 0], [0, 1]])
        >>> label_lakes(m)[1]  # diagonal neighbours are two lakes
        2
    """
    labels, n = ndimage.label(np.asarray(mask) > 0, structure=FOUR)
    return labels, int(n)

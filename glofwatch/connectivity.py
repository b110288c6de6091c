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
        ``(labels, n)``: (H, W) lake numbers 1..n (0 elsewhere) and the count; uint16 when
        fewer than 65535 patches (half the memory of int32 on a whole Sentinel-2 tile), else int32.

    Example:
        >>> m = np.array([[1, 0], [0, 1]])
        >>> label_lakes(m)[1]  # diagonal neighbours are two lakes
        2
    """
    mask = np.asarray(mask)
    lake = mask if mask.dtype == bool else mask > 0
    try:
        labels, n = ndimage.label(lake, structure=FOUR, output=np.uint16)
    except RuntimeError:  # more patches than uint16 numbers
        labels, n = ndimage.label(lake, structure=FOUR, output=np.int32)
    return labels, int(n)


def label_pixels(at: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """Number the lakes of a sparse mask given by its lake pixels alone, as :func:`label_lakes` would.

    A mapped Sentinel-2 tile has about 1.6 M lake pixels among 121 M: labelling them as a graph
    of 4-neighbour edges touches those pixels only, with no scene-size label raster.

    Args:
        at: flat (row-major) indices of the lake pixels, ascending, each once.
        width: the raster's width.

    Returns:
        ``(lake, n)``: the lake number 1..n of each pixel of ``at`` (int32), numbered as
        :func:`label_lakes` numbers them (in the raster order of each lake's first pixel), and n.

    Example:
        >>> m = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1]])
        >>> label_pixels(np.flatnonzero(m), 3)[0].tolist()  # (0, 2) and (2, 1) only touch at a corner
        [1, 2, 1, 3, 3]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    at = np.asarray(at)
    if at.size == 0:
        return np.zeros(0, np.int32), 0
    if at.ndim != 1 or np.any(at[1:] <= at[:-1]):
        raise ValueError("label_pixels: give the lake pixels' flat indices ascending, each once")
    at = at.astype(np.int64, copy=False)
    right = np.flatnonzero((at[1:] == at[:-1] + 1) & ((at[:-1] + 1) % width != 0))  # (r, c) - (r, c + 1)
    below = np.searchsorted(at, at + width)
    below_ok = below < at.size
    below_ok[below_ok] = at[below[below_ok]] == at[below_ok] + width  # (r, c) - (r + 1, c)
    up = np.flatnonzero(below_ok)
    src = np.concatenate([right, up])
    dst = np.concatenate([right + 1, below[up]])
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(at.size, at.size))
    n, comp = connected_components(graph, directed=True, connection="weak")  # no symmetric copy of the edges
    first = np.full(n, at.size, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(at.size))
    rank = np.empty(n, dtype=np.int32)
    rank[np.argsort(first, kind="stable")] = np.arange(1, n + 1, dtype=np.int32)
    return rank[comp], int(n)


SIZE_BAND_PX = 1 << 22


def lake_sizes(labels: np.ndarray, n: int) -> np.ndarray:
    """Pixels per label 0..n of :func:`label_lakes` output, counted in bands.

    ``np.bincount`` converts its input to 64-bit integers, 8 bytes per pixel (1 GB for a
    whole Sentinel-2 tile); bands of :data:`SIZE_BAND_PX` pixels keep that to 32 MB.

    Example:
        >>> lake_sizes(np.array([[0, 1], [1, 2]], np.uint16), 2).tolist()
        [1, 2, 1]
    """
    flat = labels.reshape(-1)
    sizes = np.zeros(n + 1, dtype=np.int64)
    for i in range(0, flat.size, SIZE_BAND_PX):
        sizes += np.bincount(flat[i : i + SIZE_BAND_PX], minlength=n + 1)
    return sizes


FOUND_COVER = 0.5
"""A truth lake is found when predicted lake pixels cover at least this share of it (lake recall)."""


def lakes_found(truth: np.ndarray, pred: np.ndarray, min_px: int = 1) -> np.ndarray:
    """Whether each truth lake of at least ``min_px`` px is found by ``pred`` (:data:`FOUND_COVER`).

    Args:
        truth: (H, W) bool, the true lake pixels (scored pixels only).
        pred: (H, W) bool, the predicted lake pixels.
        min_px: smallest truth lake counted.

    Returns:
        One bool per truth lake of at least ``min_px`` px, in label order.

    Example:
        >>> t = np.array([[1, 1, 0, 1]], bool)
        >>> lakes_found(t, np.array([[1, 0, 0, 0]], bool)).tolist()
        [True, False]
    """
    labels, n = label_lakes(truth)
    sizes = lake_sizes(labels, n)
    covered = np.bincount(labels[pred & (labels > 0)], minlength=n + 1)
    keep = sizes >= min_px
    keep[0] = False
    return covered[keep] >= FOUND_COVER * sizes[keep]

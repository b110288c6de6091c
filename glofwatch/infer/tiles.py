"""Sliding windows with overlap and smooth blending of per-tile probabilities.

Each tile's probabilities are weighted by a separable cosine-squared ramp that
falls towards the tile border (never to zero), so a pixel predicted by several
tiles takes most of its value from the tile where it sits most centrally and
there are no seams at tile borders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of windows of size ``tile`` covering ``length`` with at least ``overlap``.

    The last window is aligned to the end, so every window lies fully inside
    when ``length >= tile``; a shorter ``length`` gives one window at 0.

    Example:
        >>> tile_starts(1000, 512, 64)
        [0, 488]
    """
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return sorted(set(starts))


def iter_windows(height: int, width: int, tile: int, overlap: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (row, col, h, w) windows covering a ``height`` x ``width`` grid."""
    for r in tile_starts(height, tile, overlap):
        for c in tile_starts(width, tile, overlap):
            yield r, c, min(tile, height - r), min(tile, width - c)


def blend_weights(h: int, w: int, overlap: int) -> np.ndarray:
    """(h, w) float32 weights: 1 in the middle, a cosine-squared ramp over ``overlap`` px at borders.

    The ramp never reaches 0 (minimum about 1e-3), so image-border pixels that only one
    tile covers keep their value after normalisation.
    """

    def ramp(n: int) -> np.ndarray:
        r = np.ones(n, dtype=np.float32)
        k = min(overlap, n // 2)
        if k > 0:
            x = (np.arange(k, dtype=np.float32) + 0.5) / k
            edge = np.sin(0.5 * np.pi * x) ** 2
            r[:k] = np.maximum(edge, 1e-3)
            r[n - k :] = np.maximum(edge[::-1], 1e-3)
        return r

    return np.outer(ramp(h), ramp(w)).astype(np.float32)


def predict_tiled(
    predict: Callable[[np.ndarray, int, int], np.ndarray],
    height: int,
    width: int,
    tile: int = 512,
    overlap: int = 64,
) -> np.ndarray:
    """Blend tile predictions over a grid held in memory.

    Args:
        predict: called as ``predict(window_rows_cols, h, w)`` with a window
            ``(row, col, h, w)`` packed as ``np.array([row, col])`` and its size;
            returns (h, w) float probabilities.
        height: grid rows.
        width: grid columns.
        tile: tile size in pixels.
        overlap: overlap between neighbouring tiles in pixels.

    Returns:
        (height, width) float32 blended probabilities.
    """
    acc = np.zeros((height, width), dtype=np.float32)
    wsum = np.zeros((height, width), dtype=np.float32)
    for r, c, h, w in iter_windows(height, width, tile, overlap):
        wt = blend_weights(h, w, overlap)
        acc[r : r + h, c : c + w] += predict(np.array([r, c]), h, w) * wt
        wsum[r : r + h, c : c + w] += wt
    return acc / np.maximum(wsum, 1e-12)

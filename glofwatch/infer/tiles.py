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


class Strip:
    """One row of tiles of a :class:`StripTiler`: blending buffers for ``tile_h`` rows of the grid.

    Attributes:
        row: first grid row of the strip.
        final_rows: rows at the top of the strip that no later strip overlaps; :meth:`finish`
            returns these, the rest is carried into the next strip.
    """

    def __init__(
        self, tiler: StripTiler, row: int, final_rows: int, carry: tuple[np.ndarray, np.ndarray] | None
    ) -> None:
        self.tiler, self.row, self.final_rows = tiler, row, final_rows
        self.acc = np.zeros((tiler.tile_h, tiler.width), dtype=np.float32)
        self.wsum = np.zeros((tiler.tile_h, tiler.width), dtype=np.float32)
        if carry is not None:
            self.acc[: carry[0].shape[0]] = carry[0]
            self.wsum[: carry[1].shape[0]] = carry[1]

    def add(self, col: int, prob: np.ndarray, row0: int = 0, col0: int = 0) -> None:
        """Blend one tile's probabilities in at column ``col`` (``prob`` is scaled in place).

        ``prob`` is the whole (tile_h, tile_w) tile, or the part of it whose corner is
        (``row0``, ``col0``) in the tile (a trimmed tile); that part keeps the tile's own
        weights, and the tile adds nothing elsewhere.
        """
        t = self.tiler
        h, w = prob.shape
        weights = t.weights if (h, w) == t.weights.shape else t.weights[row0 : row0 + h, col0 : col0 + w]
        prob *= weights
        self.acc[row0 : row0 + h, col + col0 : col + col0 + w] += prob
        self.wsum[row0 : row0 + h, col + col0 : col + col0 + w] += weights

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(probability, covered) of the final rows: (final_rows, width) float32, NaN where no tile ran."""
        f = self.final_rows
        covered = self.wsum[:f] > 0
        prob = np.full((f, self.tiler.width), np.nan, dtype=np.float32)
        np.divide(self.acc[:f], self.wsum[:f], out=prob, where=covered)
        self.tiler.carry = (self.acc[f:].copy(), self.wsum[f:].copy())
        return prob, covered


class StripTiler:
    """The one tiler: overlapping tiles over a grid, blended strip by strip.

    Tiles of ``tile`` x ``tile`` px (smaller when the grid is) start at :func:`tile_starts`;
    each tile's probabilities are weighted by :func:`blend_weights`. Only one strip of
    tiles (``tile`` rows) is held at a time, so whole Sentinel-2 tiles map in bounded
    memory; the in-memory :func:`predict_tiled` and the scene mapper both use it.

    Args:
        height: grid rows.
        width: grid columns.
        tile: tile side in pixels.
        overlap: overlap between neighbouring tiles in pixels.

    Example:
        >>> t = StripTiler(1000, 700, 512, 64)
        >>> t.rows, t.cols, [s.final_rows for s in t.strips()]
        ([0, 488], [0, 188], [488, 512])
    """

    def __init__(self, height: int, width: int, tile: int, overlap: int) -> None:
        self.height, self.width = height, width
        self.tile_h, self.tile_w = min(tile, height), min(tile, width)
        self.rows = tile_starts(height, self.tile_h, min(overlap, self.tile_h - 1))
        self.cols = tile_starts(width, self.tile_w, min(overlap, self.tile_w - 1))
        self.weights = blend_weights(self.tile_h, self.tile_w, overlap)
        self.carry: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_tiles(self) -> int:
        """Tiles in the whole grid."""
        return len(self.rows) * len(self.cols)

    def strips(self) -> Iterator[Strip]:
        """The strips, top to bottom; call :meth:`Strip.finish` on each before taking the next."""
        self.carry = None
        for i, r in enumerate(self.rows):
            final = (self.rows[i + 1] - r) if i + 1 < len(self.rows) else self.tile_h
            yield Strip(self, r, final, self.carry)


def predict_tiled(
    predict: Callable[[np.ndarray, int, int], np.ndarray],
    height: int,
    width: int,
    tile: int = 512,
    overlap: int = 64,
) -> np.ndarray:
    """Blend tile predictions over a grid held in memory (:class:`StripTiler` with an array as sink).

    Args:
        predict: called as ``predict(np.array([row, col]), h, w)`` for each tile; returns its
            (h, w) float probabilities.
        height: grid rows.
        width: grid columns.
        tile: tile size in pixels.
        overlap: overlap between neighbouring tiles in pixels.

    Returns:
        (height, width) float32 blended probabilities.
    """
    tiler = StripTiler(height, width, tile, overlap)
    out = np.empty((height, width), dtype=np.float32)
    for strip in tiler.strips():
        for c in tiler.cols:
            strip.add(c, np.asarray(predict(np.array([strip.row, c]), tiler.tile_h, tiler.tile_w), dtype=np.float32))
        prob, _ = strip.finish()
        out[strip.row : strip.row + strip.final_rows] = prob
    return out

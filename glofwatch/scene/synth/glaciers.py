"""Valley glaciers: noisy downhill tongues in carved troughs, debris-covered towards the snout.

A glacier starts on high ground and follows the smoothed DEM down-valley; it is
widest at the top and narrows to its snout, which is kept inside the image so a
moraine-dammed lake can form there. The valley under it is carved into a
U-shaped trough, and the lower part of the tongue is covered in debris.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from glofwatch.scene.synth.terrain import (
    Terrain,
    carve_troughs,
    rasterize_paths,
    trace_downhill,
)


@dataclass
class Glaciers:
    """Glacier layers.

    Attributes:
        terrain: the terrain with the troughs carved in.
        glacier: (H, W) int16 glacier number (0 = none).
        debris: (H, W) bool debris-covered ice.
        snouts: per glacier, the last few (row, col) points of its centre line.
    """

    terrain: Terrain
    glacier: np.ndarray
    debris: np.ndarray
    snouts: list[np.ndarray]


def draw_glaciers(
    rng: np.random.Generator,
    terrain: Terrain,
    count: int,
    width_px: float,
    debris: float,
    relief_m: float,
    warp: tuple[np.ndarray, np.ndarray],
) -> Glaciers:
    """Draw ``count`` valley glaciers.

    Args:
        rng: random source.
        terrain: the terrain to flow down.
        count: number of glaciers to try (short ones are dropped).
        width_px: typical half-width of a tongue's upper part in pixels.
        debris: share of each tongue (from the snout up) covered in debris, 0..1.
        relief_m: relief of the terrain; troughs are at most a fifth of it deep.
        warp: two (H, W) zero-mean unit-variance fields that make the edges ragged.

    Returns:
        The :class:`Glaciers`.
    """
    h, w = terrain.dem_m.shape
    big = max(h, w)
    paths, widths, snouts = [], [], []
    for _ in range(count):
        rows = rng.integers(0, h, 24)
        cols = rng.integers(0, w, 24)
        best = int(np.argmax(terrain.smooth_m[rows, cols]))
        length = int(rng.uniform(0.35, 0.9) * big)
        path = trace_downhill(rng, terrain, (rows[best], cols[best]), length, wander=0.12, inertia=0.85)
        # end the tongue inside the image, so that a lake can form at its snout
        edge = 0.15 * min(h, w)
        near_edge = (path[:, 0] < edge) | (path[:, 0] > h - edge) | (path[:, 1] < edge) | (path[:, 1] > w - edge)
        near_edge[: len(path) // 3] = False
        if near_edge.any():
            path = path[: int(np.argmax(near_edge))]
        if len(path) < 8:
            continue
        w0 = width_px * rng.uniform(0.7, 1.3)
        paths.append(path)
        widths.append(np.linspace(w0, w0 * 0.45, len(path)))
        snouts.append(path[-min(len(path), 6) :])
    terrain = carve_troughs(terrain, paths, widths, min(0.2 * relief_m, 25.0 * width_px))
    ragged = width_px * 0.25
    glacier, along = rasterize_paths((h, w), paths, widths, (warp[0] * ragged, warp[1] * ragged))
    if paths:  # the ragged edge leaves crumbs; a glacier is one body
        labels, _ = ndimage.label(glacier > 0)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        glacier[sizes[labels] < max(30.0, 0.2 * width_px**2)] = 0
    covered = (glacier > 0) & (along + 0.12 * warp[0] > 1.0 - debris)
    return Glaciers(terrain=terrain, glacier=glacier, debris=covered, snouts=snouts)

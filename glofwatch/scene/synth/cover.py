"""Land cover: rivers, snow, soils and vegetation.

Rivers are thin braided downhill paths from lake outlets, glacier snouts and
valley heads. Snow lies above a noisy snowline, lower on north-facing slopes
and in gullies, and slides off cliffs. Bare ground mixes two soils at
geological scale; vegetation (alpine meadow, wetland) grows along drainage
lines, in valley floors and beside rivers.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from glofwatch.scene.synth.noise import fractal_noise
from glofwatch.scene.synth.terrain import Terrain, rasterize_paths, trace_downhill


def draw_rivers(
    rng: np.random.Generator,
    terrain: Terrain,
    starts: list[tuple[float, float]],
    warp: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Braided rivers flowing downhill from each start point.

    Args:
        rng: random source.
        terrain: the terrain to flow down.
        starts: (row, col) sources.
        warp: two (H, W) zero-mean unit-variance fields for ragged banks.

    Returns:
        (H, W) bool river water (callers remove lake and glacier pixels).
    """
    h, w = terrain.dem_m.shape
    paths, widths = [], []
    for start in starts:
        r0 = float(np.clip(start[0], 0, h - 2))
        c0 = float(np.clip(start[1], 0, w - 2))
        strands = int(rng.integers(1, 4))
        width = float(rng.uniform(0.5, 1.8))
        for _ in range(strands):
            path = trace_downhill(rng, terrain, (r0, c0), int(1.5 * max(h, w)), wander=0.35, inertia=0.8)
            paths.append(path)
            widths.append(np.full(len(path), width))
    index, _ = rasterize_paths((h, w), paths, widths, (warp[0] * 0.7, warp[1] * 0.7))
    return index > 0


def draw_snow(
    rng: np.random.Generator, terrain: Terrain, snowline_m: float, snow_noise_m: float
) -> np.ndarray:
    """Snow cover 0..1 (H, W) float32 above a noisy snowline."""
    shape = terrain.dem_m.shape
    d_row, d_col = np.gradient(terrain.dem_m, terrain.pixel_size_m)
    slope = np.hypot(d_row, d_col)
    northness = d_row / (slope + 1e-6)  # dz/d(row) > 0: ground rises southwards -> faces north
    noise = fractal_noise(rng, shape, beta=3.2, min_wavelength_px=3.0, max_wavelength_px=max(shape) / 2)
    score = terrain.dem_m - snowline_m + snow_noise_m * noise + 150.0 * northness * np.minimum(slope, 1.0)
    score -= 300.0 * np.clip(slope - 1.2, 0.0, None)
    if terrain.drainage is not None:  # snow lingers in gullies
        score += 0.5 * snow_noise_m * terrain.drainage
    return np.clip(score / 40.0, 0.0, 1.0).astype(np.float32)


def draw_vegetation(
    rng: np.random.Generator, terrain: Terrain, amount: float, river: np.ndarray, edge_noise: np.ndarray
) -> np.ndarray:
    """Vegetation cover 0..0.9 (H, W) float32; ``amount`` 0..1 scales how much grows."""
    low = terrain.valley / (np.abs(terrain.valley).max() + 1e-6)
    drainage = terrain.drainage if terrain.drainage is not None else np.zeros_like(low)
    field = 1.6 * drainage * (0.6 + low) + 0.5 * low + 0.35 * edge_noise
    cover = np.clip((field - (1.5 - 0.9 * amount)) * 3.0, 0.0, 0.9) * amount
    if river.any():
        near = ndimage.binary_dilation(river, iterations=int(rng.integers(1, 4)))
        near &= (edge_noise > -0.3) & ~river
        cover = np.maximum(cover, near * 0.85 * amount)
    return cover.astype(np.float32)


def soil_mix(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Share of the second soil, 0..1 (H, W) float32, in patches of geological scale."""
    field = fractal_noise(rng, shape, beta=3.2, min_wavelength_px=3.0)
    return (1.0 / (1.0 + np.exp(-2.5 * field))).astype(np.float32)

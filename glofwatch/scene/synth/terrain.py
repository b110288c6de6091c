"""Synthetic terrain: a DEM, its illumination, and downhill paths (glaciers, rivers).

The DEM mixes a smooth fractal (valleys and basins), a ridged fractal (sharp
crests) and a gully net (V-shaped lows along the zero lines of a third field).
Illumination is the cosine of the solar incidence angle plus cast shadows
found by marching towards the sun, so steep relief gives the deep, blue-black
shadows of real Himalayan scenes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from glofwatch.scene.synth.noise import fractal_noise, ridged, unit_range


@dataclass
class Terrain:
    """A DEM and what is derived from it.

    Attributes:
        dem_m: (H, W) float32 elevation in metres.
        smooth_m: (H, W) float32 DEM smoothed to valley scale (for paths and placement).
        valley: (H, W) float32, > 0 in valleys and basins (smooth minus local mean, metres).
        pixel_size_m: ground size of one pixel.
        downhill: (2, H, W) float32 unit vectors (row, col) pointing down the smoothed DEM.
        drainage: (H, W) float32, 1 on the gully lines of the DEM, falling to 0 away from them.
    """

    dem_m: np.ndarray
    smooth_m: np.ndarray
    valley: np.ndarray
    pixel_size_m: float
    downhill: np.ndarray
    drainage: np.ndarray | None = None


def make_terrain(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pixel_size_m: float,
    base_m: float,
    relief_m: float,
    ruggedness: float,
) -> Terrain:
    """Build a random DEM.

    Args:
        rng: random source.
        shape: (height, width) in pixels.
        pixel_size_m: ground pixel size in metres.
        base_m: lowest elevation in metres.
        relief_m: elevation range in metres.
        ruggedness: 0 (rolling plateau) .. 1 (sharp alpine ridges).

    Returns:
        The :class:`Terrain`.
    """
    big = max(shape)
    ridge_px = min(big, 400.0)  # ridges and gullies keep a mountain scale (~4 km) in large scenes
    smooth = fractal_noise(rng, shape, beta=5.0, min_wavelength_px=4.0, max_wavelength_px=ridge_px)
    crest = ridged(fractal_noise(rng, shape, beta=5.0, min_wavelength_px=3.0, max_wavelength_px=ridge_px))
    gully_noise = fractal_noise(rng, shape, beta=4.5, min_wavelength_px=3.0, max_wavelength_px=ridge_px / 3.0)
    gully = np.abs(gully_noise)  # V-shaped lows along the zero lines: a dendritic-looking net
    h = smooth * (1.0 - 0.4 * ruggedness) + crest * (0.15 + 0.85 * ruggedness) + gully * (0.12 + 0.13 * ruggedness)
    if big > ridge_px:  # large scenes: main valleys and massifs carry most of the relief
        regional = fractal_noise(rng, shape, beta=4.0, min_wavelength_px=ridge_px / 2, max_wavelength_px=big)
        h = h / float(h.std()) + 1.5 * (big / ridge_px) ** 0.5 * regional
    dem = (base_m + relief_m * unit_range(h)).astype(np.float32)
    terrain = _derive(dem, pixel_size_m)
    terrain.drainage = np.exp(-((gully_noise / 0.12) ** 2)).astype(np.float32)
    return terrain


def _derive(dem: np.ndarray, pixel_size_m: float) -> Terrain:
    small = _blur(dem, max(2.0, min(dem.shape) / 80.0))
    large = _blur(small, max(6.0, min(dem.shape) / 12.0))
    g_row, g_col = np.gradient(small)
    norm = np.hypot(g_row, g_col)
    norm[norm == 0] = 1.0
    downhill = np.stack([-g_row / norm, -g_col / norm]).astype(np.float32)
    return Terrain(
        dem_m=dem,
        smooth_m=small,
        valley=(large - small).astype(np.float32),
        pixel_size_m=pixel_size_m,
        downhill=downhill,
    )


def refresh(terrain: Terrain) -> Terrain:
    """Recompute the smoothed layers after ``terrain.dem_m`` was edited (e.g. lakes flattened)."""
    fresh = _derive(terrain.dem_m, terrain.pixel_size_m)
    fresh.drainage = terrain.drainage
    return fresh


def _blur(a: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur computed on a decimated copy for speed (fine for smooth outputs)."""
    import cv2

    step = max(1, int(sigma_px // 3))
    small = np.ascontiguousarray(a[::step, ::step], dtype=np.float32)
    small = np.asarray(cv2.GaussianBlur(small, (0, 0), sigma_px / step, borderType=cv2.BORDER_REPLICATE), np.float32)
    if step == 1:
        return small
    return cv2.resize(small, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)


def sun_vector(azimuth_deg: float, elevation_deg: float) -> tuple[float, float, float]:
    """Unit vector towards the sun as (east, north, up)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return (math.cos(el) * math.sin(az), math.cos(el) * math.cos(az), math.sin(el))


def incidence(dem_m: np.ndarray, pixel_size_m: float, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Cosine of the solar incidence angle on each pixel (may be negative: self-shadow).

    Args:
        dem_m: (H, W) elevation in metres, north up.
        pixel_size_m: pixel size in metres.
        azimuth_deg: sun azimuth, clockwise from north.
        elevation_deg: sun elevation above the horizon.

    Returns:
        (H, W) float32.
    """
    d_row, d_col = np.gradient(dem_m, pixel_size_m)
    dz_east, dz_north = d_col, -d_row
    se, sn, su = sun_vector(azimuth_deg, elevation_deg)
    norm = np.sqrt(dz_east * dz_east + dz_north * dz_north + 1.0)
    return ((-dz_east * se - dz_north * sn + su) / norm).astype(np.float32)


def cast_shadow(
    dem_m: np.ndarray, pixel_size_m: float, azimuth_deg: float, elevation_deg: float, max_distance_px: int = 160
) -> np.ndarray:
    """Pixels in the cast shadow of the terrain towards the sun.

    Marches towards the sun at roughly geometric distances and flags a pixel when
    the terrain there rises above the sun ray.

    Returns:
        (H, W) bool.
    """
    h, w = dem_m.shape
    d_col = math.sin(math.radians(azimuth_deg))
    d_row = -math.cos(math.radians(azimuth_deg))
    tan_el = math.tan(math.radians(max(elevation_deg, 1.0)))
    relief = float(dem_m.max() - dem_m.min())
    reach = int(min(max_distance_px, relief / (tan_el * pixel_size_m) + 2))
    shadow = np.zeros((h, w), dtype=bool)
    if reach < 1:
        return shadow
    pad = reach + 1
    padded = np.pad(dem_m, pad, mode="edge")
    steps = sorted({int(round(s)) for s in np.geomspace(1, reach, num=min(reach, 14))})
    for t in steps:
        sr, sc = int(round(t * d_row)), int(round(t * d_col))
        if sr == 0 and sc == 0:
            continue
        dist_m = math.hypot(sr, sc) * pixel_size_m
        shifted = padded[pad + sr : pad + sr + h, pad + sc : pad + sc + w]
        shadow |= shifted - dem_m > dist_m * tan_el
    return shadow


def trace_downhill(
    rng: np.random.Generator,
    terrain: Terrain,
    start: tuple[float, float],
    max_steps: int,
    wander: float = 0.35,
    inertia: float = 0.75,
) -> np.ndarray:
    """A noisy downhill path on the smoothed DEM, one pixel per step.

    Args:
        rng: random source.
        terrain: the terrain to descend.
        start: (row, col) start point.
        max_steps: the most steps taken; the path also ends at the image edge.
        wander: random turning per step (radians, standard deviation).
        inertia: 0..1, how much of the previous heading is kept (keeps paths sweeping).

    Returns:
        (N, 2) float array of (row, col) points.
    """
    h, w = terrain.smooth_m.shape
    down_row, down_col = terrain.downhill[0], terrain.downhill[1]
    r, c = float(start[0]), float(start[1])
    hr, hc = float(down_row[int(r), int(c)]), float(down_col[int(r), int(c)])
    if hr == 0 and hc == 0:
        angle = float(rng.uniform(0, 2 * math.pi))
        hr, hc = math.sin(angle), math.cos(angle)
    turns = rng.normal(0.0, wander, max_steps).tolist()
    points = [(r, c)]
    keep = 1.0 - inertia
    for turn in turns:
        ir, ic = int(r), int(c)
        angle = math.atan2(inertia * hr + keep * down_row[ir, ic], inertia * hc + keep * down_col[ir, ic]) + turn
        hr, hc = math.sin(angle), math.cos(angle)
        r, c = r + hr, c + hc
        if not (0 <= r < h - 1 and 0 <= c < w - 1):
            break
        points.append((r, c))
    return np.asarray(points, dtype=float)


def rasterize_paths(
    shape: tuple[int, int],
    paths: list[np.ndarray],
    widths_px: list[np.ndarray],
    displacement: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw thick paths whose half-width varies along each path.

    Args:
        shape: (H, W) of the output.
        paths: list of (N, 2) (row, col) point arrays.
        widths_px: per path, (N,) half-widths in pixels.
        displacement: optional (d_row, d_col) (H, W) fields in pixels; the drawing is
            resampled at the displaced positions, which makes the edges ragged.

    Returns:
        ``(index, along)``: (H, W) int16 with the 1-based path number covering each
        pixel (0 = none; later paths cover earlier ones) and (H, W) float32 with the
        relative position 0..1 along that path (0 at its start).
    """
    import cv2

    index = np.zeros(shape, dtype=np.int16)
    along = np.zeros(shape, dtype=np.float32)
    for k, (path, width) in enumerate(zip(paths, widths_px, strict=True), start=1):
        n = len(path)
        if n < 2:
            continue
        pts = np.round(path[:, ::-1] * 16.0).astype(np.int32)  # (x, y), 4 fractional bits
        chunk = max(1, min(8, int(width.min())))
        for i in range(0, n - 1, chunk):
            j = min(i + chunk, n - 1)
            p, q = (int(pts[i, 0]), int(pts[i, 1])), (int(pts[j, 0]), int(pts[j, 1]))
            thickness = max(1, int(round(2.0 * float(width[i]))))
            cv2.line(index, p, q, k, thickness, cv2.LINE_8, 4)
            cv2.line(along, p, q, i / (n - 1), thickness, cv2.LINE_8, 4)
    if displacement is not None and index.any():
        map_row, map_col = _displaced_grid(shape, displacement)
        index = np.asarray(cv2.remap(index, map_col, map_row, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE),
                           index.dtype)
        along = np.asarray(cv2.remap(along, map_col, map_row, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE),
                           along.dtype)
    return index, along


def _displaced_grid(
    shape: tuple[int, int], displacement: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(shape[0], dtype=np.float32)[:, None] + displacement[0]
    cols = np.arange(shape[1], dtype=np.float32)[None, :] + displacement[1]
    return rows.astype(np.float32), cols.astype(np.float32)


def carve_troughs(terrain: Terrain, paths: list[np.ndarray], widths_px: list[np.ndarray], depth_m: float) -> Terrain:
    """Cut smooth U-shaped troughs along ``paths`` (glacier valleys) into the DEM.

    Args:
        terrain: the terrain to edit (its DEM is replaced).
        paths: (N, 2) (row, col) point arrays.
        widths_px: per path, (N,) half-widths of the valley floor in pixels.
        depth_m: trough depth in metres.

    Returns:
        A new :class:`Terrain` with the carved, floor-smoothed DEM.
    """
    import cv2

    if not paths:
        return terrain
    trough = np.zeros(terrain.dem_m.shape, dtype=np.float32)
    for path, width in zip(paths, widths_px, strict=True):
        pts = np.round(path[:, ::-1] * 16.0).astype(np.int32)
        for i in range(0, len(path) - 1, 4):
            j = min(i + 4, len(path) - 1)
            thickness = max(1, int(round(3.0 * float(width[i]))))
            p, q = (int(pts[i, 0]), int(pts[i, 1])), (int(pts[j, 0]), int(pts[j, 1]))
            cv2.line(trough, p, q, 1.0, thickness, cv2.LINE_8, 4)
    sigma = max(2.0, float(np.mean([w.mean() for w in widths_px])) * 0.6)
    trough = _blur(trough, sigma)
    floor = np.clip(trough * 1.4, 0.0, 1.0)
    dem = terrain.dem_m * (1.0 - floor) + _blur(terrain.dem_m, sigma) * floor - depth_m * trough
    fresh = _derive(dem.astype(np.float32), terrain.pixel_size_m)
    fresh.drainage = terrain.drainage
    return fresh

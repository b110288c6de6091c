"""Relief from a DEM: slope (degrees, or squared gradient for fast comparisons) and cast shadow.

Pure functions on arrays; :mod:`glofwatch.mapping.terrain` applies them to lake maps.
"""

from __future__ import annotations

import math

import numpy as np

from glofwatch.geo import GeoGrid

SHADOW_MAX_DISTANCE_M = 5000.0
"""Farthest a terrain horizon is searched towards the sun, in metres."""

MIN_SUN_ELEVATION_DEG = 1.0
"""Lower sun elevations are taken as this one (a horizon sun would shadow everything)."""

_NEAR_STEPS_PX = 16
_FAR_STEPS = 40


def _derivative(z: np.ndarray, axis: int, step: float) -> np.ndarray:
    """dz/d(axis): central differences, one-sided where a neighbour is unknown (NaN) or off the array."""
    if np.isfinite(z).all():  # the common case, in a third of the time: no unknown neighbour to step around
        out = np.empty_like(z)
        zz = np.moveaxis(z, axis, 0)
        oo = np.moveaxis(out, axis, 0)
        np.subtract(zz[2:], zz[:-2], out=oo[1:-1])
        oo[1:-1] *= 0.5
        oo[0] = zz[1] - zz[0]
        oo[-1] = zz[-1] - zz[-2]
        out /= step
        return out
    diff = np.diff(z, axis=axis)
    pad = np.full_like(np.take(z, [0], axis=axis), np.nan)
    fwd = np.concatenate([diff, pad], axis=axis)  # z[i+1] - z[i]
    bwd = np.concatenate([pad, diff], axis=axis)  # z[i] - z[i-1]
    central = (fwd + bwd) / 2.0
    return np.where(np.isfinite(central), central, np.where(np.isfinite(fwd), fwd, bwd)) / step


def _edges_filled(z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """``z`` with unknown cells of its outer rows and columns extrapolated, when only they are unknown.

    A window read with a one-pixel halo at the scene's edge has NaN in that halo. The value
    ``2 z[1] - z[2]`` there makes the central difference at ``z[1]`` equal the one-sided
    difference the NaN would have forced, so the fast all-finite path of :func:`_derivative`
    gives the same numbers. Returns (z to differentiate, the cells to set back to NaN or None
    when nothing was filled, whether that z is finite wherever an inside cell's differences reach).
    """
    if z.shape[0] < 4 or z.shape[1] < 4:
        return z, None, bool(np.isfinite(z).all())
    if not np.isfinite(z[1:-1, 1:-1]).all():
        return z, None, False
    unknown = ~np.isfinite(z)
    if not unknown.any():
        return z, None, True
    out = z.copy()
    for edge, a, b in ((np.s_[0, 1:-1], np.s_[1, 1:-1], np.s_[2, 1:-1]),
                       (np.s_[-1, 1:-1], np.s_[-2, 1:-1], np.s_[-3, 1:-1]),
                       (np.s_[1:-1, 0], np.s_[1:-1, 1], np.s_[1:-1, 2]),
                       (np.s_[1:-1, -1], np.s_[1:-1, -2], np.s_[1:-1, -3])):
        gap = unknown[edge]
        if gap.any():
            out[edge] = np.where(gap, 2.0 * out[a] - out[b], out[edge])
    out[0, 0] = out[0, -1] = out[-1, 0] = out[-1, -1] = 0.0  # corners: no interior cell uses them
    return out, unknown, True


def slope_deg(dem: np.ndarray, dx_m: float, dy_m: float) -> np.ndarray:
    """Slope in degrees from central differences (one-sided at the edges and next to unknown cells).

    Args:
        dem: (H, W) elevation in metres, NaN where unknown.
        dx_m: pixel width in metres.
        dy_m: pixel height in metres.

    Returns:
        (H, W) float32 slope, 0 on flat ground, NaN where the elevation or both neighbours are unknown.
    """
    z = np.asarray(dem, dtype=np.float32)
    if min(z.shape) < 2:
        return np.zeros(z.shape, np.float32)
    z, unknown, _ = _edges_filled(z)
    with np.errstate(invalid="ignore"):
        d_row, d_col = _derivative(z, 0, dy_m), _derivative(z, 1, dx_m)
        out = np.degrees(np.arctan(np.hypot(d_row, d_col))).astype(np.float32)
    if unknown is not None:
        out[unknown] = np.nan
    return out


def slope_tan2(dem: np.ndarray, dx_m: float, dy_m: float) -> np.ndarray:
    """tan(slope)^2 (the squared gradient) as :func:`slope_deg` computes it, NaN where unknown.

    Comparing it with ``tan(limit)^2`` decides ``slope > limit`` without an arctan per pixel.

    Example:
        >>> float(slope_tan2(np.array([[0.0, 10.0, 20.0]] * 3), 10.0, 10.0)[1, 1])  # 45 degrees
        1.0
    """
    z = np.asarray(dem, dtype=np.float32)
    if min(z.shape) < 2:
        return np.zeros(z.shape, np.float32)
    z, unknown, _ = _edges_filled(z)
    with np.errstate(invalid="ignore"):
        d_row, d_col = _derivative(z, 0, dy_m), _derivative(z, 1, dx_m)
        d_row *= d_row
        d_col *= d_col
        d_row += d_col
    if unknown is not None:
        d_row[unknown] = np.nan
    return d_row


def slope_tan2_inside(dem: np.ndarray, dx_m: float, dy_m: float) -> np.ndarray:
    """``slope_tan2(dem)[1:-1, 1:-1]``: the squared gradient of the cells inside a one-pixel halo.

    Computed on the inside only (central differences reach into the halo), in one pass per
    term, when the inside and the known halo cells allow it; the NaN-aware path otherwise.
    """
    z = np.asarray(dem, dtype=np.float32)
    if min(z.shape) < 4:
        return slope_tan2(z, dx_m, dy_m)[1:-1, 1:-1]
    z, _, fast = _edges_filled(z)
    if not fast:
        return slope_tan2(np.asarray(dem, dtype=np.float32), dx_m, dy_m)[1:-1, 1:-1]
    d_row = z[2:, 1:-1] - z[:-2, 1:-1]
    d_col = z[1:-1, 2:] - z[1:-1, :-2]
    d_row *= d_row
    d_row *= np.float32(0.25 / (dy_m * dy_m))
    d_col *= d_col
    d_col *= np.float32(0.25 / (dx_m * dx_m))
    d_row += d_col
    return d_row


def _tan2(deg: float) -> float:
    """tan(deg)^2; infinite at 90 degrees (nothing is steeper)."""
    return math.inf if deg >= 90.0 else math.tan(math.radians(deg)) ** 2


def shadow_steps(azimuth: float, dx_m: float, dy_m: float, reach_m: float,
                 north_up: bool = True) -> list[tuple[int, int, float]]:
    """Pixel offsets (d_row, d_col, distance in metres) towards the sun, up to ``reach_m``.

    Every pixel for the first :data:`_NEAR_STEPS_PX` pixels, then geometrically spaced
    steps (ridges far away are wide, so sparse steps still find them).
    """
    east, north = math.sin(math.radians(azimuth)), math.cos(math.radians(azimuth))
    step_m = min(dx_m, dy_m)
    if reach_m < step_m:
        return []
    near = np.arange(1, _NEAR_STEPS_PX + 1) * step_m
    far = np.geomspace(near[-1], max(reach_m, near[-1]), _FAR_STEPS)
    out: dict[tuple[int, int], float] = {}
    for s in np.concatenate([near[near <= reach_m], far]):
        dr = int(round((-north if north_up else north) * s / dy_m))
        dc = int(round(east * s / dx_m))
        if (dr, dc) != (0, 0) and (dr, dc) not in out:
            out[(dr, dc)] = math.hypot(dr * dy_m, dc * dx_m)
    return [(dr, dc, d) for (dr, dc), d in out.items()]


def cast_shadow(dem: np.ndarray, dx_m: float, dy_m: float, azimuth: float, elevation: float,
                halo: int = 0, max_distance_m: float = SHADOW_MAX_DISTANCE_M, north_up: bool = True) -> np.ndarray:
    """Pixels whose view of the sun is blocked by terrain (a horizon ray march).

    A pixel is in cast shadow when, at some distance ``d`` towards the sun (at most
    ``max_distance_m``), the terrain rises more than ``d * tan(elevation)`` above it.

    Args:
        dem: (H + 2 halo, W + 2 halo) elevation in metres, NaN where unknown (never blocks).
        dx_m: pixel width in metres.
        dy_m: pixel height in metres.
        azimuth: sun azimuth, degrees clockwise from north.
        elevation: sun elevation in degrees.
        halo: rows and columns of context around the pixels asked for, on every side.
        max_distance_m: the search bound (see :data:`SHADOW_MAX_DISTANCE_M`).
        north_up: the grid's rows run southwards (a negative transform ``e``).

    Returns:
        (H, W) bool for the pixels inside the halo.
    """
    dem = np.asarray(dem, dtype=np.float32)
    h, w = dem.shape[0] - 2 * halo, dem.shape[1] - 2 * halo
    shadow = np.zeros((h, w), dtype=bool)
    tan_el = math.tan(math.radians(max(elevation, MIN_SUN_ELEVATION_DEG)))
    finite = dem[np.isfinite(dem)]
    if finite.size == 0 or h <= 0 or w <= 0:
        return shadow
    relief = float(finite.max() - finite.min())
    reach = min(max_distance_m, relief / tan_el)
    centre = dem[halo : halo + h, halo : halo + w]
    with np.errstate(invalid="ignore"):
        for dr, dc, dist in shadow_steps(azimuth, dx_m, dy_m, reach, north_up):
            # pixels i of the centre whose point halo + i + d lies in the array (beyond it: no terrain known)
            i0, i1 = max(0, -halo - dr), min(h, dem.shape[0] - halo - dr)
            j0, j1 = max(0, -halo - dc), min(w, dem.shape[1] - halo - dc)
            if i0 >= i1 or j0 >= j1:
                continue
            ahead = dem[halo + dr + i0 : halo + dr + i1, halo + dc + j0 : halo + dc + j1]
            shadow[i0:i1, j0:j1] |= ahead - centre[i0:i1, j0:j1] > dist * tan_el
    return shadow


def cast_shadow_at(dem: np.ndarray, rows: np.ndarray, cols: np.ndarray, dx_m: float, dy_m: float, azimuth: float,
                   elevation: float, max_distance_m: float = SHADOW_MAX_DISTANCE_M, north_up: bool = True
                   ) -> np.ndarray:
    """:func:`cast_shadow` for a few pixels of ``dem`` only: the march samples the DEM along each ray.

    The same rule and the same steps as :func:`cast_shadow` (for the same search reach), at a cost
    proportional to the number of pixels asked for instead of the area around them: lake pixels
    that the cast-shadow rule must judge are a small share of a scene.

    Args:
        dem: (H, W) elevation in metres, NaN where unknown (never blocks); must hold the terrain
            towards the sun of every pixel asked for (beyond the array: no terrain known).
        rows: row indices of the pixels in ``dem``.
        cols: column indices of the pixels in ``dem``.
        dx_m: pixel width in metres.
        dy_m: pixel height in metres.
        azimuth: sun azimuth, degrees clockwise from north.
        elevation: sun elevation in degrees.
        max_distance_m: the search bound, shortened to what the relief of ``dem`` can cast.
        north_up: the grid's rows run southwards.

    Returns:
        bool per pixel asked for: in cast shadow.
    """
    dem = np.asarray(dem, dtype=np.float32)
    rows, cols = np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)
    shadow = np.zeros(rows.shape, dtype=bool)
    if rows.size == 0:
        return shadow
    tan_el = math.tan(math.radians(max(elevation, MIN_SUN_ELEVATION_DEG)))
    z = dem[rows, cols]
    known = np.isfinite(z)
    if not known.any():
        return shadow
    with np.errstate(invalid="ignore"):
        top = float(np.nanmax(dem))
    reach = min(max_distance_m, (top - float(z[known].min())) / tan_el)
    open_ = np.flatnonzero(known)  # pixels not in shadow yet: only they are tested at the next step
    h, w = dem.shape
    with np.errstate(invalid="ignore"):
        for dr, dc, dist in shadow_steps(azimuth, dx_m, dy_m, reach, north_up):
            if open_.size == 0:
                break
            i, j = rows[open_] + dr, cols[open_] + dc
            inside = (i >= 0) & (i < h) & (j >= 0) & (j < w)
            ahead = np.full(open_.size, np.nan, dtype=np.float32)
            ahead[inside] = dem[i[inside], j[inside]]
            hit = ahead - z[open_] > dist * tan_el
            shadow[open_[hit]] = True
            open_ = open_[~hit]
    return shadow


def ray_rows(azimuth: float, dx_m: float, dy_m: float, reach_m: float, north_up: bool = True) -> tuple[int, int]:
    """(fewest, most) rows the shadow march of :func:`shadow_steps` steps from a pixel (0 included)."""
    drs = [dr for dr, _, _ in shadow_steps(azimuth, dx_m, dy_m, reach_m, north_up)]
    return min([0, *drs]), max([0, *drs])


def pixel_size_m(grid: GeoGrid, row: float) -> tuple[float, float]:
    """(dx, dy) of the grid's pixels in metres at ``row`` (geographic CRSs: at that latitude)."""
    from rasterio.crs import CRS

    dx, dy = grid.pixel_size
    crs = CRS.from_user_input(grid.crs)
    if crs.is_geographic:
        lat = (grid.transform @ (grid.width / 2.0, row))[1]
        return dx * 111_320.0 * math.cos(math.radians(lat)), dy * 110_574.0
    unit = crs.linear_units_factor[1] if crs.is_projected else 1.0
    return dx * unit, dy * unit


__all__ = ["MIN_SUN_ELEVATION_DEG", "SHADOW_MAX_DISTANCE_M", "cast_shadow", "cast_shadow_at", "pixel_size_m",
           "ray_rows", "shadow_steps", "slope_deg", "slope_tan2", "slope_tan2_inside"]

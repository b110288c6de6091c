"""Terrain rules for lake maps: lake pixels on steep slopes or in cast shadow are not lake.

A lake surface is flat, and water-like dark pixels on steep ground are terrain shadow,
shadowed snow or wet rock. With a DEM (SRTM, Copernicus GLO-30 or any GeoTIFF of
elevation in metres, in any CRS and resolution) :class:`TerrainRules` turns such pixels
of a strip of the mask from lake (1) into not lake (0):

* **slope**: pixels steeper than ``max_slope`` degrees (default
  :data:`DEFAULT_MAX_SLOPE_DEG` = 10; a convention of glacial-lake inventories, which
  keep lakes on slopes below about 10 degrees, e.g. the slope criterion of Zhang et al. 2015,
  Global and Planetary Change 131, and of the ICIMOD Hindu Kush Himalaya inventories).
* **cast shadow**: pixels in the terrain's cast shadow (from the product's sun angles)
  whose slope exceeds :data:`SHADOW_MIN_SLOPE_DEG` (5 degrees). Shadow alone is not
  enough: real lakes lie at the foot of steep walls and are often in cast shadow at
  Sentinel-2's 10:30 overpass (a quarter of the lake pixels of the synthetic 2048 px
  scene are), so "in cast shadow" alone would cost recall; a lake surface is flat to
  within DEM noise (2-4 m over 30 m, about 4-8 degrees at the worst), so shadowed ground
  steeper than 5 degrees is dropped while the 10-degree rule applies in the sun.

The DEM is read strip by strip through a :class:`rasterio.vrt.WarpedVRT` onto the scene's
grid (bilinear), so a geographic-CRS DEM arrives in the scene's projected CRS and the slope
uses the scene's pixel size in metres. Cast shadow marches from each pixel towards the sun
over at most :data:`SHADOW_MAX_DISTANCE_M` (5 km; a ridge 2.9 km above the lake for a sun
at 30 degrees elevation, 6 km at 50 degrees), shortened to what the strip's relief can cast.
Pixels without DEM data are left as mapped (and counted). The probability map is not
changed: only the mask.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.mapping.relief import (
    SHADOW_MAX_DISTANCE_M,
    _tan2,
    cast_shadow,
    pixel_size_m,
    shadow_steps,
    slope_deg,
    slope_tan2,
)

DEFAULT_MAX_SLOPE_DEG = 10.0
"""Steepest slope a lake pixel may lie on (glacial-lake inventory convention, about 10 degrees)."""

SHADOW_MIN_SLOPE_DEG = 5.0
"""Lake pixels in cast shadow are dropped when steeper than this (flat lakes in shadow are kept)."""

STRIPS_KEPT = 3
SHADOW_BLOCK_PX = 1024
"""Columns of a strip the cast-shadow march handles at once (only blocks holding candidate pixels)."""


def _blocks_with(flags: np.ndarray, block: int) -> list[int]:
    """Start columns of the ``block``-wide column blocks of (h, W) ``flags`` that hold a True pixel."""
    cols = np.flatnonzero(flags.any(axis=0))
    return sorted({int(c) // block * block for c in cols})
"""Strips whose DEM and slope :class:`TerrainRules` keeps (the screen computes them a strip ahead of the mask)."""


@dataclass(frozen=True)
class Sun:
    """Sun position of a product (degrees).

    Attributes:
        zenith: sun zenith angle (90 - elevation).
        azimuth: sun azimuth, clockwise from north.
        source: where the angles came from (``MTD_MSIL2A.xml``, ``STAC view:sun_*``, a tag).
    """

    zenith: float
    azimuth: float
    source: str = ""

    @classmethod
    def of(cls, product: Any) -> Sun | None:
        """The sun of a :class:`~glofwatch.scene.products.ProductInfo`, or None when it records none."""
        zenith, azimuth = getattr(product, "sun_zenith", None), getattr(product, "sun_azimuth", None)
        if zenith is None or azimuth is None:
            return None
        return cls(float(zenith), float(azimuth), str(getattr(product, "sun_from", "") or ""))

    @property
    def elevation(self) -> float:
        """Sun elevation above the horizon."""
        return 90.0 - self.zenith


@dataclass
class TerrainTally:
    """What the terrain rules removed (flat pixel indices of the scene, per rule)."""

    dem: str
    max_slope: float
    shadow: bool
    sun: Sun | None
    width: int
    slope_idx: list[np.ndarray] = field(default_factory=list)
    shadow_idx: list[np.ndarray] = field(default_factory=list)
    dem_missing_px: int = 0
    seconds: float = 0.0

    def finish(self, mask_path: str | Path, min_area_m2: float) -> dict[str, Any]:
        """:meth:`summary` for the written mask GeoTIFF, counting lakes of at least ``min_area_m2``."""
        from glofwatch.io.raster import read_raster

        mask, grid = read_raster(mask_path)
        area = grid.pixel_area_m2()
        return self.summary(mask, min_area_m2 / area if math.isfinite(area) and area > 0 else 0.0)

    def summary(self, mask: np.ndarray | None = None, min_area_px: float = 0.0) -> dict[str, Any]:
        """The ``terrain`` record of ``summary.json``; with the final ``mask``, the lakes removed.

        A lake (4-connected, at least ``min_area_px`` pixels before the rules) is removed when
        fewer than ``min_area_px`` of its pixels are still lake; it is put down to the rule that
        removed most of its pixels.
        """
        slope_idx = np.concatenate(self.slope_idx) if self.slope_idx else np.zeros(0, np.int64)
        shadow_idx = np.concatenate(self.shadow_idx) if self.shadow_idx else np.zeros(0, np.int64)
        by = {"slope": 0, "shadow": 0}
        if mask is not None and (slope_idx.size or shadow_idx.size):
            from glofwatch.connectivity import label_lakes, lake_sizes

            before = mask == 1
            before.flat[slope_idx] = True
            before.flat[shadow_idx] = True
            labels, n = label_lakes(before)
            size = lake_sizes(labels, n)
            left = np.bincount(labels[mask == 1], minlength=n + 1)
            n_slope = np.bincount(labels.flat[slope_idx], minlength=n + 1)
            n_shadow = np.bincount(labels.flat[shadow_idx], minlength=n + 1)
            gone = (size >= max(min_area_px, 1)) & (left < max(min_area_px, 1))
            gone[0] = False
            by = {"slope": int(np.count_nonzero(gone & (n_slope >= n_shadow))),
                  "shadow": int(np.count_nonzero(gone & (n_shadow > n_slope)))}
        return {
            "dem": self.dem, "max_slope": self.max_slope, "shadow": self.shadow and self.sun is not None,
            "shadow_min_slope": SHADOW_MIN_SLOPE_DEG, "shadow_max_distance_m": SHADOW_MAX_DISTANCE_M,
            "sun_zenith": self.sun.zenith if self.sun else None, "sun_azimuth": self.sun.azimuth if self.sun else None,
            "sun_from": self.sun.source if self.sun else None,
            "slope_removed_px": int(slope_idx.size), "shadow_removed_px": int(shadow_idx.size),
            "lakes_removed": by["slope"] + by["shadow"], "lakes_removed_by": by,
            "dem_missing_px": self.dem_missing_px, "seconds": round(self.seconds, 3),
            "note": "the product records no sun angles, so the cast-shadow rule was skipped (the slope rule was "
                    "applied)" if self.shadow and self.sun is None else None,
        }


class TerrainRules:
    """The slope and cast-shadow rules for one scene, applied strip by strip (a context manager).

    Safe to share between threads: :meth:`flat` and :meth:`apply` take turns on the strip cache
    (the scene mapper's reader thread screens the next strip while its writer applies the rules).

    Args:
        dem: DEM GeoTIFF, elevation in metres, any CRS and resolution.
        grid: the scene's grid.
        max_slope: steepest slope of a lake pixel, degrees.
        sun: the product's sun angles (None: no cast-shadow rule).
        shadow: apply the cast-shadow rule when the sun is known.
        scene: the scene, named in errors.

    Raises:
        InputError: the DEM is missing, unreadable, without CRS or off the scene; the scene has no CRS.
    """

    def __init__(self, dem: str | Path, grid: GeoGrid, max_slope: float = DEFAULT_MAX_SLOPE_DEG,
                 sun: Sun | None = None, shadow: bool = True, scene: str = "scene") -> None:
        import rasterio
        from affine import Affine
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT
        from rasterio.warp import transform_bounds

        self.path = Path(dem)
        if not math.isfinite(max_slope) or not 0.0 < max_slope <= 90.0:
            raise InputError(f"--max-slope {max_slope} must be in (0, 90] degrees; inventories use 10")
        if not self.path.is_file():
            raise InputError(f"{self.path}: DEM not found; give an SRTM or Copernicus GLO-30 GeoTIFF (metres) "
                             "with --dem, or map without it")
        if grid.crs is None:
            raise InputError(f"{scene}: the scene has no CRS, so the DEM {self.path} cannot be placed on it; "
                             "georeference the scene or map without --dem")
        try:
            self._src = rasterio.open(self.path)
        except rasterio.errors.RasterioError as exc:
            raise InputError(f"{self.path}: cannot read the DEM ({str(exc).splitlines()[0]}); give a GeoTIFF of "
                             "elevation in metres") from None
        src = self._src
        if src.crs is None:
            src.close()
            raise InputError(f"{self.path}: the DEM has no CRS; set it (e.g. gdal_edit.py -a_srs EPSG:4326 "
                             f"{self.path}) or give a georeferenced DEM")
        left, bottom, right, top = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
        sl, sb, sr, st = grid.bounds
        if left >= sr or right <= sl or bottom >= st or top <= sb:
            src.close()
            raise InputError(f"{self.path}: the DEM does not overlap the scene {scene} (DEM bounds "
                             f"{tuple(round(v, 4) for v in src.bounds)} in {src.crs}); give a DEM that covers it")
        self.grid, self.max_slope, self.sun = grid, float(max_slope), sun
        self.shadow = bool(shadow) and sun is not None
        self.north_up = grid.transform.e < 0
        dx_m, dy_m = pixel_size_m(grid, grid.height / 2.0)
        self.halo = 1 + (math.ceil(SHADOW_MAX_DISTANCE_M / min(dx_m, dy_m)) if self.shadow else 0)
        h = self.halo
        # a DEM on the scene's own grid is read as it is (a plain windowed read, no warping)
        self._same_grid = (src.crs == rasterio.crs.CRS.from_user_input(grid.crs) and src.transform == grid.transform
                           and (src.height, src.width) == (grid.height, grid.width))
        self._vrt = None if self._same_grid else WarpedVRT(
            src, crs=grid.crs, transform=grid.transform @ Affine.translation(-h, -h),
            width=grid.width + 2 * h, height=grid.height + 2 * h, resampling=Resampling.bilinear,
            src_nodata=src.nodata, nodata=np.nan, dtype="float32",
        )
        self._strips: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # the last few (row, height)
        self._lock = threading.RLock()
        self.tally = TerrainTally(str(self.path), self.max_slope, bool(shadow), sun, grid.width)

    def __enter__(self) -> TerrainRules:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the DEM."""
        if self._vrt is not None:
            self._vrt.close()
        self._src.close()

    def read(self, row: int, height: int, halo: int | None = None, col: int = 0, width: int | None = None
             ) -> np.ndarray:
        """DEM on the scene grid for a window with ``halo`` (default :attr:`halo`) around it (NaN: no data).

        The window is rows ``row .. row + height`` and columns ``col .. col + width`` (default: all).
        """
        from rasterio.windows import Window

        h = self.halo if halo is None else min(halo, self.halo)
        width = self.grid.width - col if width is None else width
        if self._vrt is not None:  # the VRT has :attr:`halo` around the scene
            d = self.halo - h
            return self._vrt.read(1, window=Window(col + d, row + d, width + 2 * h, height + 2 * h))
        r0, c0 = row - h, col - h
        r1, c1 = row + height + h, col + width + h
        out = np.full((r1 - r0, c1 - c0), np.nan, dtype=np.float32)
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r1, self.grid.height), min(c1, self.grid.width)
        if rr0 < rr1 and cc0 < cc1:  # the part inside the DEM, read plainly (a boundless read warps: slow)
            part = self._src.read(1, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0), masked=True, out_dtype="float32")
            out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = np.ma.filled(part, np.nan)
        return out

    def strip(self, row: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """(DEM with a 1 px halo, squared slope tangent) for rows ``row .. row + height``; kept for :meth:`apply`."""
        cached = self._cached(row, height)
        if cached is not None:
            return cached
        start = time.perf_counter()
        dem = self.read(row, height, halo=1)
        dx_m, dy_m = pixel_size_m(self.grid, row + height / 2.0)
        slope = slope_tan2(dem, dx_m, dy_m)[1:-1, 1:-1]  # compared with tan^2 of the limits: no arctan
        self._strips[(row, height)] = (dem, slope)
        while len(self._strips) > STRIPS_KEPT:
            self._strips.pop(next(iter(self._strips)))
        self.tally.seconds += time.perf_counter() - start
        return dem, slope

    def _cached(self, row: int, height: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(DEM with halo, slope) of rows ``row .. row + height`` cut from a kept strip, or None."""
        for (r0, n0), (dem, slope) in self._strips.items():
            if r0 <= row and row + height <= r0 + n0:
                return dem[row - r0 : row - r0 + height + 2], slope[row - r0 : row - r0 + height]
        return None

    def flat(self, row: int, height: int) -> np.ndarray:
        """(height, W) bool: pixels a lake may cover by the slope rule (slope <= max_slope, or unknown)."""
        with self._lock:
            _, slope = self.strip(row, height)
        with np.errstate(invalid="ignore"):
            return ~(slope > _tan2(self.max_slope))

    def apply(self, row: int, mask: np.ndarray) -> tuple[int, int]:
        """Turn lake pixels (1) of a mask strip starting at scene row ``row`` into 0 by the rules, in place.

        Returns:
            (pixels removed by the slope rule, pixels removed by the cast-shadow rule).
        """
        with self._lock:
            return self._apply(row, mask)

    def _apply(self, row: int, mask: np.ndarray) -> tuple[int, int]:
        lake = mask == 1
        if not lake.any():
            return 0, 0
        n = mask.shape[0]
        _, slope = self.strip(row, n)  # the strip's own when the screen computed it already
        start = time.perf_counter()
        dx_m, dy_m = pixel_size_m(self.grid, row + n / 2.0)
        known = np.isfinite(slope)
        self.tally.dem_missing_px += int(np.count_nonzero(lake & ~known))
        with np.errstate(invalid="ignore"):
            steep = lake & (slope > _tan2(self.max_slope))
            mask[steep] = 0
            dark = np.zeros_like(steep)
            if self.shadow and self.sun is not None:
                candidates = lake & ~steep & (slope > _tan2(SHADOW_MIN_SLOPE_DEG))
                # the horizon march needs the DEM far around: only over the box of the candidates
                # of each column block that has any
                blocks = _blocks_with(candidates, SHADOW_BLOCK_PX)
                if blocks:  # one DEM read around all of them (block halos overlap), then a march per block
                    h = self.halo
                    rows_all = np.flatnonzero(candidates.any(axis=1))
                    cols_all = np.flatnonzero(candidates.any(axis=0))
                    R0, R1 = int(rows_all[0]), int(rows_all[-1]) + 1
                    C0, C1 = int(cols_all[0]), int(cols_all[-1]) + 1
                    big = self.read(row + R0, R1 - R0, col=C0, width=C1 - C0)
                for b0 in blocks:
                    block = candidates[:, b0 : b0 + SHADOW_BLOCK_PX]
                    rows_with = np.flatnonzero(block.any(axis=1))
                    cols_with = np.flatnonzero(block.any(axis=0))
                    r0, r1 = int(rows_with[0]), int(rows_with[-1]) + 1
                    c0, c1 = b0 + int(cols_with[0]), b0 + int(cols_with[-1]) + 1
                    dem = big[r0 - R0 : r1 - R0 + 2 * h, c0 - C0 : c1 - C0 + 2 * h]
                    shade = cast_shadow(dem, dx_m, dy_m, self.sun.azimuth, self.sun.elevation, h,
                                        north_up=self.north_up)
                    dark[r0:r1, c0:c1] = candidates[r0:r1, c0:c1] & shade
                mask[dark] = 0
        offset = row * self.grid.width
        self.tally.slope_idx.append(np.flatnonzero(steep) + offset)
        self.tally.shadow_idx.append(np.flatnonzero(dark) + offset)
        self.tally.seconds += time.perf_counter() - start
        return int(np.count_nonzero(steep)), int(np.count_nonzero(dark))


__all__ = [
    "DEFAULT_MAX_SLOPE_DEG", "SHADOW_MAX_DISTANCE_M", "SHADOW_MIN_SLOPE_DEG", "Sun", "TerrainRules", "TerrainTally",
    "cast_shadow", "pixel_size_m", "shadow_steps", "slope_deg",
]

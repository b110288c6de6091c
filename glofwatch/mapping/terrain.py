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

A DEM coarser than the scene smears each shore's slope break over about one of its cells
(3 pixels of 10 m for Copernicus GLO-30), so per pixel the slope rule would erode every lake's
rim: on the synthetic tile a GLO-30-like DEM cost 6.8 points of IoU and 3.0 of lake recall
against the same DEM on the scene's grid (0.4 and 0.0 with the allowance). A pixel is therefore
steep for the rules only when every pixel within that reach (:func:`blur_px`) is steep too; a
DEM on the scene's resolution is used pixel by pixel.

The DEM is read through a :class:`rasterio.vrt.WarpedVRT` onto the scene's grid (bilinear),
so a geographic-CRS DEM arrives in the scene's projected CRS and the slope uses the scene's
pixel size in metres; a DEM already on the scene's grid is read plainly. Rows are read once,
in order, into a rolling buffer that the slope of each strip and the cast-shadow march of the
strip before it share (:attr:`TerrainRules.lag_rows` says how far behind the newest row a
request may come). Cast shadow marches from each candidate pixel towards the sun over at
most :data:`SHADOW_MAX_DISTANCE_M` (5 km; a ridge 2.9 km above the lake for a sun at 30
degrees elevation, 6 km at 50 degrees), shortened to what the relief can cast, sampling the
DEM along the ray of that pixel only (:func:`~glofwatch.mapping.relief.cast_shadow_at`).
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
    cast_shadow_at,
    pixel_size_m,
    ray_rows,
    shadow_steps,
    slope_deg,
    slope_tan2_inside,
)

DEFAULT_MAX_SLOPE_DEG = 10.0
"""Steepest slope a lake pixel may lie on (glacial-lake inventory convention, about 10 degrees)."""

SHADOW_MIN_SLOPE_DEG = 5.0
"""Lake pixels in cast shadow are dropped when steeper than this (flat lakes in shadow are kept)."""

STEEP, SHADOW_STEEP, NO_DEM, STEEP_HERE = 1, 2, 4, 8
"""Bits of :meth:`TerrainRules.strip`: steep (than ``max_slope``) for the slope rule, steep for the shadow
rule (both with every pixel within the DEM's blur steep too, see :func:`blur_px`), no DEM, and steeper
than ``max_slope`` at the pixel itself (what the screen skips)."""

STRIPS_KEPT = 3
"""Strips whose slope :class:`TerrainRules` keeps (the screen computes them a strip ahead of the mask)."""
DEFAULT_LAG_ROWS = 1024
"""How far above the newest DEM row read a later request may start (two 512 px strips)."""


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


def blur_px(dem_pixel_m: float, scene_pixel_m: float) -> int:
    """How far (scene pixels) a DEM coarser than the scene smears the slope break at a lake's shore.

    A DEM cell averages the ground under it, so the cell on a shore mixes the flat lake with
    the steep moraine or wall beside it, and the slope interpolated onto the finer scene grid
    rises between the centre of the last cell wholly on the lake and the shore: over up to
    one DEM cell of open water. The slope rule therefore calls a pixel steep only when all
    pixels within this many are (:func:`steep_everywhere_near`): one DEM cell, 3 pixels for
    Copernicus GLO-30's 31 m on Sentinel-2's 10 m, 9 for 90 m SRTM, none for a DEM less than
    1.5 times coarser than the scene.

    Example:
        >>> blur_px(30.9, 10.0), blur_px(10.0, 10.0), blur_px(92.7, 10.0), blur_px(5.0, 10.0)
        (3, 0, 9, 0)
    """
    if not (math.isfinite(dem_pixel_m) and math.isfinite(scene_pixel_m)) or scene_pixel_m <= 0:
        return 0
    ratio = dem_pixel_m / scene_pixel_m
    return round(ratio) if ratio >= 1.5 else 0


def steep_everywhere_near(classes: np.ndarray, unknown: np.ndarray, radius: int) -> np.ndarray:
    """Slope classes kept only where every known pixel within ``radius`` (a square) has them too.

    ``classes`` holds the bits :data:`STEEP` and :data:`SHADOW_STEEP` (steep implies
    shadow-steep, so the classes are ordered 0 < SHADOW_STEEP < both and a minimum is a
    bitwise and). Pixels without DEM (``unknown``) neither veto nor count. Returns the inside
    of ``classes``, ``radius`` pixels in from each side.

    Example:
        >>> c = np.full((3, 7), STEEP | SHADOW_STEEP, np.uint8); c[:, 3] = 0
        >>> steep_everywhere_near(c, np.zeros(c.shape, bool), 1).tolist()  # flat ground 1 px away clears
        [[3, 0, 0, 0, 3]]
    """
    c = classes.copy()
    c[unknown] = STEEP | SHADOW_STEEP  # the largest class: no veto
    k = 2 * radius + 1
    h, w = c.shape[0] - k + 1, c.shape[1] - k + 1
    rows = c[:h].copy()  # the minimum over the square, one axis at a time (10x scipy's minimum_filter here)
    for i in range(1, k):
        np.minimum(rows, c[i : i + h], out=rows)
    out = rows[:, :w].copy()
    for j in range(1, k):
        np.minimum(out, rows[:, j : j + w], out=out)
    out[unknown[radius:-radius, radius:-radius]] = 0
    return out


@dataclass
class TerrainTally:
    """What the terrain rules removed (flat pixel indices of the scene, per rule)."""

    dem: str
    max_slope: float
    shadow: bool
    sun: Sun | None
    width: int
    tiles: list[str] = field(default_factory=list)
    slope_idx: list[np.ndarray] = field(default_factory=list)
    shadow_idx: list[np.ndarray] = field(default_factory=list)
    dem_missing_px: int = 0
    seconds: float = 0.0
    dem_rows_read: int = 0
    dem_rows_reread: int = 0
    dem_rows_plain: int = 0

    def finish(self, mask: np.ndarray, grid: GeoGrid, min_area_m2: float) -> dict[str, Any]:
        """:meth:`summary` for the scene's final mask on ``grid``, counting lakes of at least ``min_area_m2``."""
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
            from glofwatch.connectivity import label_pixels

            final = np.flatnonzero(mask.reshape(-1) == 1)
            # the lake pixels before the rules, sorted (np.union1d's hashing unique took 1.6 s for 1.4 M pixels)
            before = np.sort(np.concatenate([final, slope_idx, shadow_idx]))
            before = before[np.r_[True, before[1:] != before[:-1]]]
            lake, n = label_pixels(before, mask.shape[1])  # those pixels alone, no scene-size label raster
            size = np.bincount(lake, minlength=n + 1)
            left = np.bincount(lake[np.searchsorted(before, final)], minlength=n + 1)
            n_slope = np.bincount(lake[np.searchsorted(before, slope_idx)], minlength=n + 1)
            n_shadow = np.bincount(lake[np.searchsorted(before, shadow_idx)], minlength=n + 1)
            gone = (size >= max(min_area_px, 1)) & (left < max(min_area_px, 1))
            gone[0] = False
            by = {"slope": int(np.count_nonzero(gone & (n_slope >= n_shadow))),
                  "shadow": int(np.count_nonzero(gone & (n_shadow > n_slope)))}
        return {
            "dem": self.dem, "dem_tiles": self.tiles or None, "max_slope": self.max_slope,
            "shadow": self.shadow and self.sun is not None,
            "shadow_min_slope": SHADOW_MIN_SLOPE_DEG, "shadow_max_distance_m": SHADOW_MAX_DISTANCE_M,
            "sun_zenith": self.sun.zenith if self.sun else None, "sun_azimuth": self.sun.azimuth if self.sun else None,
            "sun_from": self.sun.source if self.sun else None,
            "slope_removed_px": int(slope_idx.size), "shadow_removed_px": int(shadow_idx.size),
            "lakes_removed": by["slope"] + by["shadow"], "lakes_removed_by": by,
            "dem_missing_px": self.dem_missing_px, "seconds": round(self.seconds, 3),
            "dem_rows_read": self.dem_rows_read, "dem_rows_reread": self.dem_rows_reread,
            "dem_rows_warped_plain": self.dem_rows_plain,
            "note": "the product records no sun angles, so the cast-shadow rule was skipped (the slope rule was "
                    "applied)" if self.shadow and self.sun is None else None,
        }


class SourceChunks:
    """The DEM's cells under a scene, decoded once: whole rows of its blocks, kept while strips use them.

    The warp of each strip reads the DEM cells under it, a window of fewer rows than one of the
    DEM's blocks (155 rows of a 1024-row block of Copernicus GLO-30 for a 480-row strip of 10 m
    pixels). GDAL's block cache would keep the block between strips, but the scene's own bands
    go through the same cache (4 bands and the SCL of a strip: about 56 MB of a 64 MB cache) and
    push the DEM's blocks out, so each block was decompressed again for every strip it reached:
    2.3 s of DEFLATE per Sentinel-2 tile against 0.4 s when kept. Here the rows of whole blocks
    under the scene (its columns only, with the warp's margin) are read once and the last
    :attr:`kept` such chunks stay: about 18 MB each for GLO-30 under a 110 km tile.
    """

    kept = 2
    min_rows = 256

    def __init__(self, src: Any, vrt: Any, crs: Any) -> None:
        from rasterio.warp import transform_bounds
        from rasterio.windows import from_bounds

        self.src = src
        block_h = int(src.block_shapes[0][0]) if src.block_shapes else 1
        self.rows = max(block_h, -(-self.min_rows // block_h) * block_h)
        bounds = transform_bounds(crs, src.crs, *vrt.bounds, densify_pts=21)
        win = from_bounds(*bounds, transform=src.transform)
        self.c0 = max(0, math.floor(win.col_off) - 3)
        self.c1 = min(src.width, math.ceil(win.col_off + win.width) + 3)
        self._kept: dict[int, np.ndarray] = {}

    def _chunk(self, k: int) -> np.ndarray:
        from rasterio.windows import Window

        chunk = self._kept.pop(k, None)
        if chunk is None:
            r0 = k * self.rows
            window = Window(self.c0, r0, self.c1 - self.c0, min(self.rows, self.src.height - r0))
            chunk = self.src.read(1, window=window, out_dtype="float32")
        self._kept[k] = chunk  # the newest last
        while len(self._kept) > self.kept:
            self._kept.pop(next(iter(self._kept)))
        return chunk

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray | None:
        """DEM cells of rows ``r0 .. r1`` and columns ``c0 .. c1`` (float32), or None when outside the kept columns."""
        if c0 < self.c0 or c1 > self.c1 or r0 < 0 or r1 > self.src.height or r0 >= r1:
            return None
        k0, k1 = r0 // self.rows, (r1 - 1) // self.rows
        parts = [self._chunk(k)[max(r0 - k * self.rows, 0) : r1 - k * self.rows, c0 - self.c0 : c1 - self.c0]
                 for k in range(k0, k1 + 1)]
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)


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
        lag_rows: how many rows above the newest row read a later request may start (the
            scene mapper's writer lags its reader by up to two strips); rows above that are
            dropped from the buffer, and a request reaching above them reads them again (counted
            in ``dem_rows_reread``).

    Raises:
        InputError: the DEM is missing, unreadable, without CRS or off the scene; the scene has no CRS.
    """

    def __init__(self, dem: str | Path, grid: GeoGrid, max_slope: float = DEFAULT_MAX_SLOPE_DEG,
                 sun: Sun | None = None, shadow: bool = True, scene: str = "scene",
                 lag_rows: int = DEFAULT_LAG_ROWS) -> None:
        import rasterio
        from affine import Affine
        from rasterio.enums import MaskFlags, Resampling
        from rasterio.vrt import WarpedVRT
        from rasterio.warp import transform_bounds

        self.path = Path(dem)
        if not math.isfinite(max_slope) or not 0.0 < max_slope <= 90.0:
            raise InputError(f"--max-slope {max_slope} must be in (0, 90] degrees; inventories use 10")
        if not self.path.is_file() and not self.path.is_dir():
            raise InputError(f"{self.path}: DEM not found; give an SRTM or Copernicus GLO-30 GeoTIFF (metres), or a "
                             "folder of their tiles, with --dem, or map without it")
        if grid.crs is None:
            raise InputError(f"{scene}: the scene has no CRS, so the DEM {self.path} cannot be placed on it; "
                             "georeference the scene or map without --dem")
        self._memfile: Any = None
        self.tiles: list[Path] = []
        if self.path.is_dir():  # a folder of tiles: those the scene overlaps, as one VRT
            from glofwatch.mapping.dem_tiles import open_dem_folder

            self._src, self._memfile, self.tiles = open_dem_folder(self.path, grid.crs, grid.bounds, scene)
        else:
            try:
                self._src = rasterio.open(self.path)
            except rasterio.errors.RasterioError as exc:
                raise InputError(f"{self.path}: cannot read the DEM ({str(exc).splitlines()[0]}); give a GeoTIFF of "
                                 "elevation in metres") from None
        src = self._src
        if src.crs is None:
            self._close_source()
            raise InputError(f"{self.path}: the DEM has no CRS; set it (e.g. gdal_edit.py -a_srs EPSG:4326 "
                             f"{self.path}) or give a georeferenced DEM")
        left, bottom, right, top = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
        sl, sb, sr, st = grid.bounds
        if left >= sr or right <= sl or bottom >= st or top <= sb:
            self._close_source()
            raise InputError(f"{self.path}: the DEM does not overlap the scene {scene} (DEM bounds "
                             f"{tuple(round(v, 4) for v in src.bounds)} in {src.crs}); give a DEM that covers it")
        self.grid, self.max_slope, self.sun = grid, float(max_slope), sun
        self.shadow = bool(shadow) and sun is not None
        self.north_up = grid.transform.e < 0
        dx_m, dy_m = pixel_size_m(grid, grid.height / 2.0)
        dem_grid = GeoGrid(src.crs.to_wkt(), src.transform, src.height, src.width)
        self.dem_pixel_m = max(pixel_size_m(dem_grid, src.height / 2.0))
        self.blur = blur_px(self.dem_pixel_m, min(dx_m, dy_m))
        self.halo = 1 + max(self.blur, math.ceil(SHADOW_MAX_DISTANCE_M / min(dx_m, dy_m)) if self.shadow else 0)
        h = self.halo
        # a DEM on the scene's own grid is read as it is (a plain windowed read, no warping)
        self._same_grid = (src.crs == rasterio.crs.CRS.from_user_input(grid.crs) and src.transform == grid.transform
                           and (src.height, src.width) == (grid.height, grid.width))
        self._vrt = None if self._same_grid else WarpedVRT(
            src, crs=grid.crs, transform=grid.transform @ Affine.translation(-h, -h),
            width=grid.width + 2 * h, height=grid.height + 2 * h, resampling=Resampling.bilinear,
            src_nodata=src.nodata, nodata=np.nan, dtype="float32",
        )
        self._strips: dict[tuple[int, int], np.ndarray] = {}  # slope of the last few (row, height)
        # the kept DEM rows _lo .. _hi of the scene grid (columns -halo .. W + halo) in a store
        # whose row 0 is scene row _store_row; room for the rows the readers ask for at once
        self._store_margin = 1024
        self._store_row = self._lo = self._hi = -h
        self._plain_nodata = all(MaskFlags.per_dataset not in f and MaskFlags.alpha not in f
                                 for f in src.mask_flag_enums)
        self._chunks = SourceChunks(src, self._vrt, grid.crs) if self._vrt is not None and self._plain_nodata else None
        # the march towards a sun in the north (rows upwards) asks for rows above its strip too
        self._up = -ray_rows(sun.azimuth, dx_m, dy_m, SHADOW_MAX_DISTANCE_M, self.north_up)[0] if (
            self.shadow and sun) else 0
        self.lag_rows = int(lag_rows) + self._up
        self._store = np.empty((self.lag_rows + 2 * h + self._store_margin, grid.width + 2 * h), np.float32)
        self._lock = threading.RLock()
        self.tally = TerrainTally(str(self.path), self.max_slope, bool(shadow), sun, grid.width,
                                  tiles=[p.name for p in self.tiles])

    def __enter__(self) -> TerrainRules:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the DEM."""
        if self._vrt is not None:
            self._vrt.close()
        self._close_source()

    def _close_source(self) -> None:
        """Close the DEM file (and the in-memory VRT of a folder's tiles)."""
        self._src.close()
        if self._memfile is not None:
            self._memfile.close()

    def _read_rows(self, r0: int, r1: int, out: np.ndarray | None = None) -> np.ndarray:
        """DEM rows ``r0 .. r1`` of the scene grid from disk into ``out`` (new when None), columns
        ``-halo .. W + halo`` (NaN: no data)."""
        from rasterio.windows import Window

        h, width, height = self.halo, self.grid.width, self.grid.height
        if out is None:
            out = np.empty((r1 - r0, width + 2 * h), dtype=np.float32)
        out.fill(np.nan)
        if self._vrt is not None:  # the VRT has :attr:`halo` rows and columns around the scene
            v0, v1 = max(r0 + h, 0), min(r1 + h, height + 2 * h)
            if v0 < v1:
                part = out[v0 - h - r0 : v1 - h - r0]
                if not self._warp_plain(v0, v1, part):
                    part[:] = self._vrt.read(1, window=Window(0, v0, width + 2 * h, v1 - v0))
            return out
        rr0, rr1 = max(r0, 0), min(r1, height)
        if rr0 < rr1:  # the part inside the DEM, read plainly (a boundless read warps: slow)
            window = Window(0, rr0, width, rr1 - rr0)
            if self._plain_nodata:  # no mask band: the nodata value alone marks missing cells
                part = self._src.read(1, window=window, out_dtype="float32")
                if self._src.nodata is not None and not math.isnan(self._src.nodata):
                    part[part == np.float32(self._src.nodata)] = np.nan
            else:
                part = np.ma.filled(self._src.read(1, window=window, masked=True, out_dtype="float32"), np.nan)
            out[rr0 - r0 : rr1 - r0, h : h + width] = part
        return out

    def _warp_plain(self, v0: int, v1: int, out: np.ndarray) -> bool:
        """Warp VRT rows ``v0 .. v1`` into ``out`` from a DEM window without voids; False (nothing
        written) when the window has voids, a mask, or reaches the DEM's edge.

        GDAL's warper checks every source cell against the nodata value: 8-14 s per Sentinel-2
        tile from a GLO-30-like DEM against 3.5 s for the same bilinear warp of a window known
        to be whole (the numbers agree to 0.5 mm). Near voids and the DEM's edges the VRT's
        nodata-aware warp stays in charge.
        """
        from affine import Affine
        from rasterio.enums import Resampling
        from rasterio.transform import array_bounds
        from rasterio.warp import reproject, transform_bounds
        from rasterio.windows import Window, from_bounds

        src, vrt = self._src, self._vrt
        if vrt is None or not self._plain_nodata:
            return False
        n, w = v1 - v0, out.shape[1]
        dst_transform = vrt.transform @ Affine.translation(0, v0)
        bounds = transform_bounds(self.grid.crs, src.crs, *array_bounds(n, w, dst_transform), densify_pts=21)
        win = from_bounds(*bounds, transform=src.transform)
        c0, r0 = math.floor(win.col_off) - 2, math.floor(win.row_off) - 2
        c1, r1 = math.ceil(win.col_off + win.width) + 2, math.ceil(win.row_off + win.height) + 2
        if c0 < 0 or r0 < 0 or c1 > src.width or r1 > src.height:
            return False
        window = Window(c0, r0, c1 - c0, r1 - r0)
        z = self._chunks.read(r0, r1, c0, c1) if self._chunks is not None else None
        if z is None:
            z = src.read(1, window=window, out_dtype="float32")
        if not np.isfinite(z).all() or (src.nodata is not None and bool((z == np.float32(src.nodata)).any())):
            return False
        reproject(z, out, src_transform=src.window_transform(window), src_crs=src.crs, dst_transform=dst_transform,
                  dst_crs=self.grid.crs, resampling=Resampling.bilinear, init_dest_nodata=False)
        self.tally.dem_rows_plain += n
        return True

    def _rows(self, r0: int, r1: int) -> np.ndarray:
        """DEM rows ``r0 .. r1`` of the scene grid, columns ``-halo .. W + halo``, from the rolling buffer.

        New rows are read once into a preallocated store and kept until a request starts more
        than :attr:`lag_rows` below them; a request above the kept rows reads its rows again
        (counted, not kept). The view returned is valid until the next call: callers hold the lock.
        """
        with self._lock:
            s0, lo, hi = self._store_row, self._lo, self._hi
            if r0 < lo:
                self.tally.dem_rows_reread += r1 - r0
                return self._read_rows(r0, r1)
            lo = max(lo, r0 - self.lag_rows)  # rows before it are not asked for again
            if lo >= hi:  # nothing kept: start afresh at the request (and the rows a march up from it needs)
                lo = hi = max(min(r0, r0 - self._up), -self.halo)
            if r1 - s0 > self._store.shape[0]:  # no room after the kept rows: move them to the front
                if r1 - lo > self._store.shape[0]:
                    grown = np.empty((r1 - lo + self._store_margin, self._store.shape[1]), np.float32)
                    grown[: hi - lo] = self._store[lo - s0 : hi - s0] if hi > lo else grown[:0]
                    self._store = grown
                elif hi > lo:
                    self._store[: hi - lo] = self._store[lo - s0 : hi - s0]
                s0 = self._store_row = lo
            if r1 > hi:
                self._read_rows(hi, r1, self._store[hi - s0 : r1 - s0])
                self.tally.dem_rows_read += r1 - hi
                hi = r1
            self._lo, self._hi = lo, hi
            return self._store[r0 - s0 : r1 - s0]

    def read(self, row: int, height: int, halo: int | None = None, col: int = 0, width: int | None = None
             ) -> np.ndarray:
        """DEM on the scene grid for a window with ``halo`` (default :attr:`halo`) around it (NaN: no data).

        The window is rows ``row .. row + height`` and columns ``col .. col + width`` (default: all).
        """
        with self._lock:
            return self._window(row, height, halo, col, width).copy()

    def _window(self, row: int, height: int, halo: int | None = None, col: int = 0, width: int | None = None
                ) -> np.ndarray:
        """:meth:`read` as a view of the buffer (valid until the next read: hold the lock)."""
        h = self.halo if halo is None else min(halo, self.halo)
        width = self.grid.width - col if width is None else width
        block = self._rows(row - h, row + height + h)
        return block[:, col - h + self.halo : col + width + h + self.halo]

    def strip(self, row: int, height: int) -> np.ndarray:
        """Slope classes of rows ``row .. row + height`` (all columns), uint8; kept for :meth:`apply`.

        Bit :data:`STEEP` is set where the slope exceeds ``max_slope``, :data:`SHADOW_STEEP` where it
        exceeds :data:`SHADOW_MIN_SLOPE_DEG` (both only where every pixel within :attr:`blur` does
        too), :data:`STEEP_HERE` where the pixel's own slope exceeds ``max_slope``, :data:`NO_DEM`
        where the DEM has no data (no slope bit then). A byte per pixel where the float slope took
        four: the kept strips hold 17 MB instead of 66 MB on a Sentinel-2 tile.
        """
        with self._lock:
            cached = self._cached(row, height)
            if cached is not None:
                return cached
            start = time.perf_counter()
            b = self.blur
            # b more rows either side for the blur, but columns only to the scene's edge (+1 for the
            # differences): the DEM often stops there, and NaN inside the window takes the slow path
            dem = self._window(row - b, height + 2 * b, halo=1)
            dx_m, dy_m = pixel_size_m(self.grid, row + height / 2.0)
            tan2 = slope_tan2_inside(dem, dx_m, dy_m)  # compared with tan^2 of the limits: no arctan
            if b:
                tan2 = np.pad(tan2, ((0, 0), (b, b)), constant_values=np.nan)  # off the scene: unknown
            with np.errstate(invalid="ignore"):
                classes = (tan2 > _tan2(self.max_slope)).view(np.uint8) * np.uint8(STEEP)
                classes |= (tan2 > _tan2(SHADOW_MIN_SLOPE_DEG)).view(np.uint8) * np.uint8(SHADOW_STEEP)
            unknown = np.isnan(tan2)
            del tan2
            if b:
                here = classes[b:-b, b:-b] & np.uint8(STEEP)
                classes = steep_everywhere_near(classes, unknown, b)
                classes |= here << np.uint8(3)  # STEEP_HERE
                unknown = unknown[b:-b, b:-b]
            else:
                classes |= (classes & np.uint8(STEEP)) << np.uint8(3)
            classes |= unknown.view(np.uint8) * np.uint8(NO_DEM)
            self._strips[(row, height)] = classes
            while len(self._strips) > STRIPS_KEPT:
                self._strips.pop(next(iter(self._strips)))
            self.tally.seconds += time.perf_counter() - start
            return classes

    def _cached(self, row: int, height: int) -> np.ndarray | None:
        """The slope classes of rows ``row .. row + height`` cut from a kept strip, or None."""
        for (r0, n0), classes in self._strips.items():
            if r0 <= row and row + height <= r0 + n0:
                return classes[row - r0 : row - r0 + height]
        return None

    def flat(self, row: int, height: int) -> np.ndarray:
        """(height, W) bool: pixels whose own slope is at most ``max_slope`` (or unknown).

        The screen looks for lake candidates there. It does not need the DEM's blur (the slope
        rule's allowance for shores): a lake's flat middle makes it a candidate, and the box
        around a candidate reaches past its shore.
        """
        return (self.strip(row, height) & STEEP_HERE) == 0

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
        classes = self.strip(row, n)  # the strip's own when the screen computed it already
        start = time.perf_counter()
        dx_m, dy_m = pixel_size_m(self.grid, row + n / 2.0)
        self.tally.dem_missing_px += int(np.count_nonzero(lake & ((classes & NO_DEM) != 0)))
        steep = lake & ((classes & STEEP) != 0)
        mask[steep] = 0
        dark = np.zeros_like(steep)
        if self.shadow and self.sun is not None:
            candidates = lake & ~steep & ((classes & SHADOW_STEEP) != 0)
            cr, cc = np.nonzero(candidates)
            if cr.size:  # the march samples the DEM along each candidate's ray only
                lo, hi = ray_rows(self.sun.azimuth, dx_m, dy_m, SHADOW_MAX_DISTANCE_M, self.north_up)
                top = row + int(cr.min()) + lo
                dem = self._rows(top, row + int(cr.max()) + 1 + hi)
                with np.errstate(invalid="ignore"):  # rays over DEM holes
                    shade = cast_shadow_at(dem, cr + row - top, cc + self.halo, dx_m, dy_m, self.sun.azimuth,
                                           self.sun.elevation, north_up=self.north_up)
                dark[cr[shade], cc[shade]] = True
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

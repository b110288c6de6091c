"""A DEM for the benchmarks laid out like the ones users map with (Copernicus GLO-30).

The synthetic scene's own ``dem.tif`` sits on the scene's 10 m grid, so the terrain rules
read it plainly. Real DEMs do not: Copernicus GLO-30 comes in geographic coordinates
(EPSG:4326) at 1 arc second (about 31 m north-south and 27 m east-west at 28 degrees N),
as Float32 with 1024 x 1024 blocks and DEFLATE, and is warped onto the scene's UTM grid
while mapping. :func:`geographic_dem` makes such a DEM from the scene's own by area
averaging, so ``glofwatch bench scene --dem-grid glo30`` times the warping path with
terrain that matches the scene's lakes.
"""

from __future__ import annotations

import math
from pathlib import Path

GLO30_ARCSEC = 1.0
"""Pixel side of Copernicus GLO-30 below 50 degrees latitude, in arc seconds."""

GLO30_NODATA = -32767.0
"""The no-data value GLO-30 distributions use for voids."""

DEM_GRIDS = ("scene", "glo30")
"""How a benchmark's DEM is laid out: on the scene's own grid, or geographic like GLO-30."""


MARGIN_M = 6000.0
"""How far the bench DEM reaches past the scene (a user's GLO-30 tiles cover whole degrees around it;
the cast-shadow march looks 5 km towards the sun)."""


def geographic_dem(src_path: str | Path, dst_path: str | Path, arcsec: float = GLO30_ARCSEC,
                   block: int = 1024, margin_m: float = MARGIN_M) -> Path:
    """Average the DEM ``src_path`` onto an EPSG:4326 grid of ``arcsec`` pixels, written to ``dst_path``.

    The grid's corners lie on whole multiples of the pixel (as GLO-30 tiles' do) and it
    covers the source's bounds plus ``margin_m``. Cells of the source without data (its
    nodata, or NaN) are left out of the average. Like GLO-30, which is void-filled, the result
    has no voids: cells without source data (the margin, the corners the projected footprint
    leaves) are filled by inverse-distance interpolation from the nearest cells with data
    (:func:`rasterio.fill.fillnodata`). The file is written atomically, tiled ``block`` x
    ``block``, DEFLATE with the floating-point predictor.
    """
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject, transform_bounds

    from glofwatch.io.atomic import atomic_path

    step = arcsec / 3600.0
    with rasterio.open(src_path) as src:
        z = src.read(1, out_dtype="float32")
        if src.nodata is not None and not math.isnan(src.nodata):
            z[z == np.float32(src.nodata)] = np.nan
        b = src.bounds
        margin = margin_m / src.crs.linear_units_factor[1] if src.crs.is_projected else margin_m / 111_000.0
        left, bottom, right, top = transform_bounds(src.crs, "EPSG:4326", b.left - margin, b.bottom - margin,
                                                    b.right + margin, b.top + margin, densify_pts=101)
        west, north = math.floor(left / step) * step, math.ceil(top / step) * step
        width = math.ceil((right - west) / step)
        height = math.ceil((north - bottom) / step)
        transform = Affine(step, 0.0, west, 0.0, -step, north)
        out = np.full((height, width), np.nan, dtype=np.float32)
        reproject(z, out, src_transform=src.transform, src_crs=src.crs, src_nodata=np.nan,
                  dst_transform=transform, dst_crs="EPSG:4326", dst_nodata=np.nan,
                  resampling=Resampling.average)
    known = np.isfinite(out)
    if not known.all():  # void-filled like GLO-30: the margin and corners from the nearest data
        from rasterio.fill import fillnodata

        out[~known] = 0.0
        reach = 2 * max(height, width)  # far enough for any cell of the grid
        out = fillnodata(out, mask=known.view(np.uint8), max_search_distance=reach, smoothing_iterations=0)
    out[~np.isfinite(out)] = GLO30_NODATA
    profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "width": width, "height": height,
               "crs": "EPSG:4326", "transform": transform, "nodata": GLO30_NODATA, "tiled": True,
               "blockxsize": block, "blockysize": block, "compress": "deflate", "predictor": 3}
    dst_path = Path(dst_path)
    with atomic_path(dst_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(out, 1)
        dst.update_tags(source=f"{Path(src_path).name} averaged to {arcsec:g} arcsec")
    return dst_path


def check_dem_grid(grid: str) -> None:
    """Raise :class:`~glofwatch.errors.ConfigError` unless ``grid`` is one of :data:`DEM_GRIDS`."""
    from glofwatch.errors import ConfigError

    if grid not in DEM_GRIDS:
        raise ConfigError(f"--dem-grid {grid!r} is unknown; use {' or '.join(DEM_GRIDS)}")


def bench_dem(folder: str | Path, grid: str) -> Path:
    """The DEM of the cached synthetic scene in ``folder`` laid out as ``grid`` (one of :data:`DEM_GRIDS`).

    ``scene`` is its own ``dem.tif``; ``glo30`` is ``dem-glo30.tif``, made from it once by
    :func:`geographic_dem` (about 8 s for a Sentinel-2 tile).

    Raises:
        ConfigError: an unknown ``grid``, or the scene has no ``dem.tif``.
    """
    from glofwatch.errors import ConfigError

    check_dem_grid(grid)
    folder = Path(folder)
    own = folder / "dem.tif"
    if not own.is_file():
        raise ConfigError(f"{own}: the cached scene has no DEM; delete {folder} to make it again, or use --no-dem")
    if grid == "scene":
        return own
    made = folder / "dem-glo30.tif"
    return made if made.is_file() else geographic_dem(own, made)

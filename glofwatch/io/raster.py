"""Write and read single-band rasters on a :class:`~glofwatch.geo.GeoGrid`, atomically.

Whole arrays only; windowed scene-size outputs are written by
:func:`glofwatch.mapping.scene.predict_scene`, which uses the same profiles.
Output conventions for maps:

* probability: float32, lake probability 0..1, nodata NaN;
* mask: uint8, 1 lake, 0 not lake, 2 not observed (SCL cloud, shadow, cirrus), nodata 255.

Both are tiled (256 x 256 blocks when the raster is at least that large) and
deflate-compressed, on the grid's CRS and transform.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.io.atomic import atomic_path

PROB_NODATA = float("nan")
MASK_NODATA = 255


def write_raster(path: str | Path, array: np.ndarray, grid: GeoGrid, nodata: float | None = None) -> Path:
    """Write a (H, W) array as a one-band GeoTIFF on ``grid``, atomically.

    Args:
        path: target ``.tif``.
        array: (H, W) array; its dtype is kept.
        grid: the georeference; its shape must match ``array``.
        nodata: nodata value to record (None: none).

    Returns:
        The target path.
    """
    import rasterio

    if array.shape != grid.shape:
        raise InputError(
            f"{path}: array is {array.shape[0]}x{array.shape[1]} but the grid is {grid.height}x{grid.width}"
        )
    extra = {"predictor": 3} if array.dtype.kind == "f" else {}
    profile = grid.profile(dtype=array.dtype.name, count=1, nodata=nodata, **extra)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as ds:
        ds.write(array, 1)
    return Path(path)


def write_probability(path: str | Path, probability: np.ndarray, grid: GeoGrid) -> Path:
    """Write probabilities (H, W) as float32 with NaN nodata."""
    return write_raster(path, probability.astype(np.float32, copy=False), grid, PROB_NODATA)


def write_mask(path: str | Path, mask: np.ndarray, grid: GeoGrid) -> Path:
    """Write a mask (H, W) uint8 {0, 1, 255} with nodata 255."""
    return write_raster(path, mask.astype(np.uint8, copy=False), grid, MASK_NODATA)


def read_raster(path: str | Path) -> tuple[np.ndarray, GeoGrid]:
    """Read band 1 of a raster with its grid."""
    import rasterio

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: raster not found")
    with rasterio.open(path) as ds:
        return ds.read(1), GeoGrid.from_profile(ds.profile)

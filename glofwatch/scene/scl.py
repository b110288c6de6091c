"""The Sentinel-2 L2A Scene Classification Layer (SCL): reading it on a scene's grid and what its classes mean.

SCL classes (ESA, Sentinel-2 L2A Algorithm Theoretical Basis Document, scene
classification): 0 nodata, 1 saturated or defective, 2 dark area pixels,
3 cloud shadow, 4 vegetation, 5 not vegetated, 6 water, 7 unclassified,
8 cloud medium probability, 9 cloud high probability, 10 thin cirrus, 11 snow or ice.

glofwatch treats classes :data:`NOT_OBSERVED` (3, 8, 9, 10) as "not observed":
the lake mask holds :data:`MASK_NOT_OBSERVED` there, and no lake polygon covers
those pixels. Snow (11) is only reported. Water (6) is a cross-check: the share
of mapped lake pixels that the SCL also calls water.

The SCL of a SAFE product is a 20 m raster; :func:`read_scl_window` reads it
on the 10 m grid of the bands with nearest-neighbour resampling (each 10 m
pixel takes the class of the 20 m pixel its centre falls in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.geo import GeoGrid

SCL_CLASSES: dict[int, str] = {
    0: "nodata", 1: "saturated or defective", 2: "dark area", 3: "cloud shadow", 4: "vegetation",
    5: "not vegetated", 6: "water", 7: "unclassified", 8: "cloud medium probability",
    9: "cloud high probability", 10: "thin cirrus", 11: "snow or ice",
}  # fmt: skip
"""SCL class values and their names."""

CLOUD_SHADOW, WATER, CLOUD_MEDIUM, CLOUD_HIGH, THIN_CIRRUS, SNOW = 3, 6, 8, 9, 10, 11
NOT_OBSERVED: tuple[int, ...] = (CLOUD_SHADOW, CLOUD_MEDIUM, CLOUD_HIGH, THIN_CIRRUS)
"""SCL classes whose pixels glofwatch does not count as observed ground."""

MASK_NOT_OBSERVED = 2
"""Lake-mask value of pixels the SCL calls cloud, cloud shadow or cirrus (0 not lake, 1 lake, 255 nodata)."""


_NOT_OBSERVED_LUT = np.isin(np.arange(256), NOT_OBSERVED)


def not_observed(scl: np.ndarray) -> np.ndarray:
    """Bool array: True where ``scl`` is cloud shadow, cloud or thin cirrus."""
    if scl.dtype == np.uint8:  # one table look-up per pixel
        return _NOT_OBSERVED_LUT[scl]
    return np.isin(scl, NOT_OBSERVED)


def read_scl_window(
    path: str | Path, index: int, grid: GeoGrid, row: int, col: int, height: int, width: int
) -> np.ndarray:
    """SCL classes (height, width) uint8 for a window of the scene ``grid``.

    Args:
        path: the SCL raster (any resolution and CRS covering the scene).
        index: its 1-based band index.
        grid: the scene grid the window belongs to.
        row: first row of the window in ``grid``.
        col: first column of the window in ``grid``.
        height: rows.
        width: columns.

    Returns:
        uint8 classes; 0 (nodata) where the SCL does not cover the window.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import Window

    win_grid = grid.window(row, col, height, width)
    with rasterio.open(path) as ds:
        same = (str(GeoGrid.from_profile(ds.profile).crs) == str(grid.crs)
                and ds.transform.almost_equals(grid.transform) and (ds.height, ds.width) == grid.shape)
        if same:
            data = ds.read(index, window=Window(col, row, width, height))
        else:
            with WarpedVRT(ds, crs=grid.crs, transform=win_grid.transform, width=width, height=height,
                           resampling=Resampling.nearest, src_nodata=0, nodata=0) as vrt:
                data = vrt.read(index)
    return data.astype(np.uint8, copy=False)


@dataclass
class SclTally:
    """SCL class counts over a scene's valid pixels, and over its mapped lake pixels.

    Attributes:
        source: the SCL file (or item asset) it came from.
        counts: pixels per class (index = class value) among valid pixels.
        lake_counts: pixels per class among pixels mapped as lake (observed ones).
    """

    source: str
    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    lake_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))

    def add(self, scl: np.ndarray, valid: np.ndarray, lake: np.ndarray) -> None:
        """Count one window: ``scl`` classes, ``valid`` pixels with data, ``lake`` pixels mapped as lake."""
        self.counts += np.bincount(scl[valid].ravel(), minlength=256)[:256]
        self.lake_counts += np.bincount(scl[lake].ravel(), minlength=256)[:256]

    def summary(self) -> dict[str, Any]:
        """Shares for ``summary.json``: not observed, cloud, shadow, cirrus, snow, water; the water cross-check."""
        total = int(self.counts.sum())
        lake = int(self.lake_counts.sum())

        def share(classes: tuple[int, ...], counts: np.ndarray, n: int) -> float | None:
            return round(float(counts[list(classes)].sum()) / n, 6) if n else None

        return {
            "source": self.source,
            "not_observed_classes": list(NOT_OBSERVED),
            "not_observed_fraction": share(NOT_OBSERVED, self.counts, total),
            "cloud_fraction": share((CLOUD_MEDIUM, CLOUD_HIGH), self.counts, total),
            "cloud_shadow_fraction": share((CLOUD_SHADOW,), self.counts, total),
            "thin_cirrus_fraction": share((THIN_CIRRUS,), self.counts, total),
            "snow_fraction": share((SNOW,), self.counts, total),
            "water_fraction": share((WATER,), self.counts, total),
            "lake_pixels_scl_water_share": share((WATER,), self.lake_counts, lake),
            "lake_pixels_by_class": {SCL_CLASSES.get(k, str(k)): int(v) for k, v in enumerate(self.lake_counts) if v},
        }

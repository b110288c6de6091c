"""The georeference that travels with every array: :class:`GeoGrid`.

A ``GeoGrid`` is the CRS, affine transform, shape and nodata value of a raster.
Readers return ``(array, grid)``; windows, tiles and outputs derive their grid
from the scene's so the coordinates are never lost between reading and writing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from affine import Affine

from glofwatch.errors import InputError


@dataclass(frozen=True)
class GeoGrid:
    """Georeference of a raster grid.

    Attributes:
        crs: coordinate reference system (anything ``rasterio.crs.CRS.from_user_input``
            takes, stored as a WKT/EPSG string), or ``None`` for plain images.
        transform: affine pixel -> map transform (``Affine.identity()`` for plain images).
        height: rows.
        width: columns.
        nodata: value marking missing pixels in the source, or ``None``.
    """

    crs: str | None
    transform: Affine
    height: int
    width: int
    nodata: float | None = None

    @classmethod
    def plain(cls, height: int, width: int) -> GeoGrid:
        """A grid with no CRS and pixel coordinates (for PNG/JPEG crops)."""
        return cls(crs=None, transform=Affine.identity(), height=height, width=width)

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> GeoGrid:
        """Build from a rasterio profile / dataset ``meta`` dict."""
        crs = profile.get("crs")
        return cls(
            crs=crs.to_string() if crs is not None and hasattr(crs, "to_string") else crs,
            transform=profile.get("transform") or Affine.identity(),
            height=int(profile["height"]),
            width=int(profile["width"]),
            nodata=profile.get("nodata"),
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width)."""
        return (self.height, self.width)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(x, y) pixel size in CRS units, both positive."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    @property
    def is_georeferenced(self) -> bool:
        """True when the grid has a CRS."""
        return self.crs is not None

    def window(self, row: int, col: int, height: int, width: int) -> GeoGrid:
        """The grid of the window starting at (``row``, ``col``)."""
        return replace(
            self,
            transform=self.transform @ Affine.translation(col, row),
            height=height,
            width=width,
        )

    def require_crs(self, source: str) -> None:
        """Raise :class:`InputError` naming ``source`` when the grid has no CRS or is not north-up."""
        if self.crs is None:
            raise InputError(
                f"{source}: raster has no CRS; assign one first, e.g. "
                "`gdal_edit.py -a_srs EPSG:32645 FILE` (use the scene's UTM zone)"
            )
        t = self.transform
        if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
            raise InputError(
                f"{source}: the grid is rotated or flipped (transform {tuple(round(v, 6) for v in t[:6])}); "
                "warp it north-up first, e.g. `gdalwarp -t_srs EPSG:32645 IN OUT`"
            )

    def profile(self, **extra: Any) -> dict[str, Any]:
        """A rasterio write profile for this grid (GeoTIFF, tiled, compressed)."""
        prof: dict[str, Any] = {
            "driver": "GTiff",
            "height": self.height,
            "width": self.width,
            "transform": self.transform,
            "crs": self.crs,
            "tiled": self.height >= 256 and self.width >= 256,
            "compress": "deflate",
        }
        if prof["tiled"]:
            prof.update(blockxsize=256, blockysize=256)
        prof.update(extra)
        return prof

    def pixel_area_m2(self) -> float:
        """Area of one pixel in square metres for projected CRSs in metres (NaN otherwise)."""
        if self.crs is None:
            return math.nan
        from rasterio.crs import CRS

        crs = CRS.from_user_input(self.crs)
        if not crs.is_projected:
            return math.nan
        x, y = self.pixel_size
        unit = crs.linear_units_factor[1] if hasattr(crs, "linear_units_factor") else 1.0
        return x * y * unit * unit

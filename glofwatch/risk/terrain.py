"""What the DEM says about a lake: slope, zonal statistics and the D8 flow path from its outlet.

The DEM is read once, cropped to the lakes plus a margin, in its own projected
CRS (metres), which becomes the working CRS of the whole risk stage. Slope
comes from central differences (``numpy.gradient``), zonal statistics from
exactextract (coverage-weighted, so a polygon's mean over a plane equals the
plane's value at the polygon's centroid), flow directions from pyflwdir
(D8 steepest descent after filling depressions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid

if TYPE_CHECKING:
    import pyflwdir

NODATA = -9999.0
"""Nodata value of the rasters handed to exactextract."""


@dataclass
class FlowPath:
    """The D8 flow path from a lake outlet.

    Attributes:
        outlet_xy: map coordinates of the outlet cell centre.
        outlet_elev_m: DEM elevation of the outlet cell.
        xy: (n, 2) map coordinates of the cell centres along the path, outlet first.
        length_m: length of the path (sum of the cell-to-cell steps).
    """

    outlet_xy: tuple[float, float]
    outlet_elev_m: float
    xy: np.ndarray
    length_m: float

    def line(self) -> Any:
        """The path as a shapely LineString (a Point when the outlet is a pit)."""
        from shapely.geometry import LineString, Point

        if len(self.xy) < 2:
            return Point(self.outlet_xy)
        return LineString(self.xy)


@dataclass
class Terrain:
    """A DEM in a projected CRS with what is derived from it on demand.

    Attributes:
        dem: (H, W) float64 elevation in metres, NaN where missing.
        grid: its georeference (CRS in metres, north-up).
        path: the file it was read from.
    """

    dem: np.ndarray
    grid: GeoGrid
    path: Path | None = None
    _sources: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def crs(self) -> str:
        """The DEM's CRS (the working CRS of the risk stage)."""
        return str(self.grid.crs)

    @cached_property
    def slope_deg(self) -> np.ndarray:
        """Slope in degrees, ``atan(|grad z|)`` by central differences (one-sided at edges)."""
        dx, dy = self.grid.pixel_size
        if min(self.dem.shape) < 2:
            return np.full(self.dem.shape, np.nan)
        dz_dy, dz_dx = np.gradient(self.dem, dy, dx)
        return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))

    @cached_property
    def flow(self) -> pyflwdir.FlwdirRaster:
        """D8 flow directions of the DEM (pyflwdir, depressions filled, outlets at the edge)."""
        import pyflwdir

        data = np.where(np.isfinite(self.dem), self.dem, NODATA)
        return pyflwdir.from_dem(data, nodata=NODATA, transform=self.grid.transform, latlon=False, outlets="edge")

    def _source(self, layer: str) -> Any:
        from exactextract.raster import NumPyRasterSource
        from rasterio.crs import CRS

        if layer not in self._sources:
            values = {"dem": self.dem, "slope": self.slope_deg}[layer]
            t = self.grid.transform  # north-up (checked when read)
            left, top = t.c, t.f
            right, bottom = t.c + t.a * self.grid.width, t.f + t.e * self.grid.height
            self._sources[layer] = NumPyRasterSource(
                np.where(np.isfinite(values), values, NODATA), left, bottom, right, top,
                nodata=NODATA, name=layer, srs_wkt=CRS.from_user_input(self.grid.crs).to_wkt(),
            )  # fmt: skip
        return self._sources[layer]

    def zonal(self, layer: str, geoms: list[Any], stat: str = "mean") -> np.ndarray:
        """A zonal statistic of ``layer`` ("dem" or "slope") over each polygon (exactextract).

        Args:
            layer: "dem" (metres) or "slope" (degrees).
            geoms: shapely polygons in the DEM's CRS; None or empty ones give NaN.
            stat: an exactextract operation ("mean", "min", "max", "median", "count").

        Returns:
            One value per polygon; NaN where the polygon covers no valid cell.
        """
        import geopandas as gpd
        from exactextract import exact_extract

        out = np.full(len(geoms), np.nan)
        keep = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty and g.area > 0]
        if not keep:
            return out
        frame = gpd.GeoDataFrame(geometry=[geoms[i] for i in keep], crs=self.grid.crs)
        table = exact_extract(self._source(layer), frame, [stat, "count"], output="pandas")
        values = table[stat].to_numpy(dtype=float)
        counts = table["count"].to_numpy(dtype=float)
        out[keep] = np.where(counts > 0, values, np.nan)
        return out

    def outlet(self, geom: Any) -> tuple[int, int] | None:
        """The lowest valid DEM cell touched by the lake's boundary, as (row, col), or None."""
        from affine import Affine
        from rasterio import features

        boundary = geom.boundary
        if boundary.is_empty:
            return None
        t = self.grid.transform
        left, bottom, right, top = boundary.bounds
        col0 = max(0, int(math.floor((left - t.c) / t.a)) - 1)
        col1 = min(self.grid.width, int(math.ceil((right - t.c) / t.a)) + 1)
        row0 = max(0, int(math.floor((top - t.f) / t.e)) - 1)
        row1 = min(self.grid.height, int(math.ceil((bottom - t.f) / t.e)) + 1)
        if col1 <= col0 or row1 <= row0:
            return None
        touched = features.rasterize(
            [(boundary, 1)], out_shape=(row1 - row0, col1 - col0), all_touched=True, fill=0, dtype="uint8",
            transform=t @ Affine.translation(col0, row0),
        )  # fmt: skip
        dem = self.dem[row0:row1, col0:col1]
        elev = np.where((touched == 1) & np.isfinite(dem), dem, np.inf)
        flat = int(np.argmin(elev))
        if not np.isfinite(elev.flat[flat]):
            return None
        r, c = divmod(flat, col1 - col0)
        return row0 + r, col0 + c

    def flow_path(self, row: int, col: int, max_length_m: float) -> FlowPath:
        """Follow the D8 directions downstream from cell (``row``, ``col``).

        The walk stops at a pit or the DEM edge, or before the step that would
        take the path beyond ``max_length_m``.
        """
        ds = self.flow.idxs_ds
        width = self.grid.width
        dx, dy = self.grid.pixel_size
        idx = row * width + col
        cells = [idx]
        length = 0.0
        for _ in range(self.dem.size):
            nxt = int(ds[idx])
            if nxt == idx or nxt < 0 or nxt >= self.dem.size:
                break
            (r0, c0), (r1, c1) = divmod(idx, width), divmod(nxt, width)
            step = math.hypot((c1 - c0) * dx, (r1 - r0) * dy)
            if length + step > max_length_m:
                break
            length += step
            cells.append(nxt)
            idx = nxt
        rows, cols = np.divmod(np.asarray(cells), width)
        t = self.grid.transform  # north-up (checked when read)
        xy = np.column_stack([t.c + t.a * (cols + 0.5), t.f + t.e * (rows + 0.5)]).astype(float)
        return FlowPath((float(xy[0, 0]), float(xy[0, 1])), float(self.dem[row, col]), xy, float(length))


def read_dem(path: str | Path, bounds: tuple[float, float, float, float] | None = None,
             bounds_crs: Any = None, margin_m: float = 0.0) -> Terrain:
    """Read a DEM GeoTIFF (metres, projected CRS), cropped to ``bounds`` plus ``margin_m``.

    Args:
        path: the DEM file.
        bounds: (left, bottom, right, top) of the lakes, or None for the whole DEM.
        bounds_crs: CRS of ``bounds`` (default: the DEM's).
        margin_m: added on every side of ``bounds`` (room for flow paths and rings).

    Raises:
        InputError: file missing or unreadable, no CRS, a geographic CRS, a rotated
            grid, or no overlap with the lakes.
    """
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: DEM not found; check the path given to --dem")
    try:
        src = rasterio.open(path)
    except rasterio.RasterioIOError as exc:
        raise InputError(f"{path}: cannot read the DEM ({str(exc).splitlines()[0]}); give a GeoTIFF") from None
    with src:
        grid = GeoGrid.from_profile(src.profile)
        grid.require_crs(str(path))
        if not src.crs.is_projected:
            raise InputError(f"{path}: DEM CRS {src.crs.to_string()} is geographic; reproject it to UTM metres first, "
                             "e.g. `gdalwarp -t_srs EPSG:32645 dem.tif dem_utm.tif`")
        if src.transform.b != 0 or src.transform.d != 0:
            raise InputError(f"{path}: DEM grid is rotated; warp it to a north-up grid first (gdalwarp)")
        window = Window(0, 0, src.width, src.height)
        if bounds is not None:
            if bounds_crs is not None:
                bounds = transform_bounds(bounds_crs, src.crs, *bounds)
            left, bottom, right, top = bounds
            wanted = from_bounds(left - margin_m, bottom - margin_m, right + margin_m, top + margin_m, src.transform)
            col0, row0 = max(0, math.floor(wanted.col_off)), max(0, math.floor(wanted.row_off))
            col1 = min(src.width, math.ceil(wanted.col_off + wanted.width))
            row1 = min(src.height, math.ceil(wanted.row_off + wanted.height))
            if col1 <= col0 or row1 <= row0:
                raise InputError(f"{path}: the DEM does not overlap the lakes; give a DEM covering the monitor area")
            window = Window(col0, row0, col1 - col0, row1 - row0)
        dem = src.read(1, window=window, masked=True).astype("float64").filled(np.nan)
        grid = grid.window(int(window.row_off), int(window.col_off), dem.shape[0], dem.shape[1])
    if not np.isfinite(dem).any():
        raise InputError(f"{path}: the DEM has no valid cells over the lakes")
    return Terrain(dem=dem, grid=grid, path=path)

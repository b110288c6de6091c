"""Truth polygons of a synthetic scene: lakes from the truth mask, glacier outlines.

Polygons are traced pixel-exact with ``rasterio.features.shapes`` so a lake's
polygon area equals its pixel count times the pixel area.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from glofwatch.connectivity import LAKE_CONNECTIVITY
from glofwatch.geo import GeoGrid
from glofwatch.io.atomic import atomic_path

if TYPE_CHECKING:
    import geopandas as gpd

    from glofwatch.scene.synth.landscape import Landscape


def polygons_by_id(ids: np.ndarray, grid: GeoGrid) -> dict[int, object]:
    """One shapely (multi)polygon per positive id of an integer raster.

    Args:
        ids: (H, W) integer array, 0 = background.
        grid: its grid (the transform maps pixels to map coordinates).

    Returns:
        id -> polygon or multipolygon in the grid's CRS.
    """
    from rasterio import features
    from shapely.geometry import shape
    from shapely.ops import unary_union

    parts: dict[int, list] = {}
    values = ids.astype(np.int32)
    traced = features.shapes(values, mask=values > 0, transform=grid.transform, connectivity=LAKE_CONNECTIVITY)
    for geom, value in traced:
        parts.setdefault(int(value), []).append(shape(geom))
    return {k: (v[0] if len(v) == 1 else unary_union(v)) for k, v in sorted(parts.items())}


def lake_polygons(land: Landscape, mask: np.ndarray, grid: GeoGrid) -> gpd.GeoDataFrame:
    """Lake polygons of the truth mask: one row per lake with any visible pixel.

    Columns: ``lake_id``, ``area_km2`` (pixels x pixel area), ``pixels``, ``kind``,
    ``setting``, ``frozen_fraction``, ``geometry``.
    """
    import geopandas as gpd

    ids = np.where(mask.astype(bool), land.lake_id, 0)
    polys = polygons_by_id(ids, grid)
    counts = np.bincount(ids.ravel(), minlength=len(land.lakes) + 1)
    pixel_km2 = grid.pixel_area_m2() / 1e6
    by_id = {lake.lake_id: lake for lake in land.lakes}
    rows = []
    for lake_id, geom in polys.items():
        lake = by_id[lake_id]
        rows.append(
            {
                "lake_id": lake_id,
                "area_km2": float(counts[lake_id] * pixel_km2),
                "pixels": int(counts[lake_id]),
                "kind": lake.kind,
                "setting": lake.setting,
                "frozen_fraction": round(float(lake.frozen_fraction), 3),
                "geometry": geom,
            }
        )
    columns = ["lake_id", "area_km2", "pixels", "kind", "setting", "frozen_fraction", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=grid.crs)


def glacier_outlines(land: Landscape, grid: GeoGrid) -> gpd.GeoDataFrame:
    """Glacier outlines: connected glacier areas inside the image footprint.

    Columns: ``glacier_id``, ``area_km2``, ``debris_km2``, ``min_elev_m``, ``geometry``.
    """
    import geopandas as gpd

    ice = (land.glacier > 0) & ~land.nodata
    labels, n = ndimage.label(ice)
    polys = polygons_by_id(labels, grid)
    index = np.arange(1, n + 1)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    debris = np.bincount(labels[land.debris].ravel(), minlength=n + 1)
    min_elev = ndimage.minimum(land.terrain.dem_m, labels, index) if n else []
    pixel_km2 = grid.pixel_area_m2() / 1e6
    rows = [
        {
            "glacier_id": int(k),
            "area_km2": float(counts[k] * pixel_km2),
            "debris_km2": float(debris[k] * pixel_km2),
            "min_elev_m": round(float(min_elev[k - 1]), 1),
            "geometry": polys[int(k)],
        }
        for k in index
    ]
    columns = ["glacier_id", "area_km2", "debris_km2", "min_elev_m", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=grid.crs)


def write_gpkg(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write a GeoPackage atomically (one layer named after the file)."""
    with atomic_path(path) as tmp:
        tmp.unlink()  # the GeoPackage driver will not write over an empty placeholder file
        gdf.to_file(tmp, driver="GPKG", layer=Path(path).stem, engine="pyogrio")
    return Path(path)

"""Tiny inputs of the risk stage, written in tmp_path: a monitor folder, DEM planes and valleys, glaciers.

The files follow the changes stage's contract (``monitor.gpkg`` layers
``tracks`` and ``observations``, ``monitor.json``) and the synthetic scene
generator's shapes (DEM GeoTIFF in metres on a UTM grid, glacier outlines with
``glacier_id``, ``area_km2``, ``debris_km2``, ``min_elev_m``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from shapely.geometry import box

UTM = "EPSG:32645"
X0, Y0 = 440000.0, 3100000.0  # top-left corner of the test grids, as in the synthetic scenes


def track(lake_id: int, geometry: Any, **values: Any) -> dict[str, Any]:
    """One row of the ``tracks`` layer with plausible defaults for every contract column."""
    row: dict[str, Any] = {
        "lake_id": lake_id, "first_date": "2019-09-01", "last_date": "2024-09-01", "n_obs": 6,
        "area_first_km2": 0.1, "area_last_km2": 0.1, "area_prev_km2": 0.1, "change_km2": 0.0,
        "change_uncertainty_km2": 0.001, "growth_pct_per_year": 0.0, "status": "stable", "parent_id": None,
        "mean_prob": 0.9, "centroid_lon": 0.0, "centroid_lat": 0.0, "geometry": geometry,
    }  # fmt: skip
    row.update(values)
    return row


def write_monitor(folder: Path, rows: list[dict[str, Any]], crs: str = UTM, to_crs: str | None = None) -> Path:
    """Write ``folder/monitor.gpkg`` (tracks + observations) and ``monitor.json``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    tracks = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    centroids = tracks.geometry.centroid.to_crs("EPSG:4326")
    tracks["centroid_lon"], tracks["centroid_lat"] = centroids.x, centroids.y
    tracks["parent_id"] = tracks["parent_id"].astype("Int64")
    if to_crs is not None:
        tracks = tracks.to_crs(to_crs)
    obs = gpd.GeoDataFrame({
        "lake_id": tracks["lake_id"], "date": tracks["last_date"], "area_km2": tracks["area_last_km2"],
        "perimeter_m": tracks.geometry.to_crs(UTM).length, "area_uncertainty_km2": 0.001, "source": "test",
        "mean_prob": tracks["mean_prob"],
    }, geometry=tracks.geometry, crs=tracks.crs)  # fmt: skip
    gpkg = folder / "monitor.gpkg"
    tracks.to_file(gpkg, layer="tracks", driver="GPKG", engine="pyogrio")
    obs.to_file(gpkg, layer="observations", driver="GPKG", engine="pyogrio")
    (folder / "monitor.json").write_text(json.dumps({"area": "testvalley", "n_tracks": len(tracks)}))
    return folder


def write_dem(path: Path, dem: np.ndarray, pixel_m: float = 10.0, crs: str = UTM) -> Path:
    """Write a float32 DEM GeoTIFF with top-left corner (X0, Y0)."""
    transform = Affine(pixel_m, 0, X0, 0, -pixel_m, Y0)
    h, w = dem.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=1, dtype="float32",
                       crs=crs, transform=transform, nodata=-9999) as ds:  # fmt: skip
        ds.write(dem.astype("float32"), 1)
    return path


def plane_dem(path: Path, gradient: float, size: int = 200, pixel_m: float = 10.0, base: float = 4000.0) -> Path:
    """A plane rising northwards: z = base + gradient * (y - bottom), sampled at cell centres."""
    rows = np.arange(size)[:, None] * np.ones((1, size))
    y = Y0 - pixel_m * (rows + 0.5)
    return write_dem(path, base + gradient * (y - (Y0 - size * pixel_m)), pixel_m)


def write_glaciers(path: Path, polygons: list[Any], crs: str = UTM) -> Path:
    """Glacier outlines in the synthetic scene's columns."""
    gdf = gpd.GeoDataFrame({
        "glacier_id": list(range(1, len(polygons) + 1)),
        "area_km2": [p.area / 1e6 for p in polygons], "debris_km2": 0.0, "min_elev_m": 5000.0,
    }, geometry=polygons, crs=crs)  # fmt: skip
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    return path


def utm_box(x0: float, y0: float, x1: float, y1: float) -> Any:
    """A box in metres relative to the grid corner: x from X0, y down from Y0 (both positive)."""
    return box(X0 + x0, Y0 - y1, X0 + x1, Y0 - y0)

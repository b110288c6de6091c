"""Tiny lake inventories for the monitor tests: circles and boxes in known CRSs, written as vector files."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import shapely

LAEA = "+proj=laea +lat_0=28 +lon_0=87 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
"""Equal-area CRS with scale 1 at the origin: polygons near (0, 0) have their true area and perimeter."""

UTM = "EPSG:32645"
"""UTM 45N: central meridian 87 E, where the scale is 0.9996."""

PIXEL = 10.0


def circle(area_km2: float, x: float = 0.0, y: float = 0.0) -> shapely.Polygon:
    """A circle of ``area_km2`` centred at (x, y), 1024 vertices (area within 1e-5 of pi r^2)."""
    return shapely.Point(x, y).buffer(math.sqrt(area_km2 * 1e6 / math.pi), quad_segs=256)


def square(side_m: float, x: float = 0.0, y: float = 0.0) -> shapely.Polygon:
    """An axis-aligned square with its lower-left corner at (x, y)."""
    return shapely.box(x, y, x + side_m, y + side_m)


def write_inventory(path: Path, geoms: list, crs: str | None = LAEA, **columns) -> Path:
    """Write outlines (plus attribute columns) to a vector file; the suffix picks the format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame(dict(columns), geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)
    frame.to_file(path, engine="pyogrio")
    return path


def track(tmp_path: Path, dated: dict[str, list], crs: str = LAEA, **options):
    """Write one inventory per date (``lakes_<date>.gpkg``) and track them; returns the Tracked tables."""
    from glofwatch.changes.monitor import load_observations
    from glofwatch.changes.tracks import track_observations

    files = [write_inventory(tmp_path / f"lakes_{date}.gpkg", geoms, crs) for date, geoms in dated.items()]
    loaded = load_observations(files)
    return track_observations(loaded.frame, loaded.dates, **options)


def by_source(tracked, date: str, row: int):
    """The track of the lake whose outline was row ``row`` of the inventory of ``date``."""
    obs = tracked.observations
    lake_id = int(obs.loc[(obs["date"] == date) & (obs["source_row"] == row), "lake_id"].iloc[0])
    return tracked.tracks.set_index("lake_id").loc[lake_id]


def lake_of(tracked, date: str, row: int) -> int:
    """The lake id given to row ``row`` of the inventory of ``date``."""
    obs = tracked.observations
    return int(obs.loc[(obs["date"] == date) & (obs["source_row"] == row), "lake_id"].iloc[0])

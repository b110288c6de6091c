"""Reading the risk stage's inputs: the monitor's tracks, glacier outlines and settlements.

Each reader checks what it needs and raises a one-line
:class:`~glofwatch.errors.InputError` naming the file and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glofwatch.errors import InputError
from glofwatch.registry import close_matches_hint

if TYPE_CHECKING:
    import geopandas as gpd

TRACK_COLUMNS = (
    "lake_id", "first_date", "last_date", "n_obs", "area_first_km2", "area_last_km2", "area_prev_km2",
    "change_km2", "change_uncertainty_km2", "growth_pct_per_year", "status", "parent_id", "mean_prob",
    "centroid_lon", "centroid_lat",
)  # fmt: skip
"""Columns of the ``tracks`` layer written by the changes stage (plus geometry)."""

STATUSES = ("new", "vanished", "stable", "growing", "shrinking", "merged", "split", "drained", "obscured")
"""Track statuses of the changes stage."""


def read_tracks(monitor_dir: str | Path) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Read ``MONITOR_DIR/monitor.gpkg`` layer ``tracks`` and ``monitor.json``.

    Args:
        monitor_dir: the folder written by ``glofwatch monitor``.

    Returns:
        (tracks, monitor): the tracks in the file's CRS, and monitor.json ({} when absent).

    Raises:
        InputError: no monitor.gpkg, no tracks layer, no CRS, missing columns, duplicate ids.
    """
    import geopandas as gpd
    import pyogrio

    monitor_dir = Path(monitor_dir)
    gpkg = monitor_dir / "monitor.gpkg"
    if not gpkg.is_file():
        raise InputError(f"{gpkg}: not found; give the folder written by `glofwatch monitor`")
    layers = [name for name, _ in pyogrio.list_layers(gpkg)]
    if "tracks" not in layers:
        raise InputError(f"{gpkg}: no layer 'tracks' (layers: {', '.join(layers)}); rerun `glofwatch monitor`")
    tracks = gpd.read_file(gpkg, layer="tracks", engine="pyogrio")
    if tracks.crs is None:
        raise InputError(f"{gpkg}: layer 'tracks' has no CRS; rerun `glofwatch monitor`")
    missing = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    if missing:
        raise InputError(f"{gpkg}: layer 'tracks' lacks column(s) {', '.join(missing)}; rerun `glofwatch monitor`")
    if tracks["lake_id"].duplicated().any():
        dup = tracks.loc[tracks["lake_id"].duplicated(), "lake_id"].iloc[0]
        raise InputError(f"{gpkg}: lake_id {dup} appears twice in 'tracks'; rerun `glofwatch monitor`")
    tracks["lake_id"] = tracks["lake_id"].astype("int64")
    monitor: dict[str, Any] = {}
    meta = monitor_dir / "monitor.json"
    if meta.is_file():
        try:
            loaded = json.loads(meta.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise InputError(f"{meta}: not valid JSON; rerun `glofwatch monitor`") from None
        monitor = loaded if isinstance(loaded, dict) else {}
    return tracks.reset_index(drop=True), monitor


def read_glaciers(path: str | Path, crs: Any, min_km2: float = 0.0) -> gpd.GeoDataFrame:
    """Read glacier outlines (RGI shapefile, GeoPackage, GeoJSON), reprojected to ``crs`` (metres).

    Outlines smaller than ``min_km2`` (fragments, often single pixels) are dropped.

    Raises:
        InputError: missing file, no CRS, or no polygons.
    """

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: glacier outlines not found; check the path given to --glaciers")
    glaciers = _read_features(path, "glacier outlines", "have no CRS; set one (RGI files are EPSG:4326)")
    polygonal = glaciers.geom_type.isin(["Polygon", "MultiPolygon"])
    if len(glaciers) and not polygonal.all():
        raise InputError(f"{path}: glacier outlines must be polygons, found {glaciers.geom_type[~polygonal].iloc[0]}")
    glaciers = glaciers.to_crs(crs)
    glaciers["geometry"] = glaciers.geometry.make_valid()
    return glaciers[glaciers.geometry.area >= min_km2 * 1e6].reset_index(drop=True)


def _read_features(path: Path, what: str, no_crs: str) -> gpd.GeoDataFrame:
    """A vector file's non-empty features; one-line :class:`InputError` when unreadable or without CRS."""
    import geopandas as gpd

    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise InputError(f"{path}: cannot read {what} ({str(exc).splitlines()[0]})") from None
    if frame.crs is None:
        raise InputError(f"{path}: {what} {no_crs}")
    return frame[frame.geometry.notna() & ~frame.geometry.is_empty].copy()


def read_settlements(path: str | Path, crs: Any) -> gpd.GeoDataFrame:
    """Read settlements or assets as points in ``crs``, with a ``name`` column.

    A vector file (GeoPackage, shapefile, GeoJSON) gives points or polygons
    (their representative points); a CSV needs ``lon`` and ``lat`` columns in
    WGS84 degrees (``longitude``/``latitude`` also work) and may have ``name``.

    Raises:
        InputError: missing file, missing columns, or no CRS.
    """
    import geopandas as gpd
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: settlements not found; check the path given to --settlements")
    if path.suffix.lower() == ".csv":
        table = pd.read_csv(path)
        lower = {c.lower().strip(): c for c in table.columns}
        lon = next((lower[c] for c in ("lon", "longitude", "lng", "x") if c in lower), None)
        lat = next((lower[c] for c in ("lat", "latitude", "y") if c in lower), None)
        if lon is None or lat is None:
            hint = close_matches_hint("lon" if lon is None else "lat", list(table.columns))
            raise InputError(f"{path}: needs columns lon and lat (WGS84 degrees){hint}; "
                             f"found {', '.join(table.columns)}")
        points = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table[lon], table[lat]), crs="EPSG:4326")
    else:
        points = _read_features(path, "settlements", "have no CRS; set one, e.g. EPSG:4326")
        points["geometry"] = points.geometry.representative_point()
    points = points.to_crs(crs).reset_index(drop=True)
    name = next((c for c in points.columns if c.lower() in ("name", "settlement", "place")), None)
    points["name"] = points[name].astype(str) if name else [f"settlement {i + 1}" for i in range(len(points))]
    return points


def working_crs(tracks: gpd.GeoDataFrame, dem_crs: Any = None) -> Any:
    """The CRS in metres the risk stage works in: the DEM's, else the tracks' if projected, else their UTM zone."""
    if dem_crs is not None:
        return dem_crs
    if tracks.crs is not None and tracks.crs.is_projected:
        return tracks.crs
    if len(tracks) == 0:
        return "EPSG:3857"
    return tracks.estimate_utm_crs()

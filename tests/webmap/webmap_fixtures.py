"""A tiny served folder written in tmp_path: two map outputs, a monitor, a risk and an alerts folder.

Layout (UTM 45N, 10 m pixels, a 2 km x 2 km scene with its top-left corner at
440000 E, 3100000 N)::

    served/
      scenes/S2A_20230901.tif, S2A_20240901.tif   4-band uint16 L2A (B02 B03 B04 B08), nodata 0
      maps/2023-09-01/, maps/2024-09-01/          summary.json, probability.tif, mask.tif, lakes.gpkg
      monitor/monitor.gpkg                        tracks + observations (3 dates), monitor.json
      risk/risk.gpkg, breakdown.json, risk.json   hazard scores chosen per lake
      alerts/                                     written by glofwatch.alerts.run.issue_alerts

Five square lakes (:data:`LAKES`), hand-placed so that counts by box, level and
date can be checked by hand: lake 1 grows from 150 m to 200 m a side over the
three dates, lake 4 appears on the second date.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from shapely.geometry import box

UTM = "EPSG:32645"
X0, Y0 = 440000.0, 3100000.0
PIXEL = 10.0
SIDE = 200  # scene side in pixels (2 km)
DATES = ("2022-09-01", "2023-09-01", "2024-09-01")

# lake_id -> (x0, y0, x1, y1) in metres from the top-left corner (y downwards) on the last date,
# hazard score, status, first date index
LAKES: dict[int, dict[str, Any]] = {
    1: {"box": (200, 200, 400, 400), "hazard": 0.80, "status": "growing", "first": 0},  # red
    2: {"box": (300, 1000, 600, 1300), "hazard": 0.55, "status": "stable", "first": 0},  # orange
    3: {"box": (1200, 500, 1500, 700), "hazard": 0.35, "status": "stable", "first": 0},  # yellow
    4: {"box": (1500, 1500, 1700, 1700), "hazard": 0.10, "status": "new", "first": 1},  # green
    5: {"box": (800, 1700, 900, 1800), "hazard": 0.20, "status": "stable", "first": 0},  # green
}
LAKE1_SIDES = (150.0, 180.0, 200.0)
"""Side of lake 1 in metres on each date (it grows)."""
EXPECTED_LEVELS = {1: "red", 2: "orange", 3: "yellow", 4: "green", 5: "green"}
TOKEN = "test-token-123"


def auth(token: str = TOKEN) -> dict[str, str]:
    """The Authorization header of the write routes."""
    return {"Authorization": f"Bearer {token}"}


def lonlat_box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    """(W, S, E, N) in degrees enclosing a box in metres from the grid corner (as :func:`utm_box`)."""
    from pyproj import Transformer

    to_ll = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform([X0 + x0, X0 + x1, X0 + x0, X0 + x1], [Y0 - y0, Y0 - y0, Y0 - y1, Y0 - y1])
    return min(lon), min(lat), max(lon), max(lat)


def utm_box(x0: float, y0: float, x1: float, y1: float) -> Any:
    """A box in metres from the grid corner (x from X0 east, y from Y0 south)."""
    return box(X0 + x0, Y0 - y1, X0 + x1, Y0 - y0)


def lake_outline(lake_id: int, date_index: int) -> Any:
    """The outline of a lake on a date (lake 1 grows, the others keep their box)."""
    x0, y0, x1, y1 = LAKES[lake_id]["box"]
    if lake_id == 1:
        side = LAKE1_SIDES[date_index]
        return utm_box(x0, y0, x0 + side, y0 + side)
    return utm_box(x0, y0, x1, y1)


def lakes_on(date_index: int) -> list[int]:
    """Lake ids observed on a date."""
    return [k for k, v in LAKES.items() if v["first"] <= date_index]


def write_scene(path: Path, date_index: int, seed: int = 0) -> Path:
    """A 4-band uint16 L2A-like GeoTIFF: bright ground with noise, dark water in the lakes, a nodata corner."""
    rng = np.random.default_rng(seed + date_index)
    data = (rng.normal(2500, 200, (4, SIDE, SIDE))).clip(500, 9000).astype(np.uint16)
    data[2] += 800  # a browner red band
    for lake_id in lakes_on(date_index):
        minx, miny, maxx, maxy = lake_outline(lake_id, date_index).bounds
        c0, c1 = int((minx - X0) / PIXEL), int((maxx - X0) / PIXEL)
        r0, r1 = int((Y0 - maxy) / PIXEL), int((Y0 - miny) / PIXEL)
        data[:, r0:r1, c0:c1] = np.array([600, 500, 300, 200], np.uint16)[:, None, None]
    data[:, :10, -10:] = 0  # nodata corner
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", height=SIDE, width=SIDE, count=4, dtype="uint16", crs=UTM, nodata=0,
                   transform=Affine(PIXEL, 0, X0, 0, -PIXEL, Y0))
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for i, band in enumerate(("B02", "B03", "B04", "B08")):
            ds.set_band_description(i + 1, band)
    return path


def write_map_output(folder: Path, scene: Path, date_index: int, scene_text: str | None = None) -> Path:
    """probability.tif, mask.tif, lakes.gpkg and summary.json of one scene, as ``glofwatch map`` writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    prob = np.full((SIDE, SIDE), 0.05, np.float32)
    mask = np.zeros((SIDE, SIDE), np.uint8)
    ids = lakes_on(date_index)
    for lake_id in ids:
        minx, miny, maxx, maxy = lake_outline(lake_id, date_index).bounds
        c0, c1 = int((minx - X0) / PIXEL), int((maxx - X0) / PIXEL)
        r0, r1 = int((Y0 - maxy) / PIXEL), int((Y0 - miny) / PIXEL)
        prob[r0:r1, c0:c1] = 0.95
        mask[r0:r1, c0:c1] = 1
    prob[:10, -10:] = np.nan
    mask[:10, -10:] = 255
    transform = Affine(PIXEL, 0, X0, 0, -PIXEL, Y0)
    for name, array, nodata in (("probability.tif", prob, float("nan")), ("mask.tif", mask, 255)):
        with rasterio.open(folder / name, "w", driver="GTiff", height=SIDE, width=SIDE, count=1,
                           dtype=array.dtype.name, crs=UTM, transform=transform, nodata=nodata) as ds:
            ds.write(array, 1)
    outlines = [lake_outline(k, date_index) for k in ids]
    lakes = gpd.GeoDataFrame({
        "lake_id": list(range(1, len(ids) + 1)), "area_km2": [g.area / 1e6 for g in outlines],
        "perimeter_m": [g.length for g in outlines], "mean_prob": 0.95, "max_prob": 0.95, "date": DATES[date_index],
    }, geometry=outlines, crs=UTM)  # fmt: skip
    ll = lakes.geometry.centroid.to_crs("EPSG:4326")
    lakes.insert(3, "centroid_lon", ll.x)
    lakes.insert(4, "centroid_lat", ll.y)
    lakes.to_file(folder / "lakes.gpkg", layer="lakes", driver="GPKG", engine="pyogrio")
    summary = {
        "scene": scene_text if scene_text is not None else str(scene), "name": scene.stem, "out_dir": str(folder),
        "status": "done", "height": SIDE, "width": SIDE, "crs": UTM, "pixel_size_m": PIXEL, "date": DATES[date_index],
        "model": "test-model", "backend": "torch", "threshold": 0.5, "n_lakes": len(ids),
        "lake_area_km2": float(sum(g.area for g in outlines) / 1e6),
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _track_rows() -> list[dict[str, Any]]:
    rows = []
    for lake_id, spec in LAKES.items():
        first = spec["first"]
        areas = [lake_outline(lake_id, t).area / 1e6 for t in range(first, len(DATES))]
        rows.append({
            "lake_id": lake_id, "first_date": DATES[first], "last_date": DATES[-1], "n_obs": len(areas),
            "area_first_km2": areas[0], "area_last_km2": areas[-1],
            "area_prev_km2": areas[-2] if len(areas) > 1 else None,
            "change_km2": areas[-1] - areas[-2] if len(areas) > 1 else None, "change_uncertainty_km2": 0.005,
            "growth_pct_per_year": 33.0 if lake_id == 1 else 0.0, "status": spec["status"], "parent_id": None,
            "mean_prob": 0.95, "geometry": lake_outline(lake_id, len(DATES) - 1),
        })  # fmt: skip
    return rows


def write_monitor(folder: Path) -> Path:
    """monitor.gpkg with layers tracks (latest outlines) and observations (one row per lake and date)."""
    folder.mkdir(parents=True, exist_ok=True)
    tracks = gpd.GeoDataFrame(_track_rows(), geometry="geometry", crs=UTM)
    ll = tracks.geometry.centroid.to_crs("EPSG:4326")
    tracks.insert(13, "centroid_lon", ll.x)
    tracks.insert(14, "centroid_lat", ll.y)
    tracks["parent_id"] = tracks["parent_id"].astype("Int64")
    obs_rows = []
    for t, date in enumerate(DATES):
        for lake_id in lakes_on(t):
            g = lake_outline(lake_id, t)
            obs_rows.append({"lake_id": lake_id, "date": date, "area_km2": g.area / 1e6, "perimeter_m": g.length,
                             "area_uncertainty_km2": round(g.length * PIXEL / 2 / 1e6, 6), "source": f"map-{date}",
                             "mean_prob": 0.95, "geometry": g})
    obs = gpd.GeoDataFrame(obs_rows, geometry="geometry", crs=UTM)
    tracks.to_file(folder / "monitor.gpkg", layer="tracks", driver="GPKG", engine="pyogrio")
    obs.to_file(folder / "monitor.gpkg", layer="observations", driver="GPKG", engine="pyogrio")
    (folder / "monitor.json").write_text(json.dumps({"area": "testvalley", "n_tracks": len(tracks)}))
    return folder


def breakdown_entry(lake_id: int, hazard: float) -> dict[str, Any]:
    """Two criteria per lake in the risk stage's breakdown format."""
    area = lake_outline(lake_id, len(DATES) - 1).area / 1e6
    return {
        "hazard_score": hazard, "coverage": 0.6, "rank": 0, "n_unknown": 1,
        "criteria": [
            {"name": "lake_area", "value": area, "unit": "km2", "op": ">", "threshold": 0.02, "classes": None,
             "status": "met" if area > 0.02 else "not met", "score": 1.0 if area > 0.02 else 0.0, "weight": 0.3,
             "contribution": 0.3 if area > 0.02 else 0.0, "source": "monitor", "note": "", "detail": {}},
            {"name": "lake_growth", "value": 33.0 if lake_id == 1 else 0.0, "unit": "%/yr", "op": ">",
             "threshold": 10.0, "classes": None, "status": "graded", "score": hazard, "weight": 0.3,
             "contribution": round(0.3 * hazard, 6), "source": "monitor", "note": "", "detail": {}},
            {"name": "dam_type", "value": None, "unit": "", "op": "in", "threshold": None, "classes": ["moraine"],
             "status": "unknown", "score": None, "weight": 0.4, "contribution": 0.0, "source": "",
             "note": "no dam data", "detail": {}},
        ],
    }  # fmt: skip


def write_risk(folder: Path) -> Path:
    """risk.gpkg (tracks + hazard_score, coverage, rank, n_unknown), breakdown.json and risk.json."""
    folder.mkdir(parents=True, exist_ok=True)
    table = gpd.GeoDataFrame(_track_rows(), geometry="geometry", crs=UTM)
    ll = table.geometry.centroid.to_crs("EPSG:4326")
    table.insert(13, "centroid_lon", ll.x)
    table.insert(14, "centroid_lat", ll.y)
    table["parent_id"] = table["parent_id"].astype("Int64")
    order = sorted(LAKES, key=lambda k: -LAKES[k]["hazard"])
    geometry = table.pop("geometry")
    table["hazard_score"] = [LAKES[k]["hazard"] for k in table["lake_id"]]
    table["coverage"] = 0.6
    table["rank"] = [order.index(k) + 1 for k in table["lake_id"]]
    table["n_unknown"] = 1
    table = gpd.GeoDataFrame(table, geometry=geometry, crs=UTM)
    table.to_file(folder / "risk.gpkg", layer="lakes", driver="GPKG", engine="pyogrio")
    lakes = {str(k): dict(breakdown_entry(k, LAKES[k]["hazard"]), rank=order.index(k) + 1) for k in LAKES}
    (folder / "breakdown.json").write_text(json.dumps({
        "criteria_name": "test-criteria", "criteria_version": "1", "criteria_hash": "abc123", "total_weight": 1.0,
        "lakes": lakes}))  # fmt: skip
    (folder / "risk.json").write_text(json.dumps({"stage": "risk", "monitor": {"area": "testvalley"}}))
    return folder


def write_served(root: Path, parts: tuple[str, ...] = ("maps", "monitor", "risk", "alerts")) -> Path:
    """The served folder of the module docs (only the given parts); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if "maps" in parts:
        for t in (1, 2):
            scene = write_scene(root / "scenes" / f"S2A_{DATES[t].replace('-', '')}.tif", t)
            text = f"scenes/{scene.name}" if t == 1 else str(scene)  # one relative, one absolute path
            write_map_output(root / "maps" / DATES[t], scene, t, scene_text=text)
    if "monitor" in parts:
        write_monitor(root / "monitor")
    if "risk" in parts or "alerts" in parts:
        write_risk(root / "risk")
    if "alerts" in parts:
        from glofwatch.alerts.run import issue_alerts

        issue_alerts(root / "risk", root / "alerts", sent=dt.datetime(2024, 9, 2, 6, 0, tzinfo=dt.UTC))
    return root


def write_many_lakes(root: Path, n: int = 5000, vertices: int = 64) -> Path:
    """A monitor folder with ``n`` round lakes (``vertices``-gons, 60 m radius) on a 300 m grid, one date."""
    import shapely

    side = int(np.ceil(np.sqrt(n)))
    k = np.arange(n)
    x = X0 + 150 + (k % side) * 300.0
    y = Y0 - 150 - (k // side) * 300.0
    geoms = shapely.buffer(shapely.points(x, y), 60.0, quad_segs=vertices // 4)
    area = shapely.area(geoms) / 1e6
    tracks = gpd.GeoDataFrame({
        "lake_id": k + 1, "first_date": "2024-09-01", "last_date": "2024-09-01", "n_obs": 1, "area_first_km2": area,
        "area_last_km2": area, "area_prev_km2": np.nan, "change_km2": np.nan, "change_uncertainty_km2": np.nan,
        "growth_pct_per_year": np.nan, "status": "new", "parent_id": None, "mean_prob": 0.9,
        "centroid_lon": 0.0, "centroid_lat": 0.0,
    }, geometry=geoms, crs=UTM)  # fmt: skip
    tracks["parent_id"] = tracks["parent_id"].astype("Int64")
    folder = root / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    tracks.to_file(folder / "monitor.gpkg", layer="tracks", driver="GPKG", engine="pyogrio")
    obs = tracks[["lake_id", "first_date", "area_last_km2", "mean_prob", "geometry"]].rename(
        columns={"first_date": "date", "area_last_km2": "area_km2"})
    obs["perimeter_m"], obs["area_uncertainty_km2"], obs["source"] = shapely.length(geoms), 0.001, "test"
    obs.to_file(folder / "monitor.gpkg", layer="observations", driver="GPKG", engine="pyogrio")
    return root

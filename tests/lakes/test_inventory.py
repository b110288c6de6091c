"""Lake inventory: size classes, counts and areas, the ``glofwatch inventory`` command."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.lakes.inventory import SIZE_CLASSES, size_class, summarize_inventory

K0 = 0.9996
"""UTM scale on the central meridian: a square of side s m there has a geodesic area of (s / K0)^2."""


def lake_file(path: Path, areas_km2: list[float], date: str | None = None) -> Path:
    """A lakes.gpkg on UTM 45N with one square of each planar area, 2 km apart along the central meridian."""
    geoms = [box(500000, 3100000 + 2000 * i, 500000 + (a * 1e6) ** 0.5, 3100000 + 2000 * i + (a * 1e6) ** 0.5)
             for i, a in enumerate(areas_km2)]
    frame = gpd.GeoDataFrame({"lake_id": np.arange(1, len(areas_km2) + 1), "area_km2": areas_km2,
                              "date": [date] * len(areas_km2)}, geometry=geoms, crs="EPSG:32645")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_file(path, driver="GPKG", layer="lakes")
    return path


def test_size_class_edges() -> None:
    areas = np.array([0.001, 0.00999, 0.01, 0.049, 0.05, 0.1, 0.5, 0.99, 1.0, 25.0])
    assert [SIZE_CLASSES[i] for i in size_class(areas)] == [
        "<0.01", "<0.01", "0.01-0.05", "0.01-0.05", "0.05-0.1", "0.1-0.5", "0.5-1", "0.5-1", ">1", ">1"
    ]


def test_summary_counts_and_areas() -> None:
    rows = summarize_inventory({"area_km2": [0.005, 0.02, 0.03, 2.0]})
    by = {r["size_class"]: r for r in rows}
    assert by["<0.01"]["lakes"] == 1 and by["0.01-0.05"]["lakes"] == 2 and by[">1"]["lakes"] == 1
    assert by["0.01-0.05"]["area_km2"] == pytest.approx(0.05)
    assert by["total"]["lakes"] == 4 and by["total"]["area_km2"] == pytest.approx(2.055)
    assert by[">1"]["area_pct"] == pytest.approx(100 * 2.0 / 2.055)
    assert by["0.01-0.05"]["lakes_pct"] == pytest.approx(50.0)
    empty = summarize_inventory({"area_km2": []})
    assert empty[-1] == {"size_class": "total", "lakes": 0, "area_km2": 0.0, "lakes_pct": 0.0, "area_pct": 0.0}


def test_inventory_cli_over_map_folders(tmp_path: Path) -> None:
    lake_file(tmp_path / "out" / "sceneA" / "lakes.gpkg", [0.005, 0.02, 0.7])
    lake_file(tmp_path / "out" / "sceneB" / "lakes.gpkg", [0.2, 3.0], date="2026-10-01")
    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "out"), "--out", str(tmp_path / "inv.json")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "Lake inventory 2026-10-01: 2 lakes from 1 scene(s)" in text
    assert "Lake inventory undated: 3 lakes from 1 scene(s)" in text and "folded" not in text
    doc = json.loads((tmp_path / "inv.json").read_text())
    assert doc["groups"][0]["scenes"] == ["sceneB"] and doc["groups"][1]["scenes"] == ["sceneA"]
    by = {(r["inventory"], r["size_class"]): r for r in doc["classes"]}
    assert [by["undated", c]["lakes"] for c in SIZE_CLASSES] == [1, 1, 0, 0, 1, 0]
    assert [by["2026-10-01", c]["lakes"] for c in SIZE_CLASSES] == [0, 0, 0, 1, 0, 1]
    # areas are measured from the outlines (the area_km2 column is not read): planar / K0^2
    assert by["undated", "total"]["area_km2"] == pytest.approx(0.725 / K0**2, rel=1e-6)
    assert by["2026-10-01", "total"]["area_km2"] == pytest.approx(3.2 / K0**2, rel=1e-6)

    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "out" / "sceneB" / "lakes.gpkg"), "--out",
                                   str(tmp_path / "inv.csv")])
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "inv.csv").read_text().splitlines()
    assert lines[0] == "inventory,size_class,lakes,area_km2,lakes_pct,area_pct"
    assert lines[4] == f"2026-10-01,0.1-0.5,1,{0.2 / K0**2:.6g},50,6.25"
    assert lines[-1] == f"2026-10-01,total,2,{3.2 / K0**2:.6g},100,100"


def test_inventory_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "empty")])
    assert res.exit_code == 2
    assert "folder holds no lakes.gpkg" in res.output
    lake_file(tmp_path / "a" / "lakes.gpkg", [0.1])
    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "a"), "--out", str(tmp_path / "inv.xlsx")])
    assert res.exit_code == 2 and "unknown inventory file type '.xlsx'; use .csv or .json" in res.output
    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "a"), "--lakes", str(tmp_path / "lakes.shp")])
    assert res.exit_code == 2 and "unknown lake file type '.shp'; use .gpkg or .geojson" in res.output
    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "missing: not found" in res.output

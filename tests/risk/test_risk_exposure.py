"""Downstream exposure: settlements along the D8 flow path (pyflwdir) from the lake outlet."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from risk_fixtures import UTM, X0, Y0, track, utm_box, write_dem, write_monitor
from shapely.geometry import Point

from glofwatch.risk.run import assess_risk

PIXEL = 50.0
LAKE = utm_box(900, 100, 1150, 300)  # columns 18-22, rows 2-5, centred on column 20 (x offset 1025 m)


def valley_dem(path: Path) -> Path:
    """A valley running south along column 20: 2.5 m drop per 50 m cell, side slopes of 15 m per cell."""
    rows, cols = np.mgrid[0:240, 0:40]
    return write_dem(path, 5000.0 - 2.5 * rows + 15.0 * np.abs(cols - 20), pixel_m=PIXEL)


def exposure(out: Path) -> dict:
    data = json.loads((out / "breakdown.json").read_text())["lakes"]["1"]["criteria"]
    return next(c for c in data if c["name"] == "downstream_exposure")


def settlements_csv(path: Path, places: dict[str, tuple[float, float]]) -> Path:
    """Settlements as a CSV of lon/lat from (x offset, down offset) in metres."""
    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lines = ["name,lon,lat"]
    for name, (dx, down) in places.items():
        lon, lat = to_wgs84.transform(X0 + dx, Y0 - down)
        lines.append(f"{name},{lon:.9f},{lat:.9f}")
    path.write_text("\n".join(lines) + "\n")
    return path


VALLEY_PLACES = {
    "Valley village": (1025.0, 4300.0),  # on the valley floor 4 km below the outlet: on the path
    "Ridge hamlet": (225.0, 1000.0),  # nearer the lake, but 800 m up the valley side: off the path
    "Far town": (1025.0, 11300.0),  # on the valley floor 11 km below the outlet: beyond 10 km
}


def test_valley_flow_path_reaches_the_village_and_not_the_ridge_or_beyond_10_km(tmp_path: Path) -> None:
    monitor = write_monitor(tmp_path / "monitor", [track(1, LAKE)])
    dem = valley_dem(tmp_path / "valley.tif")
    places = settlements_csv(tmp_path / "places.csv", VALLEY_PLACES)
    assess_risk(monitor, tmp_path / "risk", dem=dem, settlements=places)
    result = exposure(tmp_path / "risk")
    assert result["detail"]["settlements"] == ["Valley village"]
    assert (result["value"], result["status"], result["score"]) == (1.0, "met", 1.0)
    # outlet: the lowest cell on the lake boundary is the valley-floor cell just below the lake (row 6, column 20)
    assert result["detail"]["outlet_xy"] == [pytest.approx(X0 + 1025.0), pytest.approx(Y0 - 325.0)]
    assert result["detail"]["outlet_elev_m"] == pytest.approx(5000.0 - 2.5 * 6)
    assert result["detail"]["path_length_m"] == pytest.approx(10000.0)  # 200 cells of 50 m due south


def test_a_shorter_reach_leaves_the_village_out(tmp_path: Path) -> None:
    monitor = write_monitor(tmp_path / "monitor", [track(1, LAKE)])
    override = tmp_path / "short.yaml"
    override.write_text("criteria:\n  downstream_exposure:\n    params: {distance_km: 3}\n")
    assess_risk(monitor, tmp_path / "risk", dem=valley_dem(tmp_path / "valley.tif"),
                settlements=settlements_csv(tmp_path / "places.csv", VALLEY_PLACES), criteria=override)
    result = exposure(tmp_path / "risk")
    assert result["detail"]["settlements"] == []
    assert (result["value"], result["status"]) == (0.0, "not met")
    assert result["detail"]["path_length_m"] == pytest.approx(3000.0)


def test_on_a_plane_tilted_east_water_goes_east(tmp_path: Path) -> None:
    """Down an eastward plane the path runs east: the settlement east of the lake counts, the one south does not."""
    cols = np.arange(80)[None, :] * np.ones((60, 1))
    dem = write_dem(tmp_path / "east.tif", 5000.0 - 0.2 * PIXEL * (cols + 0.5), pixel_m=PIXEL)
    monitor = write_monitor(tmp_path / "monitor", [track(1, LAKE)])
    places = gpd.GeoDataFrame({"name": ["East camp", "South camp"]},
                              geometry=[Point(X0 + 3150, Y0 - 200), Point(X0 + 1025, Y0 - 2300)], crs=UTM)
    places.to_file(tmp_path / "places.gpkg", driver="GPKG", engine="pyogrio")
    assess_risk(monitor, tmp_path / "risk", dem=dem, settlements=tmp_path / "places.gpkg")
    result = exposure(tmp_path / "risk")
    assert result["detail"]["settlements"] == ["East camp"]
    assert result["detail"]["outlet_xy"][0] == pytest.approx(X0 + 1175.0)  # first column east of the lake


def test_without_a_dem_exposure_is_unknown_even_with_settlements(tmp_path: Path) -> None:
    monitor = write_monitor(tmp_path / "monitor", [track(1, LAKE)])
    assess_risk(monitor, tmp_path / "risk", settlements=settlements_csv(tmp_path / "p.csv", VALLEY_PLACES))
    result = exposure(tmp_path / "risk")
    assert (result["status"], result["score"], result["contribution"]) == ("unknown", None, 0.0)
    assert "DEM" in result["note"]

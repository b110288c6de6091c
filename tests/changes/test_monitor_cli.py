"""`glofwatch monitor` end to end through the root app, and its one-line errors."""

from __future__ import annotations

import json

import pytest
from glof_monitor_helpers import circle, write_inventory
from typer.testing import CliRunner

from glofwatch.cli.app import app


@pytest.fixture
def files(tmp_path):
    d0 = write_inventory(tmp_path / "a.gpkg", [circle(1.63), circle(0.5, 9000)])
    d1 = write_inventory(tmp_path / "b.gpkg", [circle(0.5, 9000), circle(0.6)])
    return d0, d1


def test_monitor_end_to_end(tmp_path, files) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["monitor", *map(str, files), "--out", str(out), "--dates", "2022-10-15,2023-10-15",
                                   "--pixel-size", "30", "--drain-threshold", "0.5"])
    assert res.exit_code == 0, res.output
    assert "drained lake 1" in res.output and "1.630 -> 0.600 km2" in res.output
    assert {p.name for p in out.iterdir()} == {"monitor.gpkg", "tracks.csv", "observations.csv", "monitor.json"}
    doc = json.loads((out / "monitor.json").read_text())
    assert doc["dates"] == ["2022-10-15", "2023-10-15"] and doc["pixel_size_m"] == 30.0
    assert doc["parameters"]["drain_threshold"] == 0.5
    assert doc["counts"]["by_status"]["drained"] == 1 and doc["counts"]["by_status"]["stable"] == 1
    # 30 m pixels: sigma of the 0.5 km2 circle = 2 sqrt(pi 0.5e6) x 30 / 2 = 0.037599 km2
    from glofwatch.changes.store import read_geopackage

    _, observations = read_geopackage(out / "monitor.gpkg")
    sigma = observations.loc[observations["lake_id"] == 2, "area_uncertainty_km2"].iloc[0]
    assert sigma == pytest.approx(0.037599, rel=1e-3)


@pytest.mark.bad_input
def test_monitor_errors_are_one_line_exit_2(tmp_path, files) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "a.gpkg: no date found" in res.output and "--dates" in res.output
    res = runner.invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "o"), "--dates", "2020"])
    assert res.exit_code == 2 and "--dates gives 1 date(s) for 2 inventories" in res.output
    res = runner.invoke(app, ["monitor", str(tmp_path / "missing.gpkg"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "missing.gpkg: not found" in res.output
    res = runner.invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "o"), "--dates", "2020,2021",
                              "--drain-threshold", "1.5"])
    assert res.exit_code == 2 and "drain threshold 1.5 must be between 0 and 1" in res.output
    assert not (tmp_path / "o").exists()
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.bad_input
def test_monitor_no_crs_error(tmp_path, files) -> None:
    nocrs = write_inventory(tmp_path / "lakes_2021.shp", [circle(0.1)], crs=None)
    res = CliRunner().invoke(app, ["monitor", str(files[0]), str(nocrs), "--out", str(tmp_path / "o"),
                                   "--dates", "2020,2021"])
    assert res.exit_code == 2 and "lakes_2021.shp: has no CRS" in res.output


def test_map_output_folders_as_inventories(tmp_path) -> None:
    root = tmp_path / "maps"
    write_inventory(root / "S2A_MSIL2A_20191015T045701_T45RVL" / "lakes.gpkg", [circle(1.0)], mean_prob=[0.9])
    write_inventory(root / "S2B_MSIL2A_20201014T045709_T45RVL" / "lakes.gpkg", [circle(1.4)], mean_prob=[0.8])
    res = CliRunner().invoke(app, ["monitor", str(root), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert doc["dates"] == ["2019-10-15", "2020-10-14"] and doc["counts"]["by_status"]["growing"] == 1

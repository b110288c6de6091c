"""``glofwatch risk`` end to end through the root Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
from risk_fixtures import plane_dem, track, utm_box, write_glaciers, write_monitor
from typer.testing import CliRunner

from glofwatch.cli.app import app


def test_risk_command_writes_the_four_outputs(tmp_path: Path) -> None:
    monitor = write_monitor(tmp_path / "monitor", [
        track(1, utm_box(800, 1000, 1000, 1200), area_last_km2=0.3, growth_pct_per_year=2.0),
        track(2, utm_box(1200, 1000, 1300, 1100), area_last_km2=0.01),
    ])  # fmt: skip
    glaciers = write_glaciers(tmp_path / "glaciers.gpkg", [utm_box(800, 500, 1000, 700)])
    result = CliRunner().invoke(app, ["risk", str(monitor), "--dem", str(plane_dem(tmp_path / "dem.tif", 0.7)),
                                      "--glaciers", str(glaciers), "--out", str(tmp_path / "risk")])
    assert result.exit_code == 0, result.output
    assert "GLOF hazard: 2 lake(s)" in result.output
    for name in ("risk.gpkg", "risk.csv", "breakdown.json", "risk.json"):
        assert (tmp_path / "risk" / name).is_file()
    table = gpd.read_file(tmp_path / "risk" / "risk.gpkg", layer="lakes")
    assert list(table.sort_values("lake_id")["rank"]) == [1, 2]
    meta = json.loads((tmp_path / "risk" / "risk.json").read_text())
    assert meta["inputs"]["glaciers"] == str(glaciers)
    assert meta["counts"]["unknown_by_criterion"]["downstream_exposure"] == 2  # no settlements given


def test_risk_command_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["risk", str(tmp_path / "nowhere"), "--out", str(tmp_path / "risk")])
    assert result.exit_code == 2
    assert "error:" in result.output and "monitor.gpkg: not found" in result.output
    monitor = write_monitor(tmp_path / "monitor", [track(1, utm_box(0, 0, 100, 100))])
    bad = tmp_path / "bad.yaml"
    bad.write_text("criteria:\n  lake_area: {treshold: 0.1}\n")
    result = CliRunner().invoke(app, ["risk", str(monitor), "--criteria", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "did you mean 'threshold'?" in result.output

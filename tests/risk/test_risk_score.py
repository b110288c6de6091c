"""The hazard score equals the hand computation, with and without missing criteria; ranks; outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from risk_fixtures import plane_dem, track, utm_box, write_glaciers, write_monitor
from shapely.geometry import Point

from glofwatch.risk.run import SCORE_COLUMNS, assess_risk
from glofwatch.risk.score import LakeScore, rank_scores

LAKE_A = utm_box(800, 1000, 1000, 1200)
GLACIER = utm_box(800, 500, 1000, 700)


def lakes(out: Path) -> dict[int, dict]:
    return {int(k): v for k, v in json.loads((out / "breakdown.json").read_text())["lakes"].items()}


def two_lakes(dam: bool) -> list[dict]:
    extra = [{"dam_type": "M(l)"}, {"dam_type": "B"}] if dam else [{}, {}]
    return [
        # 0.3 km2 > 0.2: met; 2 %/yr = 20 % per decade > 10: met; M(l): graded 0.5
        track(7, utm_box(0, 0, 100, 100), area_last_km2=0.3, growth_pct_per_year=2.0, **extra[0]),
        # 0.1 km2: not met; 0.5 %/yr = 5 % per decade: not met; bedrock: 0
        track(9, utm_box(300, 0, 400, 100), area_last_km2=0.1, growth_pct_per_year=0.5, **extra[1]),
    ]


def test_score_over_known_criteria_with_a_dam_column(tmp_path: Path) -> None:
    assess_risk(write_monitor(tmp_path / "m", two_lakes(dam=True)), tmp_path / "risk")
    lake = lakes(tmp_path / "risk")[7]
    # known: lake_area 0.15 x 1 + growth_rate 0.06 x 1 + dam_type 0.15 x 0.5 over 0.15 + 0.06 + 0.15
    assert lake["hazard_score"] == pytest.approx((0.15 + 0.06 + 0.075) / 0.36)  # 0.7917
    assert lake["coverage"] == pytest.approx(0.36)  # of a total weight of 1.0
    assert lake["n_unknown"] == 7
    by_name = {c["name"]: c for c in lake["criteria"]}
    assert by_name["dam_type"]["contribution"] == pytest.approx(0.075 / 0.36)
    assert by_name["glacier_distance"]["status"] == "unknown"
    assert "glacier" in by_name["glacier_distance"]["note"]
    assert sum(c["contribution"] for c in lake["criteria"]) == pytest.approx(lake["hazard_score"])
    assert lake["rank"] == 1
    other = lakes(tmp_path / "risk")[9]
    assert (other["hazard_score"], other["rank"]) == (0.0, 2)


def test_score_without_the_dam_column_is_normalised_over_the_rest(tmp_path: Path) -> None:
    assess_risk(write_monitor(tmp_path / "m", two_lakes(dam=False)), tmp_path / "risk")
    lake = lakes(tmp_path / "risk")[7]
    assert lake["hazard_score"] == pytest.approx(1.0)  # (0.15 + 0.06) / (0.15 + 0.06)
    assert lake["coverage"] == pytest.approx(0.21)
    assert lake["n_unknown"] == 8
    dam = next(c for c in lake["criteria"] if c["name"] == "dam_type")
    assert (dam["status"], dam["score"]) == ("unknown", None)
    assert "dam-type column" in dam["note"]


def test_score_with_every_input_equals_the_hand_computation(tmp_path: Path) -> None:
    """Plane of gradient 0.7 (35 deg), glacier 300 m north, a settlement 600 m downstream, no dam column."""
    monitor = write_monitor(tmp_path / "m", [track(1, LAKE_A, area_last_km2=0.04, growth_pct_per_year=1.5)])
    places = gpd.GeoDataFrame({"name": ["Camp"]}, geometry=[Point(LAKE_A.centroid.x, LAKE_A.bounds[1] - 600)],
                              crs="EPSG:32645")
    places.to_file(tmp_path / "places.gpkg", driver="GPKG", engine="pyogrio")
    assess_risk(monitor, tmp_path / "risk", dem=plane_dem(tmp_path / "dem.tif", 0.7),
                glaciers=write_glaciers(tmp_path / "g.gpkg", [GLACIER]), settlements=tmp_path / "places.gpkg")
    lake = lakes(tmp_path / "risk")[1]
    status = {c["name"]: c["status"] for c in lake["criteria"]}
    assert status == {
        "lake_area": "not met", "growth_rate": "met", "glacier_distance": "met", "glacier_contact": "not met",
        "glacier_tongue_slope": "met", "surrounding_slope": "met", "lake_glacier_slope": "met",
        "lake_elevation": "not met", "dam_type": "unknown", "downstream_exposure": "met",
    }  # fmt: skip
    # met weights: 0.06 + 0.15 + 0.10 + 0.10 + 0.07 + 0.14 = 0.62 over the known 1.0 - 0.15 (dam type)
    assert lake["hazard_score"] == pytest.approx(0.62 / 0.85)
    assert lake["coverage"] == pytest.approx(0.85)
    assert lake["n_unknown"] == 1


def test_outputs_carry_track_columns_scores_and_the_criteria_hash(tmp_path: Path) -> None:
    rows = two_lakes(dam=True)
    monitor = write_monitor(tmp_path / "m", rows, to_crs="EPSG:4326")
    result = assess_risk(monitor, tmp_path / "risk")
    table = gpd.read_file(tmp_path / "risk" / "risk.gpkg", layer="lakes")
    tracks = gpd.read_file(monitor / "monitor.gpkg", layer="tracks")
    assert list(table.columns) == [*[c for c in tracks.columns if c != "geometry"], *SCORE_COLUMNS, "geometry"]
    assert table.crs == tracks.crs  # written in the tracks' own CRS
    assert list(table["rank"]) == [1, 2]
    csv = pd.read_csv(tmp_path / "risk" / "risk.csv")
    assert csv.loc[0, "top_criteria"] == "lake_area; dam_type; growth_rate"
    meta = json.loads((tmp_path / "risk" / "risk.json").read_text())
    assert meta["criteria"]["hash"] == result.config.hash
    assert meta["counts"]["lakes"] == 2
    assert meta["counts"]["unknown_by_criterion"]["lake_elevation"] == 2
    assert meta["monitor"]["area"] == "testvalley"
    assert json.loads((tmp_path / "risk" / "breakdown.json").read_text())["criteria_hash"] == result.config.hash


def test_rank_ties_share_the_best_rank_and_unscored_lakes_come_last() -> None:
    scores = [LakeScore(i, s, 1.0, 0, []) for i, s in enumerate([0.2, math.nan, 0.8, 0.2, 0.5])]
    assert [s.rank for s in rank_scores(scores)] == [3, 5, 1, 3, 2]


def test_no_tracks_writes_empty_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    empty = gpd.GeoDataFrame([track(1, utm_box(0, 0, 10, 10))], geometry="geometry", crs="EPSG:32645").iloc[:0]
    empty.to_file(folder / "monitor.gpkg", layer="tracks", driver="GPKG", engine="pyogrio")
    result = assess_risk(folder, tmp_path / "risk", dem=plane_dem(tmp_path / "dem.tif", 0.1))
    assert result.scores == []
    assert json.loads((tmp_path / "risk" / "breakdown.json").read_text())["lakes"] == {}
    assert len(gpd.read_file(tmp_path / "risk" / "risk.gpkg", layer="lakes")) == 0


def test_a_track_without_outline_is_scored_on_its_track_columns_only(tmp_path: Path) -> None:
    rows = [track(1, LAKE_A, area_last_km2=0.5), track(2, None, status="vanished", area_last_km2=0.5,
                                                         growth_pct_per_year=5.0)]
    assess_risk(write_monitor(tmp_path / "m", rows), tmp_path / "risk", dem=plane_dem(tmp_path / "dem.tif", 0.7),
                glaciers=write_glaciers(tmp_path / "g.gpkg", [GLACIER]))
    lake = lakes(tmp_path / "risk")[2]
    notes = {c["name"]: c["note"] for c in lake["criteria"] if c["status"] == "unknown"}
    assert notes["glacier_tongue_slope"] == notes["lake_elevation"] == "no lake outline"
    assert (lake["hazard_score"], lake["coverage"]) == (pytest.approx(1.0), pytest.approx(0.21))

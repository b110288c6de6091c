"""Monitor outputs: monitor.gpkg layers and schema, CSV with WKT, monitor.json; readers give the tables back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely
from glof_monitor_helpers import circle, write_inventory

from glofwatch.changes.monitor import run_monitor
from glofwatch.changes.store import read_csv, read_geopackage
from glofwatch.errors import InputError

TRACKS = ["lake_id", "first_date", "last_date", "n_obs", "area_first_km2", "area_last_km2", "area_prev_km2",
          "change_km2", "change_uncertainty_km2", "growth_pct_per_year", "status", "parent_id", "merged_into",
          "mean_prob", "centroid_lon", "centroid_lat", "geometry"]
OBSERVATIONS = ["lake_id", "date", "area_km2", "perimeter_m", "area_uncertainty_km2", "pixel_size_m", "status",
                "source", "source_row", "mean_prob", "geometry"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    d0 = write_inventory(root / "lakes_2019-10-15.gpkg", [circle(1.63), circle(0.2, 9000), circle(0.1, -9000)],
                         mean_prob=[0.9, 0.8, 0.7])
    d1 = write_inventory(root / "lakes_2020-10-15.gpkg", [circle(0.60), circle(0.2, 9000), circle(0.3, 0, 9000)],
                         mean_prob=[0.95, 0.85, 0.75])
    return run_monitor([d0, d1], root / "out")


def test_geopackage_layers_schema_and_crs(run) -> None:
    import pyogrio

    path = run.files["monitor.gpkg"]
    layers = dict((str(n), str(t)) for n, t in pyogrio.list_layers(path))
    assert layers == {"tracks": "MultiPolygon", "observations": "MultiPolygon"}
    tracks, observations = read_geopackage(path)
    assert list(tracks.columns) == TRACKS and list(observations.columns) == OBSERVATIONS
    assert tracks.crs.to_epsg() == 4326 and observations.crs.to_epsg() == 4326
    assert tracks["lake_id"].tolist() == [1, 2, 3, 4]
    assert tracks["status"].tolist() == ["drained", "stable", "vanished", "new"]
    assert tracks["mean_prob"].tolist() == [0.95, 0.85, 0.7, 0.75]  # of the last outline
    assert str(tracks["parent_id"].dtype) == "Int64" and tracks["parent_id"].isna().all()
    assert observations["status"].isna().sum() == 3  # nothing to compare with on the first date
    # centroid of the drained lake: the LAEA origin of the test CRS is 28 N 87 E
    assert tracks.loc[0, ["centroid_lat", "centroid_lon"]].tolist() == pytest.approx([28.0, 87.0], abs=1e-6)
    pd.testing.assert_frame_equal(pd.DataFrame(tracks.drop(columns="geometry")),
                                  pd.DataFrame(run.tracks.drop(columns="geometry")))
    assert shapely.equals_exact(tracks.geometry.to_numpy(), run.tracks.geometry.to_numpy(), 1e-9).all()


def test_csv_holds_the_same_tables_with_wkt(run) -> None:
    tables = (("tracks.csv", TRACKS, run.tracks), ("observations.csv", OBSERVATIONS, run.observations))
    for name, columns, table in tables:
        text = run.files[name].read_text().splitlines()
        assert text[0].split(",") == columns
        back = read_csv(run.files[name])
        pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")),
                                      pd.DataFrame(table.drop(columns="geometry")), check_exact=False, rtol=1e-12)
        assert (shapely.hausdorff_distance(back.geometry.to_numpy(), table.geometry.to_numpy()) < 1e-8).all()
    assert "MULTIPOLYGON" in run.files["tracks.csv"].read_text()


def test_monitor_json(run) -> None:
    doc = json.loads(run.files["monitor.json"].read_text())
    assert doc["dates"] == ["2019-10-15", "2020-10-15"]
    assert doc["crs"] == "EPSG:4326" and doc["area_crs"].startswith("+proj=laea")
    assert doc["pixel_size_m"] == 10.0 and doc["pixel_size_from"] == ["default"]
    assert doc["counts"]["by_status"] == {"new": 1, "vanished": 1, "stable": 1, "growing": 0, "shrinking": 0,
                                          "merged": 0, "split": 0, "drained": 1, "obscured": 0}
    assert doc["counts"]["lakes"] == 4 and doc["counts"]["observations"] == 6
    assert [i["date_from"] for i in doc["inputs"]] == ["file name", "file name"]
    assert doc["parameters"] == {"k_sigma": 1.0, "drain_threshold": 0.3, "min_overlap": 0.1, "band_logit": 0.75}


def test_outputs_written_atomically(run) -> None:
    assert sorted(p.name for p in run.files["monitor.gpkg"].parent.iterdir()) == [
        "monitor.gpkg", "monitor.json", "observations.csv", "tracks.csv"]  # no temporary files left


@pytest.mark.bad_input
def test_read_geopackage_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_geopackage(tmp_path / "monitor.gpkg")
    other = write_inventory(tmp_path / "lakes.gpkg", [circle(0.1)])
    with pytest.raises(InputError, match="needs layers 'tracks' and 'observations'"):
        read_geopackage(other)


def test_single_date_gives_new_lakes(tmp_path) -> None:
    d0 = write_inventory(tmp_path / "lakes_2019-10-15.gpkg", [circle(0.2), circle(0.1, 5000)])
    result = run_monitor([d0], tmp_path / "out")
    assert result.tracks["status"].tolist() == ["new", "new"]
    assert np.isnan(result.tracks["growth_pct_per_year"]).all()

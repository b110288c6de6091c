"""Synthetic dated series: same grid and terrain on every date, shores that wobble, and the planned changes."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from glofwatch.errors import ConfigError
from glofwatch.scene.synth.series import SeriesFiles, series_dates, wobble, write_synthetic_series

SIZE = 768


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> SeriesFiles:
    return write_synthetic_series(tmp_path_factory.mktemp("series"), n_dates=3, size=SIZE, seed=0)


def _truth(series: SeriesFiles, i: int) -> gpd.GeoDataFrame:
    return gpd.read_file(series.scenes[i].lakes_truth).set_index("lake_id")


def test_dated_folders_same_grid_and_terrain(series: SeriesFiles) -> None:
    assert [d.isoformat() for d in series.dates] == ["2019-10-15", "2020-10-15", "2021-10-15"]
    assert [s.out_dir.name for s in series.scenes] == ["2019-10-15", "2020-10-15", "2021-10-15"]
    dems, profiles = [], []
    for scene in series.scenes:
        assert {p.name for p in scene.out_dir.iterdir()} == {"scene.tif", "lakes_mask.tif", "dem.tif", "glaciers.gpkg",
                                                            "lakes_truth.gpkg"}
        with rasterio.open(scene.dem) as ds:
            dems.append(ds.read(1))
            profiles.append((ds.crs.to_epsg(), tuple(ds.transform)[:6], ds.shape))
    assert profiles == [(32645, (10.0, 0.0, 440000.0, 0.0, -10.0, 3100000.0), (SIZE, SIZE))] * 3
    assert all(np.array_equal(dems[0], d) for d in dems[1:])


def test_landscape_is_that_of_the_single_scene(series: SeriesFiles, tmp_path) -> None:
    from glofwatch.scene.synth import write_synthetic_scene

    single = write_synthetic_scene(tmp_path, size=SIZE, seed=0)
    with rasterio.open(single.dem) as a, rasterio.open(series.scenes[0].dem) as b:
        assert np.array_equal(a.read(1), b.read(1))
    assert set(gpd.read_file(single.lakes_truth)["lake_id"]) == set(_truth(series, 0).index) - {
        series.events["merge"]["lake_ids"][1]}


def test_series_json_names_the_changes(series: SeriesFiles) -> None:
    doc = json.loads(series.series_json.read_text())
    ev = doc["events"]
    assert doc["dates"] == ["2019-10-15", "2020-10-15", "2021-10-15"] and ev["between"] == ["2020-10-15", "2021-10-15"]
    before, after = _truth(series, 1), _truth(series, 2)
    first = _truth(series, 0)
    g, d = ev["grow"]["lake_id"], ev["drain"]["lake_id"]
    assert after.loc[g, "area_km2"] / before.loc[g, "area_km2"] == pytest.approx(ev["grow"]["factor"], abs=1e-3)
    assert 1.35 < ev["grow"]["factor"] < 1.45
    assert after.loc[d, "area_km2"] == pytest.approx(ev["drain"]["area_after_km2"], abs=1e-6)
    assert 55 < ev["drain"]["loss_pct"] < 70
    keep, part = ev["split"]["into"]
    assert keep == ev["split"]["lake_id"] and part in after.index
    assert part not in before.index and part not in first.index
    assert after.loc[keep, "area_km2"] > after.loc[part, "area_km2"] > 0.25 * before.loc[keep, "area_km2"]
    big, small = ev["merge"]["lake_ids"]
    assert ev["merge"]["into"] == big and small in first.index and small in before.index and small not in after.index
    assert before.loc[big, "area_km2"] > before.loc[small, "area_km2"]
    events = {g, d, keep, part, big, small}
    assert set(series.stable) == (set(first.index) & set(after.index)) - events and len(series.stable) >= 5


def test_stable_shores_wobble_by_about_a_pixel(series: SeriesFiles) -> None:
    first, last = _truth(series, 0), _truth(series, 2)
    moved = 0
    for lake_id in series.stable:
        a, b = first.loc[lake_id], last.loc[lake_id]
        shore_px = a.geometry.length / 10.0
        change_px = abs(int(b["pixels"]) - int(a["pixels"]))
        assert change_px < shore_px, lake_id  # less than one pixel all along the shore
        moved += a.geometry.symmetric_difference(b.geometry).area > 0
    assert moved >= len(series.stable) // 2  # most shores did move


def test_mask_and_reflectance_follow_the_truth(series: SeriesFiles) -> None:
    masks, nir = [], []
    for scene in series.scenes:
        with rasterio.open(scene.lakes_mask) as ds:
            masks.append(ds.read(1))
        with rasterio.open(scene.scene) as ds:
            nir.append(ds.read(4).astype(float))
        assert int((masks[-1] == 1).sum()) == int(gpd.read_file(scene.lakes_truth)["pixels"].sum())
    bed = (masks[1] == 1) & (masks[2] == 0)  # water on the second date, dry ground on the last
    assert bed.sum() > 100
    assert np.median(nir[2][bed]) > 2 * np.median(nir[1][bed])  # water is dark in B08, the exposed bed is not


def test_wobble_never_joins_lakes_or_erases_small_ones() -> None:
    ids = np.zeros((40, 40), np.int32)
    ids[5:15, 5:15] = 1
    ids[5:15, 17:27] = 2  # two pixels apart
    ids[30:32, 30:32] = 3  # a 4-pixel pond
    nodata = np.zeros_like(ids, dtype=bool)
    for seed in range(5):
        out = wobble(ids, nodata, np.random.default_rng(seed))
        assert (out[5:15, 15:17] == 0).all()  # nothing grows into the gap between 1 and 2
        assert (out[ids == 3] == 3).all()  # small lakes lose no pixels
        assert set(np.unique(out)) == {0, 1, 2, 3}


def test_bad_arguments(tmp_path) -> None:
    assert [d.isoformat() for d in series_dates(3)] == ["2019-10-15", "2020-10-15", "2021-10-15"]
    with pytest.raises(ConfigError, match="at least 2 dates"):
        write_synthetic_series(tmp_path, n_dates=1, size=1024)
    with pytest.raises(ConfigError, match="too small"):
        write_synthetic_series(tmp_path, n_dates=2, size=128)

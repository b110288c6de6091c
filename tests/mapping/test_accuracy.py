"""Whole-scene accuracy against truth: hand-counted pixels, lakes, areas and false lakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from typer.testing import CliRunner

from glofwatch.geo import GeoGrid
from glofwatch.io.raster import write_mask
from glofwatch.mapping.accuracy import read_truth, score_map, score_masks

GRID = GeoGrid(crs="EPSG:32645", transform=Affine(10, 0, 440000, 0, -10, 3100000), height=100, width=100, nodata=255)


def _masks() -> tuple[np.ndarray, np.ndarray]:
    """Truth: lake A 20x20 px (0.04 km2), lake B 5x5 (0.0025 km2). Map: A + 2 extra rows, no B, a 4x4 false lake."""
    truth = np.zeros((100, 100), np.uint8)
    truth[10:30, 10:30] = 1
    truth[60:65, 60:65] = 1
    pred = np.zeros_like(truth)
    pred[10:32, 10:30] = 1
    pred[80:84, 10:14] = 1
    return pred, truth


def test_scores_by_hand() -> None:
    pred, truth = _masks()
    r = score_masks(pred, truth, pixel_area_m2=100.0, min_area_m2=1000.0)
    px, lk = r["pixel"], r["lakes"]
    assert (px["tp"], px["fp"], px["fn"]) == (400, 56, 25)
    assert px["iou"] == pytest.approx(400 / 481)
    assert (lk["truth_lakes"], lk["found"], lk["recall"]) == (2, 1, 0.5)
    assert (lk["predicted_lakes"], lk["true_predicted"], lk["false_lakes"]) == (2, 1, 1)
    assert lk["scored_area_km2"] == pytest.approx(1.0)
    assert lk["false_lakes_per_100km2"] == pytest.approx(100.0)
    assert lk["area_error_median_abs_pct"] == pytest.approx(10.0)  # 440 px mapped for 400
    bins = {b["bin"]: b for b in lk["by_size"]}
    assert bins["< 0.01 km2"]["truth_lakes"] == 1 and bins["< 0.01 km2"]["recall"] == 0.0
    assert bins["0.01-0.1 km2"]["recall"] == 1.0 and bins["0.01-0.1 km2"]["precision"] == 1.0
    assert bins["< 0.01 km2"]["predicted_lakes"] == 1 and bins["< 0.01 km2"]["precision"] == 0.0
    assert bins["> 1 km2"]["recall"] is None
    lake_a = next(p for p in r["per_lake"] if p["found"])
    assert lake_a["area_km2"] == pytest.approx(0.04) and lake_a["area_error_pct"] == pytest.approx(10.0)


def test_nodata_not_observed_and_the_mapping_unit() -> None:
    pred, truth = _masks()
    pred[:, 90:] = 255          # nodata strip
    pred[0:5, 0:5] = 2          # not observed (cloud)
    truth[0:5, 0:5] = 1         # a lake under that cloud is not scored
    r = score_masks(pred, truth, pixel_area_m2=100.0, min_area_m2=3000.0)  # 30 px: B (25 px) and the false lake (16) go
    assert r["lakes"]["scored_area_km2"] == pytest.approx((100 * 90 - 25) * 100 / 1e6)
    assert r["lakes"]["truth_lakes"] == 1 and r["lakes"]["below_mapping_unit"] == {"truth": 1, "predicted": 1}
    assert r["lakes"]["false_lakes"] == 0 and r["pixel"]["fn"] == 25


def test_truth_from_polygons_and_from_a_mask_on_another_grid(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    # lake A as a polygon: pixels 10..29 -> x 440100..440300, y 3099900..3099700
    gdf = gpd.GeoDataFrame({"lake_id": [1]}, geometry=[box(440100, 3099700, 440300, 3099900)], crs="EPSG:32645")
    gdf.to_file(tmp_path / "truth.gpkg")
    truth = read_truth(tmp_path / "truth.gpkg", GRID)
    assert truth.sum() == 400 and truth[10:30, 10:30].all()
    # a mask at 20 m covering the same area, resampled to the 10 m grid
    coarse = GeoGrid(crs="EPSG:32645", transform=Affine(20, 0, 440000, 0, -20, 3100000), height=50, width=50,
                     nodata=255)
    m = np.zeros((50, 50), np.uint8)
    m[5:15, 5:15] = 1
    write_mask(tmp_path / "coarse.tif", m, coarse)
    assert (read_truth(tmp_path / "coarse.tif", GRID)[10:30, 10:30] == 1).all()


def test_evaluate_map_command(tmp_path: Path) -> None:
    from glofwatch.cli.app import app

    pred, truth = _masks()
    scene = tmp_path / "maps" / "scene"
    write_mask(scene / "mask.tif", pred, GRID)
    (scene / "summary.json").write_text(json.dumps({"min_area_m2": 1000.0, "threshold": 0.42, "model": "tiny-unet"}))
    write_mask(tmp_path / "lakes_mask.tif", truth, GRID)
    res = CliRunner().invoke(app, ["evaluate-map", str(scene), "--truth", str(tmp_path / "lakes_mask.tif")])
    assert res.exit_code == 0, res.output
    assert "pixel IoU 83.2 %" in res.output and "1 false lakes (100.00 per 100 km2" in res.output
    saved = json.loads((scene / "accuracy.json").read_text())
    assert saved["threshold"] == 0.42 and saved["lakes"]["recall"] == 0.5
    assert (scene / "accuracy_lakes.csv").read_text().count("\n") == 3  # header + 2 truth lakes
    res = CliRunner().invoke(app, ["evaluate-map", str(tmp_path), "--truth", str(tmp_path / "lakes_mask.tif")])
    assert res.exit_code == 2 and "no mask.tif" in res.output
    assert score_map(scene, tmp_path / "lakes_mask.tif")["pixel"]["tp"] == 400

"""The threshold band: the area a model's outline leaves uncertain, and the false drainage it prevents."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from typer.testing import CliRunner

from glofwatch.changes.sensitivity import (
    DEFAULT_BAND_LOGIT,
    band_limits,
    band_pixels,
    map_threshold,
    threshold_sigma_km2,
)
from glofwatch.cli.app import app
from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.lakes.vectorize import read_lakes, vectorize_mask, write_lakes

GRID = GeoGrid("EPSG:32645", Affine(10, 0, 500000, 0, -10, 3100000), 100, 100)
D0, D1 = "2025-10-01", "2026-10-01"
T = 0.74  # one logit: lo = sigmoid(logit(0.74) - 1) = 0.5115, hi = sigmoid(logit(0.74) + 1) = 0.8855;
# the default 0.75 logit: lo = 0.5735, hi = 0.8577


def test_band_limits_are_one_logit_either_side() -> None:
    lo, hi = band_limits(0.5, 1.0)
    assert (lo, hi) == pytest.approx((1 / (1 + math.e), math.e / (1 + math.e)))  # 0.2689, 0.7311
    lo, hi = band_limits(T, 1.0)
    assert (lo, hi) == pytest.approx((0.51149, 0.88554), abs=1e-5)
    with pytest.raises(InputError, match="threshold 1.5 is not a probability"):
        band_limits(1.5)
    with pytest.raises(InputError, match="must be above 0"):
        band_limits(0.5, 0.0)


def window() -> tuple[np.ndarray, np.ndarray]:
    """A 10 x 10 px lake in a 20 x 20 window, with band pixels inside, beside and apart from it."""
    p = np.full((20, 20), 0.01, np.float32)
    lake = np.zeros((20, 20), bool)
    lake[5:15, 5:15] = True
    p[lake] = 0.95
    p[5:15, 5] = 0.8  # the lake's west column: lake, but below the raised threshold 0.8855 -> 10 inside
    p[8, 8] = np.nan  # no value inside: not counted
    p[5:15, 15] = 0.6  # east of the lake, in the band -> 10 outside
    p[5:15, 16] = 0.55  # joins the lake through column 15 -> 10 more
    p[5:15, 17] = 0.45  # below the lowered threshold 0.5115: not counted
    p[0:2, 18:20] = 0.6  # in the band but apart from the lake: not counted
    p[4, 10] = 0.9  # above the threshold but not lake (a terrain rule removed it): not counted ...
    p[3, 10] = 0.6  # ... and nothing joins the lake through it
    return p, lake


def test_band_pixels_by_hand() -> None:
    p, lake = window()
    assert band_pixels(p, lake, T, logit=1.0) == (10, 20)
    assert band_pixels(p, lake, T) == (10, 10)  # 0.55 < 0.5735: column 16 is outside the default band
    land = np.ones_like(lake)
    land[5:10, 16] = False  # cloud over half of column 16
    assert band_pixels(p, lake, T, land, logit=1.0) == (10, 15)
    assert band_pixels(p, lake, T, logit=1.0, reach_px=1) == (10, 10)  # column 16 is 2 px from the shore
    assert band_pixels(p, lake, T, logit=0.1) == (0, 0)  # 0.8 and 0.6 lie outside a 0.1-logit band


def write_map(folder: Path, mask: np.ndarray, prob: np.ndarray, date: str, summary: dict | None) -> Path:
    """What `glofwatch map` writes for one scene: mask.tif, probability.tif, lakes.gpkg, summary.json."""
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(folder / "mask.tif", "w", **GRID.profile(dtype="uint8", count=1, nodata=255)) as ds:
        ds.write(mask, 1)
    with rasterio.open(folder / "probability.tif", "w", **GRID.profile(dtype="float32", count=1)) as ds:
        ds.write(prob.astype(np.float32), 1)
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    return write_lakes(vectorize_mask(mask, GRID, prob, date=date), folder / "lakes.gpkg")


def sharp_and_hesitant(root: Path, summary: dict | None = None) -> list[Path]:
    """One 30 x 30 px lake, mapped sharply, then by a model that hesitates over 60 % of it.

    On the later date the model calls 18 x 30 px lake at 0.8 (all of it within a logit of 0.74) and the other
    12 x 30 px land at 0.6: a 40 % "loss" that is in the threshold band throughout.
    """
    summary = {"threshold": T} if summary is None else summary
    clear = np.zeros(GRID.shape, np.uint8)
    clear[20:50, 20:50] = 1
    p0 = np.where(clear == 1, 0.99, 0.01)
    later = np.zeros(GRID.shape, np.uint8)
    later[20:50, 20:38] = 1
    p1 = np.where(later == 1, 0.8, 0.01)
    p1[20:50, 38:50] = 0.6
    return [write_map(root / D0, clear, p0, D0, summary), write_map(root / D1, later, p1, D1, summary)]


def test_threshold_sigma_from_the_files_beside_a_lake_map(tmp_path: Path) -> None:
    first, later = sharp_and_hesitant(tmp_path)
    lakes = read_lakes(later)
    sigma, threshold = threshold_sigma_km2(lakes.geometry, lakes.crs, later)
    assert threshold == T
    # 540 px inside and the 10 of the 12 lost columns within reach: 840 px x 100 m2 / 2 = 0.042 km2
    assert sigma == pytest.approx([(540 + 300) * 100 / 2 / 1e6])
    wider, _ = threshold_sigma_km2(lakes.geometry, lakes.crs, later, reach_px=12)
    assert wider == pytest.approx([(540 + 360) * 100 / 2 / 1e6])
    sigma0, _ = threshold_sigma_km2(read_lakes(first).geometry, lakes.crs, first)
    assert sigma0.tolist() == [0.0]  # sharp: 0.99 inside, 0.01 outside
    # in another CRS the outline is brought to the raster's first
    sigma_ll, _ = threshold_sigma_km2(lakes.to_crs("EPSG:4326").geometry, "EPSG:4326", later)
    assert sigma_ll == pytest.approx(sigma)


@pytest.mark.parametrize("summary", [{}, {"threshold": 0.1, "ndwi": {"method": "otsu"}}, {"threshold": -0.2}])
def test_no_band_without_a_model_threshold(tmp_path: Path, summary: dict) -> None:
    _, later = sharp_and_hesitant(tmp_path, summary)
    lakes = read_lakes(later)
    sigma, threshold = threshold_sigma_km2(lakes.geometry, lakes.crs, later)
    assert threshold is None and map_threshold(later) is None and np.isnan(sigma).all()


def test_a_hesitant_map_is_not_a_drainage(tmp_path: Path) -> None:
    files = sharp_and_hesitant(tmp_path / "maps")
    runner = CliRunner()
    plain = runner.invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "plain"), "--band-logit", "0"])
    assert plain.exit_code == 0, plain.output
    banded = runner.invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "banded")])
    assert banded.exit_code == 0, banded.output

    import pandas as pd

    old = pd.read_csv(tmp_path / "plain" / "tracks.csv").iloc[0]
    new = pd.read_csv(tmp_path / "banded" / "tracks.csv").iloc[0]
    assert old["change_km2"] == pytest.approx(-0.036, rel=1e-3) == new["change_km2"]  # 360 px of 100 m2
    # half a pixel along the shores: 1200 m and 960 m of perimeter -> 0.006 and 0.0048 km2
    assert old["change_uncertainty_km2"] == pytest.approx(math.hypot(0.006, 0.0048), rel=2e-3)
    assert old["status"] == "drained"  # 4.7 sigma and 40 % of the area
    # the later outline's band (0.042 km2) replaces its half-pixel sigma; the sharp one keeps 0.006
    assert new["change_uncertainty_km2"] == pytest.approx(math.hypot(0.006, 0.042), rel=2e-3)
    assert new["status"] == "stable"  # 0.85 sigma
    summary = json.loads((tmp_path / "banded" / "monitor.json").read_text())
    assert summary["parameters"]["band_logit"] == DEFAULT_BAND_LOGIT and summary["threshold_band_outlines"] == 2
    assert [i["map_threshold"] for i in summary["inputs"]] == [T, T]
    assert "around the model's 0.74 measured on 1 outline (probability.tif" in banded.output
    plain_summary = json.loads((tmp_path / "plain" / "monitor.json").read_text())
    assert plain_summary["parameters"]["band_logit"] is None and plain_summary["threshold_band_outlines"] == 0


def test_a_real_drainage_stays_drained(tmp_path: Path) -> None:
    files = sharp_and_hesitant(tmp_path / "maps")
    with rasterio.open(files[1].parent / "probability.tif", "r+") as ds:
        p = ds.read(1)
        p[p == 0.6] = 0.05  # the lost strip is now plainly land, and the remnant plainly lake
        p[p > 0.7] = 0.99
        ds.write(p, 1)
    from glofwatch.changes.monitor import run_monitor

    lake = run_monitor(files, tmp_path / "monitor").tracks.iloc[0]
    assert lake["status"] == "drained"
    assert lake["change_uncertainty_km2"] == pytest.approx(math.hypot(0.006, 0.0048), rel=2e-3)


def test_a_bad_band_width_is_one_line(tmp_path: Path) -> None:
    files = sharp_and_hesitant(tmp_path / "maps")
    result = CliRunner().invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "m"), "--band-logit", "-1"])
    assert result.exit_code != 0
    assert "band half-width -1.0 logits must be above 0" in result.output


def test_a_lake_at_the_raster_edge_counts_only_pixels_on_the_raster(tmp_path: Path) -> None:
    mask = np.zeros(GRID.shape, np.uint8)
    mask[0:10, 0:10] = 1  # in the top-left corner
    prob = np.where(mask == 1, 0.8, 0.6)  # all of it, and all land, in the default band
    path = write_map(tmp_path, mask, prob, D0, {"threshold": T})
    lakes = read_lakes(path)
    sigma, _ = threshold_sigma_km2(lakes.geometry, lakes.crs, path)
    # inside 100 px; outside the land within 10 px that lies on the raster: 20 x 20 - 100 = 300 px
    assert sigma == pytest.approx([(100 + 300) * 100 / 2 / 1e6])


def test_water_a_terrain_rule_hid_beside_a_lake_is_measured_and_its_growth_listed(tmp_path: Path) -> None:
    lake = np.zeros(GRID.shape, np.uint8)
    lake[20:50, 20:50] = 1  # 0.09 km2 on both dates
    p0 = np.where(lake == 1, 0.99, 0.01)
    p1 = p0.copy()
    p1[20:50, 50:70] = 0.99  # the model sees 600 px more water east of it on the later date ...
    p1[80:90, 80:90] = 0.99  # ... and 100 px elsewhere, not joined to the lake
    # ... and the map calls all of it land (steep on the DEM): the mask is the same on both dates
    files = [write_map(tmp_path / D0, lake, p0, D0, {"threshold": T}),
             write_map(tmp_path / D1, lake, p1, D1, {"threshold": T})]
    from glofwatch.changes.sensitivity import outline_margins

    later = read_lakes(files[1])
    margins = outline_margins(later.geometry, later.crs, files[1])
    assert margins.hidden_km2 == pytest.approx([0.06])  # 600 px of 100 m2; the far patch is not joined
    assert outline_margins(later.geometry, later.crs, files[1], hidden_reach_px=5).hidden_km2 == pytest.approx([0.015])
    result = CliRunner().invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "the water a terrain rule removed beside it grew 0.000 -> 0.060 km2" in result.output
    doc = json.loads((tmp_path / "m" / "monitor.json").read_text())
    assert [(h["lake_id"], h["hidden_km2"]) for h in doc["terrain_hidden_growth"]] == [(1, pytest.approx(0.06))]
    assert doc["counts"]["by_status"]["stable"] == 1  # the mapped lake itself did not change

    (files[1].parent / "mask.tif").unlink()  # without the mask the hidden water cannot be told
    bare = CliRunner().invoke(app, ["monitor", *map(str, files), "--out", str(tmp_path / "m2")])
    assert bare.exit_code == 0, bare.output
    assert json.loads((tmp_path / "m2" / "monitor.json").read_text())["terrain_hidden_growth"] == []

"""Terrain rules of `glofwatch map --dem`: slope, DEM resampling, cast shadow, counts, errors, CLI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from stand_ins import RedBelowTen, write_geotiff
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.mapping.batch import map_scene
from glofwatch.mapping.relief import cast_shadow_at
from glofwatch.mapping.screen import Screen
from glofwatch.mapping.terrain import (
    NO_DEM,
    SHADOW_STEEP,
    STEEP,
    STEEP_HERE,
    Sun,
    TerrainRules,
    cast_shadow,
    slope_deg,
    steep_everywhere_near,
)

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)
H, W = 60, 80
GRID = GeoGrid(UTM, TRANSFORM, H, W)


def valley(tmp_path: Path, tags: dict | None = None) -> tuple[Path, Path]:
    """A flat valley floor (cols < 40, 3000 m) and a wall rising 10 m per 10 m pixel (45 deg) east of it,
    with a 10 x 10 px dark 'lake' on each: the floor one is kept, the wall one removed."""
    dem = np.full((H, W), 3000.0, np.float32)
    cols = np.arange(W)
    dem[:, cols >= 40] += 10.0 * (cols[cols >= 40] - 39)
    scene = np.full((4, H, W), 3000, np.uint16)
    scene[:, 20:30, 10:20] = 400  # on the floor, 1000 m2 = the minimum area
    scene[:, 20:30, 55:65] = 400  # on the wall
    return (write_geotiff(tmp_path / "scene.tif", scene, nodata=0, tags=tags, bands=("B02", "B03", "B04", "B08")),
            write_geotiff(tmp_path / "dem.tif", dem))


def test_slope_of_planes_with_known_gradient() -> None:
    ramp = np.add.outer(np.zeros(5), 10.0 * np.arange(6))  # rises 10 m per column
    assert np.allclose(slope_deg(ramp, 10.0, 10.0), 45.0)  # 10 m per 10 m pixel
    assert np.allclose(slope_deg(ramp, 20.0, 10.0), math.degrees(math.atan(0.5)))  # 10 m per 20 m pixel
    assert np.allclose(slope_deg(ramp.T, 10.0, 20.0), math.degrees(math.atan(0.5)))  # along rows
    assert np.allclose(slope_deg(np.full((4, 4), 5000.0), 10.0, 10.0), 0.0)
    both = np.add.outer(10.0 * np.arange(4), 10.0 * np.arange(4))  # dz/dx = dz/dy = 1: tan = sqrt(2)
    assert np.allclose(slope_deg(both, 10.0, 10.0), math.degrees(math.atan(math.sqrt(2))))


def test_slope_classes_of_a_strip_by_hand(tmp_path: Path) -> None:
    # columns 0-19 flat, 20-39 rising 1 m per 10 m pixel (5.7 deg), 40-79 rising 2.5 m (14 deg);
    # rows 50-59 without DEM data
    dem = np.full((H, W), 3000.0, np.float32)
    cols = np.arange(W, dtype=np.float32)
    dem += np.where(cols < 20, 0.0, np.where(cols < 40, cols - 19, 20 + 2.5 * (cols - 39)))[None, :]
    dem[50:] = -9999.0
    with TerrainRules(write_geotiff(tmp_path / "dem.tif", dem, nodata=-9999.0), GRID, max_slope=10.0) as rules:
        classes = rules.strip(0, H)
        assert classes.dtype == np.uint8 and classes.shape == (H, W)
        inner = classes[1:48]  # away from the DEM's edge rows and the hole
        assert (inner[:, 1:19] == 0).all()
        assert (inner[:, 21:39] == SHADOW_STEEP).all()
        assert (inner[:, 41:79] == STEEP | SHADOW_STEEP | STEEP_HERE).all()  # a 10 m DEM blurs nothing
        assert (classes[51:] == NO_DEM).all()  # no DEM: neither slope bit
        flat = rules.flat(0, H)
        assert flat[1:48, 21:39].all() and not flat[1:48, 41:79].any() and flat[51:].all()


def test_a_30_m_dem_keeps_the_shore_it_smears_and_still_drops_the_wall(tmp_path: Path) -> None:
    # 10 m ground: flat floor (cols < 40) and a 45 deg wall, averaged into 30 m cells on the scene's origin.
    # Cell 12 (cols 36-38) is 3000 m, cell 13 (39-41) 3010, cell 14 (42-44) 3040; bilinear back onto 10 m
    # gives z[37] = 3000, z[38] = 3003.3, z[39] = 3006.7, z[40] = 3010, z[41] = 3020, so central differences
    # make col 37 9.5 deg (shadow-steep), cols 38-40 18.4-33.7 deg (steep) and col 41 on 45 deg.
    cols = np.arange(W)
    ground = np.tile(3000.0 + 10.0 * np.clip(cols - 39, 0, None), (H, 1))
    dem30 = np.pad(ground, ((0, 0), (0, 1)), mode="edge").reshape(H // 3, 3, -1, 3).mean(axis=(1, 3))  # 81 cols
    t30 = Affine(30, 0, TRANSFORM.c, 0, -30, TRANSFORM.f)
    path = write_geotiff(tmp_path / "dem30.tif", dem30.astype(np.float32), t30)
    with TerrainRules(path, GRID, max_slope=10.0) as rules:
        assert rules.blur == 3  # one 30 m cell in 10 m pixels
        c = rules.strip(0, H)[30]
        assert (c[30:37] & (STEEP | STEEP_HERE)).max() == 0 and c[37] == 0  # 9.5 deg, but 36 is flat
        assert [int(v & STEEP_HERE) for v in c[37:42]] == [0, STEEP_HERE, STEEP_HERE, STEEP_HERE, STEEP_HERE]
        # steep only where all of the 7 columns around are: col 41 (38-44), not 38-40 (37 is in reach)
        assert [int(v & STEEP) for v in c[37:42]] == [0, 0, 0, 0, STEEP]
        assert int(c[40] & SHADOW_STEEP) and not int(c[39] & SHADOW_STEEP)  # 37-43 all over 5 deg; 36 is flat
        assert rules.flat(0, H)[30, 37] and not rules.flat(0, H)[30, 38:42].any()  # the screen: own slope
        mask = np.zeros((H, W), np.uint8)
        mask[10:50, 30:40] = 1  # a lake on the floor up to the wall
        mask[10:50, 50:70] = 1  # and one on the wall
        kept = mask.copy()
        removed, shade = rules.apply(0, kept)
    assert shade == 0 and kept[10:50, 30:40].all()  # the shore the 30 m cells smeared is kept
    assert removed == 40 * 20 and not kept[:, 50:70].any()  # the wall still goes
    # without the allowance the two floor columns next to the wall would go as well: their own slope is steep
    assert ((c[30:40] & STEEP_HERE) != 0).sum() == 2


def test_whole_dem_windows_warp_without_the_nodata_checks_and_equal_the_vrt(tmp_path: Path) -> None:
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    # a wavy geographic DEM of about 30 m (1 arcsec: GDAL's bilinear is a plain 2 x 2 kernel when it
    # upsamples) reaching 0.005 deg (~500 m) past the scene on every side
    left, bottom, right, top = transform_bounds(UTM, "EPSG:4326", *GRID.bounds)
    step, pad = 1 / 3600, 0.005
    t = Affine(step, 0, left - pad, 0, -step, top + pad)
    rows, cols = int((top - bottom + 2 * pad) / step) + 1, int((right - left + 2 * pad) / step) + 1
    yy, xx = np.mgrid[0:rows, 0:cols]
    z = (3000 + 40 * np.sin(xx / 3.0) + 25 * np.cos(yy / 2.0)).astype(np.float32)

    def both(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
        with TerrainRules(path, GRID) as rules:
            got = rules.read(0, H)
            plain = rules.tally.dem_rows_plain
            h = rules.halo
        assert h == 1 + 3  # no sun: the slope's halo and the 30 m DEM's blur
        with rasterio.open(path) as src, WarpedVRT(src, crs=UTM, transform=TRANSFORM @ Affine.translation(-h, -h),
                                                   width=W + 2 * h, height=H + 2 * h, resampling=Resampling.bilinear,
                                                   src_nodata=src.nodata, nodata=np.nan, dtype="float32") as vrt:
            want = vrt.read(1)
        return got, want, plain

    got, want, plain = both(write_geotiff(tmp_path / "whole.tif", z, t, "EPSG:4326", nodata=-32767.0))
    assert plain == H + 2 * 4  # every row the plain way
    assert np.isfinite(got).all() and np.abs(got - want).max() < 1e-3
    z[rows // 2, cols // 2] = -32767.0  # one void: the VRT's nodata-aware warp for the window that sees it
    got, want, plain = both(write_geotiff(tmp_path / "void.tif", z, t, "EPSG:4326", nodata=-32767.0))
    assert plain == 0 and np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got).any()
    assert np.nanmax(np.abs(got - want)) < 1e-3


def test_dem_cells_are_decoded_once_per_chunk_of_whole_block_rows(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rasterio.windows import Window

    from glofwatch.mapping.terrain import SourceChunks

    # a tiled DEM of 16 x 16 px blocks, 600 x 50 cells, each cell its own value
    z = np.arange(600 * 50, dtype=np.float32).reshape(600, 50)
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", height=600, width=50, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(1 / 3600, 0, 86.0, 0, -1 / 3600, 28.0), tiled=True, blockxsize=16,
                       blockysize=16) as ds:
        ds.write(z, 1)
    with rasterio.open(path) as src:
        reads: list[tuple[int, int, int, int]] = []

        class Counting:  # the source, counting what is decoded
            def __getattr__(self, name: str) -> object:
                return getattr(src, name)

            def read(self, band: int, window: Window, out_dtype: str) -> np.ndarray:
                reads.append((window.row_off, window.height, window.col_off, window.width))
                return src.read(band, window=window, out_dtype=out_dtype)

        # the scene's footprint (a stand-in VRT in the DEM's CRS) covers columns 10 .. 40 of the DEM
        left, top = src.transform @ (10, 0)
        right, bottom = src.transform @ (40, 600)
        chunks = SourceChunks(Counting(), SimpleNamespace(bounds=(left, bottom, right, top)), "EPSG:4326")
        assert chunks.rows == 256  # whole 16-row blocks, at least 256 rows
        assert (chunks.c0, chunks.c1) == (7, 43)  # the footprint and 3 cells either side
        for r0 in range(0, 580, 20):  # strips moving down, each window 30 rows: some cross a chunk's edge
            got = chunks.read(r0, r0 + 30, 8, 42)
            assert got is not None and np.array_equal(got, z[r0 : r0 + 30, 8:42])
        assert reads == [(0, 256, 7, 36), (256, 256, 7, 36), (512, 88, 7, 36)]  # each chunk once
        assert chunks.read(10, 20, 5, 30) is None  # left of the kept columns: the caller reads it
        assert chunks.read(590, 601, 8, 20) is None  # past the DEM's last row
        assert len(chunks._kept) == SourceChunks.kept
        got = chunks.read(0, 5, 8, 20)  # a chunk no longer kept is decoded again
        assert reads[-1] == (0, 256, 7, 36) and np.array_equal(got, z[0:5, 8:20])


def test_steep_everywhere_near_is_a_minimum_that_ignores_unknown_cells() -> None:
    rng = np.random.default_rng(3)
    classes = rng.choice(np.array([0, SHADOW_STEEP, STEEP | SHADOW_STEEP], np.uint8), size=(23, 31), p=[0.2, 0.2, 0.6])
    unknown = rng.random(classes.shape) < 0.15
    for r in (1, 2, 4):
        got = steep_everywhere_near(classes, unknown, r)
        assert got.shape == (23 - 2 * r, 31 - 2 * r)
        for i in range(got.shape[0]):
            for j in range(got.shape[1]):
                block = classes[i : i + 2 * r + 1, j : j + 2 * r + 1][~unknown[i : i + 2 * r + 1, j : j + 2 * r + 1]]
                want = 0 if unknown[i + r, j + r] else int(block.min())  # known pixels only; itself is known
                assert got[i, j] == want, (r, i, j)


def test_dem_in_another_crs_and_resolution_is_resampled_onto_the_scene_grid(tmp_path: Path) -> None:
    # 30 m UTM DEM of the plane z = 2000 + 0.3 * (x - 499000): bilinear keeps a plane exact
    t30 = Affine(30, 0, 499000, 0, -30, 3101000)
    x = 499000 + 30 * (np.arange(80) + 0.5)
    dem30 = np.tile(2000 + 0.3 * (x - 499000), (80, 1)).astype(np.float32)
    with TerrainRules(write_geotiff(tmp_path / "utm30.tif", dem30, t30), GRID) as rules:
        got = rules.read(0, H)[rules.halo : rules.halo + H, rules.halo : rules.halo + W]
    xs = 500000 + 10 * (np.arange(W) + 0.5)
    assert np.allclose(got, np.tile(2000 + 0.3 * (xs - 499000), (H, 1)), atol=1e-2)
    assert np.allclose(slope_deg(got, 10, 10), math.degrees(math.atan(0.3)), atol=1e-3)  # 16.70 deg

    # geographic DEM (0.0005 deg) rising 0.2 m per metre northwards: about atan(0.2) = 11.3 deg on the UTM grid
    left, bottom, right, top = transform_bounds(UTM, "EPSG:4326", *GRID.bounds)
    step = 0.0005
    tgeo = Affine(step, 0, left - 10 * step, 0, -step, top + 10 * step)
    rows = int((top - bottom) / step) + 20
    lat = (top + 10 * step) - step * (np.arange(rows) + 0.5)
    dem = np.tile((1000 + (lat - bottom) * 110_800 * 0.2)[:, None], (1, int((right - left) / step) + 20))
    with TerrainRules(write_geotiff(tmp_path / "geo.tif", dem.astype(np.float32), tgeo, "EPSG:4326"), GRID) as rules:
        got = rules.read(0, H)[rules.halo : rules.halo + H, rules.halo : rules.halo + W]
    assert np.isfinite(got).all()
    assert abs(float(np.median(slope_deg(got, 10, 10))) - math.degrees(math.atan(0.2))) < 0.3


def test_flat_floor_lake_is_kept_and_wall_lake_removed_with_counts(tmp_path: Path) -> None:
    scene, dem = valley(tmp_path)
    summary = map_scene(scene, RedBelowTen(), tmp_path / "out", tile=64, overlap=8, dem=dem)
    with rasterio.open(tmp_path / "out" / "mask.tif") as ds:
        mask = ds.read(1)
    assert mask[20:30, 10:20].all() and not mask[20:30, 55:65].any()
    assert summary.n_lakes == 1
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    t = saved["terrain"]
    assert t["slope_removed_px"] == 100 and t["shadow_removed_px"] == 0
    assert t["lakes_removed"] == 1 and t["lakes_removed_by"] == {"slope": 1, "shadow": 0}
    assert t["max_slope"] == 10.0 and t["dem"] == str(dem) and t["sun_zenith"] is None
    assert any("no sun angles" in n for n in saved["notes"])
    with rasterio.open(tmp_path / "out" / "probability.tif") as ds:
        assert (ds.read(1)[20:30, 55:65] > 0.5).all()  # the probability is kept


def test_cast_shadow_behind_a_ridge_for_a_low_sun_and_none_for_a_high_sun() -> None:
    dem = np.zeros((5, 80), np.float32)
    dem[:, 50:52] = 100.0  # a 100 m ridge; the sun in the east (azimuth 90, the right side)
    low = cast_shadow(dem, 10.0, 10.0, azimuth=90.0, elevation=20.0)
    # shadow length 100 / tan(20 deg) = 274.7 m: columns 23..49 ((50 - c) * 10 m < 274.7 m)
    assert np.array_equal(np.flatnonzero(low[2]), np.arange(23, 50))
    assert not cast_shadow(dem, 10.0, 10.0, azimuth=90.0, elevation=85.0).any()  # 8.7 m: under one pixel
    west = cast_shadow(dem, 10.0, 10.0, azimuth=270.0, elevation=20.0)  # sun in the west: shadow east
    assert np.array_equal(np.flatnonzero(west[2]), np.arange(52, 79))  # (c - 51) * 10 m < 274.7 m


def test_shadow_rule_drops_sloping_shadowed_lake_pixels_and_keeps_flat_ones(tmp_path: Path) -> None:
    dem = np.full((H, W), 3000.0, np.float32)
    dem[:, 60:62] = 3500.0  # a ridge east of everything
    dem[:, 30:40] += 1.2 * np.arange(10)  # a 7 deg ramp (1.2 m per 10 m) west of it, in its shadow
    path = write_geotiff(tmp_path / "dem.tif", dem)
    mask = np.zeros((H, W), np.uint8)
    mask[10:20, 5:15] = 1  # flat, in shadow: kept
    mask[10:20, 32:38] = 1  # 7 deg, in shadow: removed
    sun = Sun(zenith=70.0, azimuth=90.0)  # 20 deg elevation: the ridge shades 1.37 km, past column 0
    with TerrainRules(path, GRID, sun=sun) as rules:
        assert rules.apply(0, mask) == (0, 60)
    assert mask[10:20, 5:15].all() and not mask[10:20, 32:38].any()
    mask[10:20, 32:38] = 1
    with TerrainRules(path, GRID, sun=sun, shadow=False) as rules:
        assert rules.apply(0, mask) == (0, 0)


def test_sun_angles_from_tags_reach_the_summary(tmp_path: Path) -> None:
    scene, dem = valley(tmp_path, tags={"SUN_ZENITH": "40.5", "SUN_AZIMUTH": "150.25"})
    map_scene(scene, RedBelowTen(), tmp_path / "out", tile=64, overlap=8, dem=dem)
    t = json.loads((tmp_path / "out" / "summary.json").read_text())["terrain"]
    assert (t["sun_zenith"], t["sun_azimuth"], t["shadow"]) == (40.5, 150.25, True)


def test_bad_dems_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="DEM not found; give an SRTM") as e:
        TerrainRules(tmp_path / "missing.tif", GRID)
    assert "missing.tif" in str(e.value) and "\n" not in str(e.value)
    nocrs = write_geotiff(tmp_path / "nocrs.tif", np.zeros((H, W), np.float32), crs=None)
    with pytest.raises(InputError, match="nocrs.tif: the DEM has no CRS; set it"):
        TerrainRules(nocrs, GRID)
    far = write_geotiff(tmp_path / "far.tif", np.zeros((H, W), np.float32), Affine(10, 0, 700000, 0, -10, 3500000))
    with pytest.raises(InputError, match="far.tif: the DEM does not overlap the scene .*give a DEM that covers it"):
        TerrainRules(far, GRID)
    with pytest.raises(InputError, match="the scene has no CRS"):
        TerrainRules(far, GeoGrid(None, Affine.identity(), H, W))
    with pytest.raises(InputError, match="--max-slope 0"):
        TerrainRules(far, GRID, max_slope=0)


def test_cli_maps_with_a_dem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import glofwatch.infer.backends as backends
    import glofwatch.mapping.batch as batch
    import glofwatch.mapping.resume as resume

    scene, dem = valley(tmp_path)
    model = tmp_path / "model.pt"
    model.write_bytes(b"stand-in")
    monkeypatch.setattr(backends, "resolve_model", lambda m: None)
    monkeypatch.setattr(resume, "model_files", lambda m: [model])
    monkeypatch.setattr(batch, "cached_predictor", lambda *a, **k: RedBelowTen())
    runner = CliRunner()
    base = ["map", str(scene), "--model", str(model), "--out", str(tmp_path / "maps"), "--tile", "64",
            "--overlap", "8", "--no-progress"]
    res = runner.invoke(app, [*base, "--dem", str(dem), "--max-slope", "10", "--no-shadow"])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "maps" / "scene" / "summary.json").read_text())
    assert s["n_lakes"] == 1 and s["terrain"]["slope_removed_px"] == 100 and s["terrain"]["shadow"] is False
    assert s["terrain"]["lakes_removed"] == 1 and s["terrain"]["lakes_removed_by"] == {"slope": 1, "shadow": 0}
    # the lake probabilities kept while mapping give what the written probability GeoTIFF gives
    from glofwatch.lakes.vectorize import read_lakes, vectorize_raster

    out = tmp_path / "maps" / "scene"
    kept, again = read_lakes(out / "lakes.gpkg"), vectorize_raster(out / "mask.tif", out / "probability.tif")
    for col in ("mean_prob", "max_prob", "area_km2"):
        assert kept[col].tolist() == pytest.approx(again[col].tolist(), rel=1e-6), col
    assert s["resume"]["options"]["dem"] == str(dem.resolve())
    res = runner.invoke(app, [*base, "--dem", str(dem), "--max-slope", "50"])  # a changed option redoes the scene
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "maps" / "scene" / "summary.json").read_text())["n_lakes"] == 2
    res = runner.invoke(app, [*base, "--dem", str(tmp_path / "nope.tif"), "--overwrite"])
    assert res.exit_code == 2 and "nope.tif: DEM not found" in res.output


def rough_dem(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Smoothed noise with 2 km of relief, steep and flat parts, and a 2.5 km wall along the west edge."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    dem = gaussian_filter(rng.normal(size=shape), 4.0)
    dem = 3000.0 + 2000.0 * (dem - dem.min()) / (np.ptp(dem) + 1e-9)
    dem[:, :2] = 5500.0  # every strip's view holds it: the search reach is the full 5 km everywhere
    return dem.astype(np.float32)


@pytest.mark.parametrize("azimuth", [90.0, 150.0, 225.0, 330.0])
def test_cast_shadow_at_pixels_equals_the_whole_array_march(azimuth: float) -> None:
    dem = rough_dem((90, 110))
    dem[40:45, 50:55] = np.nan  # unknown ground never casts shadow and is never shaded
    whole = cast_shadow(dem, 10.0, 10.0, azimuth, 25.0)
    rows, cols = np.indices(dem.shape).reshape(2, -1)
    at = cast_shadow_at(dem, rows, cols, 10.0, 10.0, azimuth, 25.0).reshape(dem.shape)
    assert whole.any() and np.array_equal(at, whole)
    pick = np.random.default_rng(1).choice(rows.size, 300, replace=False)  # a few pixels: the same answers
    assert np.array_equal(cast_shadow_at(dem, rows[pick], cols[pick], 10.0, 10.0, azimuth, 25.0), whole.flat[pick])
    assert not cast_shadow_at(dem, rows[:0], cols[:0], 10.0, 10.0, azimuth, 25.0).size


@pytest.mark.parametrize("azimuth", [160.0, 20.0])  # the march goes down the rows, then up them
def test_strip_by_strip_rules_equal_the_rules_on_the_whole_mask_and_read_each_dem_row_once(
        tmp_path: Path, azimuth: float) -> None:
    h, w = 300, 120
    grid = GeoGrid(UTM, TRANSFORM, h, w)
    dem = write_geotiff(tmp_path / "dem.tif", rough_dem((h, w), seed=2))
    scene = np.full((4, h, w), 3000, np.uint16)
    scene[:, ::2, 3:] = 400  # lake-dark on every other row: many lake pixels, on every kind of ground
    path = write_geotiff(tmp_path / "scene.tif", scene, nodata=0, bands=("B02", "B03", "B04", "B08"),
                         tags={"SUN_ZENITH": "65", "SUN_AZIMUTH": str(azimuth)})
    map_scene(path, RedBelowTen(), tmp_path / "plain", tile=64, overlap=8, screen=Screen.off())
    # with the slope screen on, the reader thread asks for DEM rows a strip ahead of the writer
    map_scene(path, RedBelowTen(), tmp_path / "dem", tile=64, overlap=8, dem=dem, screen=Screen(ndwi_min=None))
    with rasterio.open(tmp_path / "plain" / "mask.tif") as ds:
        expected = ds.read(1)
    with TerrainRules(dem, grid, sun=Sun(65.0, azimuth)) as rules:  # the whole mask as one strip
        removed = rules.apply(0, expected)
    with rasterio.open(tmp_path / "dem" / "mask.tif") as ds:
        got = ds.read(1)
    assert removed[0] > 0 and removed[1] > 0
    assert np.array_equal(got, expected)
    saved = json.loads((tmp_path / "dem" / "summary.json").read_text())
    t, stages = saved["terrain"], saved["stage_seconds"]
    assert list(stages) == ["read_scene", "predict", "predict_network", "predict_wait_read", "predict_wait_write",
                            "polygons", "terrain_counts", "write_lakes"]
    top = [v for k, v in stages.items() if not k.startswith("predict_")]
    assert 0 < sum(top) <= saved["seconds"] + 0.01 and t["seconds"] > 0
    assert sum(v for k, v in stages.items() if k.startswith("predict_")) <= stages["predict"]
    # the process's CPU time over the same span: positive, and at most every CPU busy all the time
    assert 0 < saved["cpu_seconds"] <= saved["seconds"] * (os.cpu_count() or 1) + 0.05
    # tiles steep all over are screened out (never lake), so fewer pixels are left for the slope rule
    assert t["shadow_removed_px"] == removed[1] and 0 < t["slope_removed_px"] <= removed[0]
    assert t["dem_rows_reread"] == 0
    assert h < t["dem_rows_read"] <= h + 2 * (1 + 501)  # each row once (with the rows the march looks past)


def test_slope_next_to_an_unknown_edge_is_one_sided_like_at_the_array_edge() -> None:
    from glofwatch.mapping.relief import slope_tan2

    z = rough_dem((30, 40), seed=3)
    padded = np.pad(z, 1, constant_values=np.nan)  # a window with its halo off the DEM
    padded[0, 5:9] = z[0, 5:9] + 3.0  # part of the halo row is known: used where it is
    got = slope_tan2(padded, 10.0, 10.0)
    ref = padded.copy()
    ref[0, 5:9] = np.nan
    assert np.isnan(got[0, 0]) and np.isnan(got[-1, 3]) and np.isfinite(got[0, 6])
    assert np.allclose(got[1:-1, 1:-1][1:], slope_tan2(z, 10.0, 10.0)[1:], rtol=1e-5)  # rows 1+: one-sided at edges
    # the general (NaN-aware) path gives the same numbers: an unknown cell inside forces it
    probe = padded.copy()
    probe[15, 20] = np.nan
    slow = slope_tan2(probe, 10.0, 10.0)
    inside = np.ones_like(slow, dtype=bool)  # the cells a halo serves: all but the halo itself
    inside[[0, -1], :] = inside[:, [0, -1]] = False
    inside[14:17, 19:22] = False
    assert np.allclose(got[inside], slow[inside], rtol=1e-5)
    assert np.allclose(slope_deg(padded, 10.0, 10.0)[inside], slope_deg(probe, 10.0, 10.0)[inside], rtol=1e-5)


def test_slope_inside_a_halo_equals_the_cropped_full_slope() -> None:
    from glofwatch.mapping.relief import slope_tan2, slope_tan2_inside

    z = np.pad(rough_dem((30, 40), seed=4), 1, constant_values=np.nan)
    assert np.allclose(slope_tan2_inside(z, 10.0, 20.0), slope_tan2(z, 10.0, 20.0)[1:-1, 1:-1], rtol=1e-5)
    z[10, 10] = np.nan  # a void inside: the NaN-aware path, the same answers
    assert np.allclose(slope_tan2_inside(z, 10.0, 20.0), slope_tan2(z, 10.0, 20.0)[1:-1, 1:-1], rtol=1e-5,
                       equal_nan=True)

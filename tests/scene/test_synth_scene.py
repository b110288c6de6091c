"""Synthetic georeferenced scenes: grid, nodata, band files, truth rasters and polygons, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.errors import ConfigError, InputError
from glofwatch.scene.synth import (
    BANDS,
    SceneFiles,
    write_scene_band_files,
    write_synthetic_scene,
)
from glofwatch.scene.synth.materials import WATER_KIND_NAMES
from glofwatch.scene.synth.scene import swath_edge

SIZE = 256
BORDER = 40


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SceneFiles:
    return write_synthetic_scene(tmp_path_factory.mktemp("scene"), size=SIZE, seed=4, nodata_border_px=BORDER)


def test_scene_grid_bands_and_profile(scene: SceneFiles) -> None:
    assert scene.scene == scene.out_dir / "scene.tif" and scene.bands == {}
    with rasterio.open(scene.scene) as ds:
        assert ds.crs.to_epsg() == 32645
        assert tuple(ds.transform)[:6] == (10.0, 0.0, 440000.0, 0.0, -10.0, 3100000.0)
        assert (ds.width, ds.height, ds.count) == (SIZE, SIZE, 4)
        assert ds.dtypes == ("uint16",) * 4
        assert ds.nodata == 0
        assert ds.descriptions == BANDS == ("B02", "B03", "B04", "B08")
        assert ds.block_shapes[0] == (256, 256)  # one 256x256 tile (GDAL calls a single tile "not tiled")
        assert ds.compression.value.lower() == "deflate"
        data = ds.read()
    wedge = swath_edge((SIZE, SIZE), BORDER)
    assert wedge[0, : BORDER - 1].all() and not wedge[0, BORDER + 4 :].any()  # 40 px in at the top
    assert wedge[-1, : BORDER // 3].all() and not wedge[-1, BORDER // 2 :].any()  # a third at the bottom
    assert (data[:, wedge] == 0).all()
    assert (data[:, ~wedge] > 0).all()  # valid pixels never read as nodata
    refl = data[:, ~wedge] / 10000.0
    assert 0.005 < float(np.median(refl)) < 0.9


def test_truth_mask_and_dem(scene: SceneFiles) -> None:
    with rasterio.open(scene.scene) as ds:
        scene_transform = ds.transform
    with rasterio.open(scene.lakes_mask) as ds:
        assert ds.nodata == 255 and ds.dtypes == ("uint8",) and ds.crs.to_epsg() == 32645
        assert ds.transform == scene_transform
        mask = ds.read(1)
    wedge = swath_edge((SIZE, SIZE), BORDER)
    assert (mask[wedge] == 255).all()
    assert set(np.unique(mask[~wedge]).tolist()) == {0, 1}
    with rasterio.open(scene.dem) as ds:
        dem = ds.read(1)
        assert ds.dtypes == ("float32",)
    assert 3000.0 <= dem.min() < dem.max() <= 7000.0
    # lakes lie flat: the DEM is one level under each lake
    import geopandas as gpd
    from rasterio import features

    lakes = gpd.read_file(scene.lakes_truth)
    with rasterio.open(scene.dem) as ds:
        transform = ds.transform
    ids = features.rasterize(zip(lakes.geometry, lakes.lake_id, strict=True), out_shape=mask.shape, transform=transform)
    for lake_id in lakes.lake_id:
        levels = dem[ids == lake_id]
        assert levels.size and float(levels.max() - levels.min()) < 1e-3


def test_lake_polygons_match_mask(scene: SceneFiles) -> None:
    import geopandas as gpd

    lakes = gpd.read_file(scene.lakes_truth)
    with rasterio.open(scene.lakes_mask) as ds:
        lake_px = int((ds.read(1) == 1).sum())
    assert lake_px > 0 and len(lakes) == scene.lake_count > 0
    assert lakes.crs.to_epsg() == 32645
    assert list(lakes.columns[:3]) == ["lake_id", "area_km2", "pixels"]
    assert lakes.lake_id.is_unique
    assert set(lakes.kind) <= set(WATER_KIND_NAMES)
    expected_km2 = lake_px * 100.0 / 1e6
    assert lakes.area_km2.sum() == pytest.approx(expected_km2, rel=0.01)
    assert lakes.geometry.area.sum() / 1e6 == pytest.approx(expected_km2, rel=0.01)
    assert np.allclose(lakes.area_km2, lakes.pixels * 100.0 / 1e6, rtol=1e-12)
    glaciers = gpd.read_file(scene.glaciers)
    assert list(glaciers.columns[:2]) == ["glacier_id", "area_km2"] and glaciers.crs.to_epsg() == 32645
    assert len(glaciers) == scene.glacier_count
    assert (glaciers.area_km2 > 0).all()


def test_band_files_and_split(scene: SceneFiles, tmp_path: Path) -> None:
    split = write_scene_band_files(scene.scene, tmp_path / "split")
    assert list(split) == list(BANDS)
    with rasterio.open(scene.scene) as src:
        stack = src.read()
    for b, name in enumerate(BANDS):
        with rasterio.open(split[name]) as ds:
            assert ds.count == 1 and ds.descriptions == (name,) and ds.nodata == 0
            assert np.array_equal(ds.read(1), stack[b])
    with pytest.raises(InputError, match=r"missing.tif: file not found"):
        write_scene_band_files(tmp_path / "missing.tif", tmp_path)


def test_cli_scene_bands_as_files_is_deterministic(scene: SceneFiles, tmp_path: Path) -> None:
    out = tmp_path / "cli_scene"
    args = ["data", "synth", str(out), "--scene", "--size", str(SIZE), "--seed", "4", "--bands-as-files"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "lakes_truth.gpkg" in result.output
    assert not (out / "scene.tif").exists()
    # default nodata border is size // 8 = 32 px, the fixture used 40: compare where both are valid
    with rasterio.open(scene.scene) as src:
        stack = src.read()
    valid = ~swath_edge((SIZE, SIZE), BORDER)
    for b, name in enumerate(BANDS):
        with rasterio.open(out / f"{name}.tif") as ds:
            assert ds.descriptions == (name,) and ds.crs.to_epsg() == 32645
            assert np.array_equal(ds.read(1)[valid], stack[b][valid])
    for name in ("lakes_mask.tif", "dem.tif", "glaciers.gpkg", "lakes_truth.gpkg"):
        assert (out / name).is_file()


def test_cli_scene_multiband_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "s"), "--scene", "--size", "64"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "scene.tif").is_file()
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "t"), "--scene", "--size", "32"])
    assert result.exit_code == 2
    assert "error: synthetic scene: size=32 is too small; use at least 64 pixels" in result.output
    with pytest.raises(ConfigError, match=r"nodata_border_px=64 must be in 0..63"):
        write_synthetic_scene(tmp_path / "u", size=64, nodata_border_px=64)

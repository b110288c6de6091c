"""`--dem FOLDER`: the DEM tiles a scene overlaps, mosaicked in a VRT (mapping.dem_tiles)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds
from stand_ins import RedBelowTen, write_geotiff

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.mapping.batch import map_scene
from glofwatch.mapping.dem_tiles import mosaic_vrt, open_dem_folder
from glofwatch.mapping.terrain import TerrainRules

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)
H, W = 60, 80
GRID = GeoGrid(UTM, TRANSFORM, H, W)
STEP = 0.0005  # degrees


def geographic_dem() -> tuple[np.ndarray, Affine]:
    """A DEM in EPSG:4326 covering the scene with 10 cells to spare, rising 0.2 m per metre north and
    0.05 m per metre east, as one array and its transform."""
    left, bottom, right, top = transform_bounds(UTM, "EPSG:4326", *GRID.bounds)
    t = Affine(STEP, 0, left - 10 * STEP, 0, -STEP, top + 10 * STEP)
    rows, cols = int((top - bottom) / STEP) + 20, int((right - left) / STEP) + 20
    yy, xx = np.mgrid[0:rows, 0:cols]
    return (1000 + 0.2 * 110_800 * STEP * (rows - yy) + 0.05 * 98_000 * STEP * xx).astype(np.float32), t


def split(z: np.ndarray, t: Affine, folder: Path, nodata: float | None = None) -> list[Path]:
    """``z`` as 2 x 2 tiles in ``folder`` (named like GLO-30 tiles), each on the one grid."""
    folder.mkdir(parents=True, exist_ok=True)
    r, c = z.shape[0] // 2, z.shape[1] // 3
    paths = []
    for i, (r0, r1) in enumerate(((0, r), (r, z.shape[0]))):
        for j, (c0, c1) in enumerate(((0, c), (c, z.shape[1]))):
            tile = t @ Affine.translation(c0, r0)
            paths.append(write_geotiff(folder / f"Copernicus_DSM_{i}{j}_DEM.tif", z[r0:r1, c0:c1], tile,
                                       "EPSG:4326", nodata=nodata))
    return paths


def test_a_folder_of_tiles_reads_like_the_dem_they_were_cut_from(tmp_path: Path) -> None:
    z, t = geographic_dem()
    whole = write_geotiff(tmp_path / "whole.tif", z, t, "EPSG:4326")
    split(z, t, tmp_path / "tiles")
    # a tile far away and a file that is no raster: left out / not a tile
    write_geotiff(tmp_path / "tiles" / "far.tif", z[:5, :5], Affine(STEP, 0, 10.0, 0, -STEP, 50.0), "EPSG:4326")
    (tmp_path / "tiles" / "README.txt").write_text("GLO-30 tiles of the region")
    with TerrainRules(whole, GRID) as one, TerrainRules(tmp_path / "tiles", GRID) as folder:
        assert np.array_equal(one.read(0, H), folder.read(0, H), equal_nan=True)
        assert np.isfinite(folder.read(0, H)[folder.halo : -folder.halo, folder.halo : -folder.halo]).all()
        assert sorted(p.name for p in folder.tiles) == [f"Copernicus_DSM_{i}{j}_DEM.tif" for i in "01" for j in "01"]
        assert folder.tally.summary()["dem_tiles"] == [p.name for p in folder.tiles]
        assert one.tally.summary()["dem_tiles"] is None


def test_a_tile_s_nodata_does_not_hide_the_tile_under_it(tmp_path: Path) -> None:
    a = np.full((4, 6), 100.0, np.float32)
    b = np.full((4, 6), 200.0, np.float32)
    b[:, :2] = -32767.0  # b's first two columns overlap a's last two and have no data
    ta = Affine(1, 0, 0, 0, -1, 4)
    tb = Affine(1, 0, 4, 0, -1, 4)
    tiles = tmp_path / "t"
    tiles.mkdir()
    write_geotiff(tiles / "a.tif", a, ta, "EPSG:4326", nodata=-32767.0)
    write_geotiff(tiles / "b.tif", b, tb, "EPSG:4326", nodata=-32767.0)
    src, memfile, used = open_dem_folder(tiles, "EPSG:4326", (0.0, 0.0, 10.0, 4.0))
    with memfile, src:
        assert (src.width, src.height) == (10, 4) and src.transform == ta and src.nodata == -32767.0
        row = src.read(1)[0]
    assert row.tolist() == [100.0] * 6 + [200.0] * 4 and [p.name for p in used] == ["a.tif", "b.tif"]


def test_dem_folders_that_cannot_be_one_dem_are_one_line_errors(tmp_path: Path) -> None:
    z, t = geographic_dem()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no DEM tiles \(.tif, .tiff, .vrt, .hgt, .dt2\) in this folder"):
        TerrainRules(tmp_path / "empty", GRID)
    far = tmp_path / "far"
    far.mkdir()
    write_geotiff(far / "n50.tif", z, Affine(STEP, 0, 10.0, 0, -STEP, 50.0), "EPSG:4326")
    with pytest.raises(InputError, match="far: none of its 1 DEM tiles overlaps the scene scene; add the tiles"):
        TerrainRules(far, GRID)
    mixed = tmp_path / "mixed"
    paths = split(z, t, mixed)
    with rasterio.open(paths[1]) as src:
        left, bottom, right, top = src.bounds
    utm_left, utm_bottom, _, _ = transform_bounds("EPSG:4326", UTM, left, bottom, right, top)
    paths[1].unlink()
    write_geotiff(paths[1], z[:10, :10], Affine(30, 0, utm_left, 0, -30, utm_bottom + 150), UTM)  # on the scene
    with pytest.raises(InputError, match="Copernicus_DSM_01_DEM.tif: CRS EPSG:32645 differs from .*give DEM tiles "
                                         "in one CRS"):
        TerrainRules(mixed, GRID)
    coarse = tmp_path / "coarse"
    paths = split(z, t, coarse)
    paths[3].unlink()
    write_geotiff(paths[3], z[::2, ::2], t @ Affine.translation(z.shape[1] // 3, z.shape[0] // 2) @ Affine.scale(2),
                  "EPSG:4326")
    with pytest.raises(InputError, match=r"Copernicus_DSM_11_DEM.tif: pixel size 0.001 x 0.001 differs from "):
        TerrainRules(coarse, GRID)
    shifted = tmp_path / "shifted"
    paths = split(z, t, shifted)
    paths[2].unlink()
    write_geotiff(paths[2], z[: z.shape[0] // 2], t @ Affine.translation(0.3, z.shape[0] // 2), "EPSG:4326")
    with pytest.raises(InputError, match=r"Copernicus_DSM_10_DEM.tif: its corner lies off the grid of the other "
                                         r"tiles in .* by \(0.300, 0.000\) px"):
        TerrainRules(shifted, GRID)


def test_map_with_a_dem_folder_records_the_tiles_it_used(tmp_path: Path) -> None:
    # the valley of test_terrain: a flat floor and a 45 deg wall east of it, in two tiles on the scene's grid
    dem = np.full((H, W), 3000.0, np.float32)
    cols = np.arange(W)
    dem[:, cols >= 40] += 10.0 * (cols[cols >= 40] - 39)
    tiles = tmp_path / "dem"
    tiles.mkdir()
    write_geotiff(tiles / "west.tif", dem[:, :40], TRANSFORM)
    write_geotiff(tiles / "east.tif", dem[:, 40:], TRANSFORM @ Affine.translation(40, 0))
    scene = np.full((4, H, W), 3000, np.uint16)
    scene[:, 20:30, 10:20] = 400  # on the floor
    scene[:, 20:30, 55:65] = 400  # on the wall
    path = write_geotiff(tmp_path / "scene.tif", scene, nodata=0, bands=("B02", "B03", "B04", "B08"))
    summary = map_scene(path, RedBelowTen(), tmp_path / "out", tile=64, overlap=8, dem=tiles)
    assert summary.n_lakes == 1
    t = json.loads((tmp_path / "out" / "summary.json").read_text())["terrain"]
    assert t["dem"] == str(tiles) and t["dem_tiles"] == ["east.tif", "west.tif"]
    assert t["slope_removed_px"] == 100 and t["lakes_removed"] == 1


def test_the_vrt_names_every_tile_by_its_absolute_path(tmp_path: Path) -> None:
    z, t = geographic_dem()
    paths = split(z, t, tmp_path / "tiles", nodata=-32767.0)
    from glofwatch.mapping.dem_tiles import _tiles

    xml = mosaic_vrt(_tiles(tmp_path / "tiles"), tmp_path / "tiles")
    assert xml.count("<ComplexSource>") == 4 and xml.count("<NODATA>-32767.0</NODATA>") == 4
    assert all(f'relativeToVRT="0">{p.resolve()}</SourceFilename>' in xml for p in paths)

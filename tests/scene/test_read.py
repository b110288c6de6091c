"""read_scene: band order, folders of band files, lazy windows, nodata, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

from glofwatch.errors import InputError
from glofwatch.scene.read import band_name, read_scene

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)


def write_tif(path: Path, data: np.ndarray, crs: str | None = UTM, descriptions=None, nodata=0,
              transform: Affine = TRANSFORM, colorinterp=None) -> Path:
    """Write (C, H, W) ``data`` as a GeoTIFF."""
    c, h, w = data.shape
    prof = dict(driver="GTiff", height=h, width=w, count=c, dtype=data.dtype.name, transform=transform, nodata=nodata)
    if crs is not None:
        prof["crs"] = crs
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
        if colorinterp:
            ds.colorinterp = colorinterp
    return path


def bands_data(h: int = 40, w: int = 50, n: int = 4) -> np.ndarray:
    """Band k holds 1000*(k+1) + row so every band and row is recognisable."""
    rows = np.arange(h, dtype=np.uint16)[:, None] * np.ones((1, w), np.uint16)
    return np.stack([rows + 1000 * (k + 1) for k in range(n)]).astype(np.uint16)


def test_band_name_parsing() -> None:
    assert band_name("B4") == "B04"
    assert band_name("B04 (red)") == "B04"
    assert band_name("T45RUL_20200101T045211_B08_10m") == "B08"
    assert band_name("B8A") == "B8A"
    assert band_name("red") is None
    assert band_name("B042") is None


def test_descriptions_give_band_order_and_windows_read_by_name(tmp_path: Path) -> None:
    data = bands_data()
    path = write_tif(tmp_path / "S2B_MSIL2A_20210915T050659_x.tif", data, descriptions=["B04", "B02", "B08", "B03"])
    scene = read_scene(path)
    assert scene.bands == ("B04", "B02", "B08", "B03")
    assert scene.kind == "dn" and scene.dtype == "uint16" and scene.date == "2021-09-15"
    assert scene.grid.crs == UTM and scene.grid.transform == TRANSFORM and scene.shape == (40, 50)
    win = scene.read_window(5, 7, 3, 4, ("B02", "B03", "B04"))
    assert win.shape == (3, 3, 4) and win.dtype == np.uint16
    # B02 is file band 2 (2000 + row), B03 band 4, B04 band 1
    assert win[:, 0, 0].tolist() == [2005, 4005, 1005]
    assert win[0, :, 0].tolist() == [2005, 2006, 2007]


def test_default_order_without_descriptions(tmp_path: Path) -> None:
    scene = read_scene(write_tif(tmp_path / "plain.tif", bands_data()))
    assert scene.bands == ("B02", "B03", "B04", "B08")
    rgb = np.full((3, 40, 40), 7, np.uint8)
    tci = write_tif(tmp_path / "tci.tif", rgb, colorinterp=[ColorInterp.red, ColorInterp.green, ColorInterp.blue])
    scene = read_scene(tci)
    assert scene.bands == ("B04", "B03", "B02") and scene.kind == "rgb8"
    assert read_scene(tci, band_order=["B08", "B4", "B03"]).bands == ("B08", "B04", "B03")


def test_folder_of_band_files_including_safe_names(tmp_path: Path) -> None:
    data = bands_data()
    folder = tmp_path / "S2A_MSIL2A_20200101T045211_N0213.SAFE" / "GRANULE" / "L2A_T45" / "IMG_DATA"
    folder.mkdir(parents=True)
    for k, b in enumerate(["B02", "B03", "B04", "B08"]):
        write_tif(folder / f"T45RUL_20200101T045211_{b}_10m.tif", data[k : k + 1])
    write_tif(folder / "T45RUL_20200101T045211_TCI_10m.tif", data[:1])  # not a band: ignored
    scene = read_scene(tmp_path / "S2A_MSIL2A_20200101T045211_N0213.SAFE")
    assert scene.name == "S2A_MSIL2A_20200101T045211_N0213"
    assert scene.bands == ("B02", "B03", "B04", "B08") and scene.date == "2020-01-01"
    np.testing.assert_array_equal(scene.read_window(0, 0, 40, 50, ("B08", "B02")), data[[3, 0]])

    simple = tmp_path / "simple"
    simple.mkdir()
    for k, b in enumerate(["B02", "B03", "B04"]):
        write_tif(simple / f"{b}.tif", data[k : k + 1])
    assert read_scene(simple).bands == ("B02", "B03", "B04")


def test_valid_mask_nodata_and_nan(tmp_path: Path) -> None:
    data = bands_data()
    data[:, 0, 0] = 0  # nodata in every band
    data[2, 1, 1] = 0  # nodata in one band is nodata too (L2A reserves DN 0)
    scene = read_scene(write_tif(tmp_path / "s.tif", data))
    valid = scene.valid_mask(scene.read_window(0, 0, 40, 50))
    assert not valid[0, 0] and not valid[1, 1] and valid.sum() == 40 * 50 - 2

    f = data.astype(np.float32)
    f[1, 3, 3] = np.nan
    fscene = read_scene(write_tif(tmp_path / "f.tif", f, nodata=None))
    fvalid = fscene.valid_mask(fscene.read_window(0, 0, 40, 50))
    assert not fvalid[3, 3] and fvalid[0, 0]  # float scenes without a nodata value: NaN only


def test_overview_is_decimated(tmp_path: Path) -> None:
    scene = read_scene(write_tif(tmp_path / "s.tif", bands_data(80, 100)))
    ov = scene.overview(max_side=25)
    assert ov.shape == (4, 20, 25)


def test_missing_crs_is_an_error(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "nocrs.tif", bands_data(), crs=None)
    with pytest.raises(InputError, match=r"nocrs\.tif: raster has no CRS; assign one first"):
        read_scene(path)


def test_unsupported_dtype_is_an_error(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "c.tif", bands_data().astype(np.complex64), nodata=None)
    with pytest.raises(InputError, match=r"c\.tif: pixel type complex64 is not supported; convert to uint16"):
        read_scene(path)


def test_wrong_band_count_and_missing_bands(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "s.tif", bands_data(n=3))
    with pytest.raises(InputError, match=r"--bands names 4 bands \(B02, B03, B04, B08\) but the file has 3"):
        read_scene(path, band_order=("B02", "B03", "B04", "B08"))
    scene = read_scene(path)
    with pytest.raises(InputError, match=r"needs bands B08, B04, B03 but the scene has B02, B03, B04 \(missing B08\)"):
        scene.require_bands(("B08", "B04", "B03"))
    bad = write_tif(tmp_path / "five.tif", bands_data(n=5))
    with pytest.raises(InputError, match=r"5 bands without band descriptions; set descriptions"):
        read_scene(bad)
    odd = write_tif(tmp_path / "odd.tif", bands_data(n=3), descriptions=["B02", "cloud", "B04"])
    with pytest.raises(InputError, match=r"band descriptions .* do not all name Sentinel-2 bands \(e\.g\. 'cloud'\)"):
        read_scene(odd)


def test_band_files_on_different_grids_are_refused(tmp_path: Path) -> None:
    data = bands_data()
    write_tif(tmp_path / "B02.tif", data[:1])
    write_tif(tmp_path / "B03.tif", data[1:2, :20, :25], transform=Affine(20, 0, 500000, 0, -20, 3100000))
    with pytest.raises(InputError, match=r"B03\.tif: band grid \(20x25, 20 m\) differs from B02\.tif \(40x50, 10 m\)"):
        read_scene(tmp_path)


def test_scene_smaller_than_minimum_is_refused(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "thin.tif", bands_data(20, 300))
    with pytest.raises(InputError, match=r"thin\.tif: scene is 20x300 px; glofwatch maps scenes of at least 32x32"):
        read_scene(path)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.tif: scene not found"):
        read_scene(tmp_path / "nope.tif")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no band files found; name single-band files B02\.tif"):
        read_scene(tmp_path / "empty")

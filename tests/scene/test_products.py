"""Real L2A products: BOA offset from MTD_MSIL2A.xml, STAC raster:bands and tags; SCL on the band grid; DN 0 nodata."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from glofwatch.errors import InputError
from glofwatch.scene.products import ProductInfo, baseline_from_name, resolve_offset
from glofwatch.scene.read import read_scene
from glofwatch.scene.synth import write_synthetic_scene

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)


def test_offset_order_override_product_baseline_date_default() -> None:
    bands = ("B04", "B03", "B02")
    info = ProductInfo(offsets={"B02": -1000.0, "B03": -1000.0, "B04": -1000.0}, offset_from="MTD_MSIL2A.xml",
                       baseline="05.09")
    assert resolve_offset(info, bands, override=0.0).offset == 0.0  # --dn-offset wins
    assert (resolve_offset(info, bands).offset, resolve_offset(info, bands).source) == (-1000.0, "MTD_MSIL2A.xml")
    only_baseline = resolve_offset(ProductInfo(baseline="04.00"), bands)
    assert (only_baseline.offset, only_baseline.note) == (-1000.0, None)
    assert resolve_offset(ProductInfo(baseline="03.01"), bands).offset == 0.0
    after = resolve_offset(ProductInfo(date=dt.date(2022, 1, 25)), bands, what="x.tif")
    assert after.offset == -1000.0 and after.source == "acquisition date"
    assert after.note.startswith("x.tif: no BOA offset or processing baseline recorded; "
                                 "the acquisition date 2022-01-25")
    before = resolve_offset(ProductInfo(date=dt.date(2022, 1, 24)), bands)
    assert before.offset == 0.0 and "before 2022-01-25" in before.note
    unknown = resolve_offset(None, bands)
    assert unknown.offset == 0.0 and unknown.source == "default" and "--dn-offset -1000" in unknown.note
    mixed = ProductInfo(offsets={"B02": -1000.0, "B04": 0.0}, offset_from="STAC raster:bands")
    with pytest.raises(InputError, match="different BOA offsets per band .*pass --dn-offset"):
        resolve_offset(mixed, bands)
    assert baseline_from_name("S2B_MSIL2A_20231005T045709_N0509_R119_T45RUL_20231005T073545.SAFE") == "05.09"


def test_safe_product_offset_scl_at_20m_and_dn0_nodata(tmp_path: Path) -> None:
    files = write_synthetic_scene(tmp_path, size=96, seed=3, safe=True, cloud_cover=0.3, nodata_border_px=20)
    assert files.safe.name == "S2B_MSIL2A_20231005T045709_N0509_R119_T45RUL_20231005T073545.SAFE"
    mtd = (files.safe / "MTD_MSIL2A.xml").read_text()
    assert "<PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>" in mtd and 'band_id="12">-1000<' in mtd
    scene = read_scene(files.safe)
    assert scene.name == files.safe.name.removesuffix(".SAFE") and scene.date == "2023-10-05"
    assert scene.bands == ("B02", "B03", "B04", "B08") and scene.bands == tuple(files.bands)
    choice = scene.dn_offset(scene.bands)
    assert (choice.offset, choice.source, choice.note) == (-1000.0, "MTD_MSIL2A.xml", None)
    # the JPEG 2000 band files declare no nodata: L2A's DN 0 is nodata all the same
    with rasterio.open(files.bands["B02"]) as ds:
        assert ds.nodata is None and ds.driver == "JP2OpenJPEG"
    assert scene.nodata == 0 and scene.nodata_from == "L2A convention (DN 0)"
    data = scene.read_window(0, 0, 96, 96)
    assert (data[:, 0, 0] == 0).all() and not scene.valid_mask(data)[0, 0]
    assert scene.valid_mask(data).sum() == np.count_nonzero(np.all(data > 0, axis=0))
    # stored DN = reflectance * 10000 + 1000: nothing darker than the offset
    assert data[data > 0].min() >= 1001
    # the 20 m SCL, read on the 10 m grid: each 10 m pixel gets the class of its 20 m pixel
    with rasterio.open(files.scl) as ds:
        assert ds.res == (20.0, 20.0) and ds.shape == (48, 48)
        scl20 = ds.read(1)
    np.testing.assert_array_equal(scene.read_scl(0, 0, 96, 96), np.repeat(np.repeat(scl20, 2, 0), 2, 1))
    np.testing.assert_array_equal(scene.read_scl(10, 30, 7, 9), np.repeat(np.repeat(scl20, 2, 0), 2, 1)[10:17, 30:39])
    assert {0, 3, 9}.issubset(set(np.unique(scl20)))  # nodata wedge, cloud shadow, opaque cloud


def test_pre_2022_baseline_has_no_offset(tmp_path: Path) -> None:
    files = write_synthetic_scene(tmp_path, size=64, seed=1, safe=True, processing_baseline="03.01",
                                  date=dt.date(2021, 9, 15))
    assert "BOA_ADD_OFFSET" not in (files.safe / "MTD_MSIL2A.xml").read_text()
    scene = read_scene(files.safe)
    choice = scene.dn_offset(scene.bands)
    assert (choice.offset, choice.source) == (0.0, "processing baseline 03.01")


def test_geotiff_records_offset_in_band_scale_and_tags(tmp_path: Path) -> None:
    files = write_synthetic_scene(tmp_path, size=64, seed=2, processing_baseline="05.10", scl=True,
                                  date=dt.date(2024, 5, 1))
    with rasterio.open(files.scene) as ds:
        assert ds.descriptions == ("B02", "B03", "B04", "B08", "SCL")
        assert ds.scales[:4] == (1e-4,) * 4 and ds.offsets[:4] == pytest.approx((-0.1,) * 4)
        assert ds.tags()["BOA_ADD_OFFSET"] == "-1000" and ds.tags()["PROCESSING_BASELINE"] == "05.10"
    scene = read_scene(files.scene)
    assert scene.bands == ("B02", "B03", "B04", "B08") and scene.scl.index == 5 and scene.date == "2024-05-01"
    assert scene.dn_offset(scene.bands).offset == -1000.0
    assert scene.dn_offset(scene.bands).source == "scene.tif band offset/scale"


def _band(path: Path, value: int, nodata=None) -> Path:
    data = np.full((1, 40, 40), value, np.uint16)
    data[0, :5, :5] = 0
    with rasterio.open(path, "w", driver="GTiff", height=40, width=40, count=1, dtype="uint16", crs=UTM,
                       transform=TRANSFORM, nodata=nodata) as ds:
        ds.write(data)
    return path


def test_stac_item_with_raster_bands_offset(tmp_path: Path) -> None:
    for name, value in (("blue", 1500), ("green", 1600), ("red", 1700), ("nir", 2500)):
        _band(tmp_path / f"{name}.tif", value)
    raster = [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1}]
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "S2B_45RUL_20231005_0_L2A",
        "geometry": None, "properties": {"datetime": "2023-10-05T04:57:09Z", "s2:processing_baseline": "05.09"},
        "links": [],
        "assets": {
            **{k: {"href": f"{k}.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                   "raster:bands": raster} for k in ("blue", "green", "red", "nir")},
            "thumbnail": {"href": "thumb.jpg", "type": "image/jpeg"},
        },
    }  # fmt: skip
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    scene = read_scene(path)
    assert scene.bands == ("B02", "B03", "B04", "B08") and scene.date == "2023-10-05" and scene.scl is None
    assert scene.sources["B04"].path == str(tmp_path / "red.tif")
    choice = scene.dn_offset(scene.bands)
    assert (choice.offset, choice.source) == (-1000.0, "STAC raster:bands")
    win = scene.read_window(0, 0, 40, 40)
    assert win[:, 10, 10].tolist() == [1500, 1600, 1700, 2500]
    assert not scene.valid_mask(win)[0, 0]  # no nodata tag on the files: DN 0 is nodata
    # Earth Search items already harmonised say so: their offset is 0 whatever the baseline
    item["properties"]["earthsearch:boa_offset_applied"] = True
    path.write_text(json.dumps(item))
    assert read_scene(path).dn_offset(("B04",)).offset == 0.0
    # Planetary Computer names its assets B02 ... and records only the baseline
    pc = {**item, "properties": {"datetime": "2023-10-05T04:57:09Z", "s2:processing_baseline": "04.00"},
          "assets": {b: {"href": f"{k}.tif"} for b, k in (("B02", "blue"), ("B03", "green"), ("B04", "red"),
                                                          ("B08", "nir"))}}
    path.write_text(json.dumps(pc))
    got = read_scene(path).dn_offset(("B04",))
    assert (got.offset, got.source) == (-1000.0, "processing baseline 04.00")
    path.write_text(json.dumps({**item, "assets": {"visual": {"href": "red.tif"}}}))
    with pytest.raises(InputError, match="has no asset for B02, B03, B04 or B08"):
        read_scene(path)


def test_folder_scl_file_and_with_scl(tmp_path: Path) -> None:
    files = write_synthetic_scene(tmp_path / "bands", size=64, seed=5, bands_as_files=True, scl=True)
    (tmp_path / "bands" / "lakes_mask.tif").unlink()
    (tmp_path / "bands" / "dem.tif").unlink()
    scene = read_scene(tmp_path / "bands")
    assert scene.bands == ("B02", "B03", "B04", "B08") and Path(scene.scl.path) == files.scl
    with pytest.raises(InputError, match="SCL file not found"):
        scene.with_scl(tmp_path / "nope.tif")
    plain = write_synthetic_scene(tmp_path / "plain", size=64, seed=5)
    other = read_scene(plain.scene).with_scl(files.scl)
    np.testing.assert_array_equal(other.read_scl(0, 0, 64, 64), scene.read_scl(0, 0, 64, 64))


def test_sun_angles_from_mtd_granule_stac_and_tags(tmp_path: Path) -> None:
    from glofwatch.scene.products import product_info_from_mtd, product_info_from_stac, product_info_from_tags

    sun = ("<Tile_Angles><Mean_Sun_Angle><ZENITH_ANGLE unit='deg'>35.25</ZENITH_ANGLE>"
           "<AZIMUTH_ANGLE unit='deg'>151.5</AZIMUTH_ANGLE></Mean_Sun_Angle></Tile_Angles>")
    (tmp_path / "MTD_MSIL2A.xml").write_text(f"<root><PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>{sun}</root>")
    info = product_info_from_mtd(tmp_path / "MTD_MSIL2A.xml")
    assert (info.sun_zenith, info.sun_azimuth, info.sun_from) == (35.25, 151.5, "MTD_MSIL2A.xml Mean_Sun_Angle")
    safe = tmp_path / "P.SAFE"
    (safe / "GRANULE" / "L2A_T45").mkdir(parents=True)
    (safe / "MTD_MSIL2A.xml").write_text("<root><PROCESSING_BASELINE>05.09</PROCESSING_BASELINE></root>")
    tile = f"<n1:Level-2A_Tile_ID xmlns:n1='x'>{sun}</n1:Level-2A_Tile_ID>"
    (safe / "GRANULE" / "L2A_T45" / "MTD_TL.xml").write_text(tile)
    granule = product_info_from_mtd(safe / "MTD_MSIL2A.xml")
    assert (granule.sun_zenith, granule.sun_from) == (35.25, "MTD_TL.xml Mean_Sun_Angle")
    item = {"properties": {"view:sun_elevation": 50.0, "view:sun_azimuth": 140.0}, "assets": {}}
    stac = product_info_from_stac(item, {})
    assert (stac.sun_zenith, stac.sun_azimuth) == (40.0, 140.0)
    tags = product_info_from_tags({"SUN_ZENITH": "30", "SUN_AZIMUTH": "120"}, (), (), ())
    assert (tags.sun_zenith, tags.sun_azimuth) == (30.0, 120.0)
    assert ProductInfo().merge(tags).sun_zenith == 30.0 and product_info_from_tags({}, (), (), ()).sun_zenith is None

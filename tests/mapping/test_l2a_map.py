"""Mapping real L2A products right: the product's BOA offset, SCL "not observed", DN 0 nodata, the resume hash."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from stand_ins import RedBelowTen

from glofwatch.mapping.batch import MapOptions, is_complete, map_scene
from glofwatch.mapping.resume import file_sha256, resume_key

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)  # on the central meridian of UTM 45N: scale 0.9996
K0 = 0.9996
N = 120


def l2a_scene(path: Path, tags: bool = True) -> Path:
    """Baseline-05.09-style DN (reflectance * 10000 + 1000) with an SCL band, no nodata tag.

    Background reflectance 0.3 (DN 4000); lakes of reflectance 0.04 (DN 1400): A rows 20:40 x cols 20:40,
    B rows 60:100 x cols 60:100; SCL cloud (9) on rows 55:105 x cols 55:80 (over B's west half), SCL
    water (6) on the lakes except rows 20:30 of A (dark area, 2), snow (11) on rows 0:10 x cols 110:120,
    DN 0 (nodata) on rows 0:10 x cols 0:10.
    """
    dn = np.full((4, N, N), 4000, np.uint16)
    dn[:, 20:40, 20:40] = 1400
    dn[:, 60:100, 60:100] = 1400
    dn[:, :10, :10] = 0
    scl = np.full((N, N), 5, np.uint16)
    scl[20:40, 20:40] = 6
    scl[20:30, 20:40] = 2
    scl[60:100, 60:100] = 6
    scl[55:105, 55:80] = 9
    scl[:10, 110:] = 11
    scl[:10, :10] = 0
    with rasterio.open(path, "w", driver="GTiff", height=N, width=N, count=5, dtype="uint16", crs=UTM,
                       transform=TRANSFORM) as ds:
        ds.write(dn, [1, 2, 3, 4])
        ds.write(scl, 5)
        for i, name in enumerate(("B02", "B03", "B04", "B08", "SCL"), start=1):
            ds.set_band_description(i, name)
        if tags:
            ds.scales = (1e-4,) * 4 + (1.0,)
            ds.offsets = (-0.1,) * 4 + (0.0,)
            ds.update_tags(PROCESSING_BASELINE="05.09")
    return path


def test_offset_from_the_product_scl_not_observed_and_cross_check(tmp_path: Path) -> None:
    summary = map_scene(l2a_scene(tmp_path / "s2.tif"), RedBelowTen(), tmp_path / "out", tile=64, overlap=16)
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (doc["dn_offset"], doc["dn_offset_from"], doc["processing_baseline"]) == \
        (-1000.0, "s2.tif band offset/scale", "05.09")
    assert doc["notes"] == [] and "DN offset -1000" in doc["input"]
    # no nodata tag: DN 0 is nodata (L2A), never mapped nor counted
    assert doc["nodata_from"] == "L2A convention (DN 0)"
    assert summary.valid_fraction == pytest.approx((N * N - 100) / (N * N))
    with rasterio.open(tmp_path / "out" / "mask.tif") as ds:
        mask = ds.read(1)
    assert (mask[:10, :10] == 255).all()
    assert (mask[55:105, 55:80] == 2).all() and np.count_nonzero(mask == 2) == 50 * 25  # the documented third value
    assert (mask[20:40, 20:40] == 1).all() and (mask[60:100, 80:100] == 1).all()
    assert summary.lake_pixels == 400 + 800  # B's clouded half is not lake
    scl = doc["scl"]
    valid = N * N - 100
    assert doc["not_observed_fraction"] == pytest.approx(1250 / valid)
    assert scl["cloud_fraction"] == pytest.approx(1250 / valid, abs=1e-6) and scl["cloud_shadow_fraction"] == 0.0
    assert scl["snow_fraction"] == pytest.approx(100 / valid, abs=1e-6)
    # cross-check: of the 1200 lake pixels, the SCL calls 1000 water (A's rows 20:30 are "dark area")
    assert scl["lake_pixels_scl_water_share"] == pytest.approx(1000 / 1200, abs=1e-6)
    assert scl["lake_pixels_by_class"] == {"dark area": 200, "water": 1000}
    lakes = gpd.read_file(tmp_path / "out" / "lakes.gpkg").sort_values("lake_id")
    assert lakes["area_km2"].tolist() == pytest.approx([0.04 / K0**2, 0.08 / K0**2], rel=1e-3)
    # B's ring of 3 px: rows 57..102 x cols 77..102 minus the lake = 396 px, 46 x 3 of them under cloud
    assert lakes["unobserved_fraction"].tolist() == pytest.approx([0.0, 138 / 396])


def test_dn_offset_override_and_ignoring_the_scl(tmp_path: Path) -> None:
    scene = l2a_scene(tmp_path / "s2.tif")
    plain = map_scene(scene, RedBelowTen(), tmp_path / "zero", tile=64, overlap=16, dn_offset=0.0)
    assert plain.n_lakes == 0 and plain.dn_offset_from == "--dn-offset"  # 0.14 without the offset: not lake
    noscl = map_scene(scene, RedBelowTen(), tmp_path / "noscl", tile=64, overlap=16, use_scl=False)
    assert noscl.scl is None and noscl.lake_pixels == 400 + 1600
    with rasterio.open(tmp_path / "noscl" / "mask.tif") as ds:
        assert 2 not in ds.read(1)


def test_offset_implied_by_the_date_says_so(tmp_path: Path) -> None:
    scene = l2a_scene(tmp_path / "S2A_MSIL2A_20230920T050701_x.tif", tags=False)
    summary = map_scene(scene, RedBelowTen(), tmp_path / "out", tile=64, overlap=16)
    assert (summary.dn_offset, summary.dn_offset_from) == (-1000.0, "acquisition date")
    assert len(summary.notes) == 1
    assert "the acquisition date 2023-09-20 implies baseline 04.00 or later" in summary.notes[0]
    assert summary.n_lakes == 2


def test_resume_key_changes_with_model_bytes_and_options(tmp_path: Path) -> None:
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"model A")
    b.write_bytes(b"model B")
    import hashlib

    assert file_sha256(a) == hashlib.sha256(b"model A").hexdigest()
    base = resume_key(a, MapOptions())
    assert base == resume_key(a, MapOptions(threads=3, overwrite=True))  # neither changes the outputs
    assert base["hash"] != resume_key(b, MapOptions())["hash"]
    assert base["hash"] != resume_key(a, MapOptions(min_area_m2=2000))["hash"]
    assert base["hash"] != resume_key(a, MapOptions(dn_offset=-1000.0))["hash"]
    assert base["model_sha256"] == {"a.onnx": file_sha256(a)} and base["options"]["tile"] == 512
    out = tmp_path / "scene"
    map_scene(l2a_scene(tmp_path / "s2.tif"), RedBelowTen(), out, tile=64, overlap=16, resume=base)
    assert is_complete(out) and is_complete(out, base["hash"])
    assert not is_complete(out, resume_key(b, MapOptions())["hash"])

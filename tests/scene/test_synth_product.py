"""Synthetic scenes with real products' traits: the +1000 DN offset and an SCL of the cloud, shadow and snow drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from glofwatch.scene.synth import write_synthetic_scene
from glofwatch.scene.synth.product import l2a_dn


def test_l2a_dn_adds_the_offset_and_keeps_nodata() -> None:
    refl = np.array([0.0, 0.0001, 0.05, 1.2], np.float32)
    assert l2a_dn(refl).tolist() == [0, 1, 500, 12000]
    assert l2a_dn(refl, -1000.0).tolist() == [0, 1001, 1500, 13000]


def test_scl_draws_clouds_shadows_snow_water_and_nodata(tmp_path: Path) -> None:
    clear = write_synthetic_scene(tmp_path / "clear", size=128, seed=11, scl=True, nodata_border_px=16)
    cloudy = write_synthetic_scene(tmp_path / "cloudy", size=128, seed=11, scl=True, cloud_cover=0.4,
                                   processing_baseline="05.09", nodata_border_px=16)
    with rasterio.open(clear.scene) as ds:
        dn0, scl0 = ds.read([1, 2, 3, 4]), ds.read(5)
    with rasterio.open(cloudy.scene) as ds:
        dn1, scl1 = ds.read([1, 2, 3, 4]), ds.read(5)
    with rasterio.open(cloudy.lakes_mask) as ds:
        truth = ds.read(1)
    with rasterio.open(clear.lakes_mask) as ds:
        truth0 = ds.read(1)
    # nodata wedge: SCL 0 exactly where the truth says nodata, and DN 0 there
    assert ((scl1 == 0) == (truth == 255)).all() and (dn1[:, truth == 255] == 0).all()
    # a clear sky has no cloud, shadow or cirrus class; the cloudy one has all three
    assert not np.isin(scl0, (3, 8, 9, 10)).any()
    assert all((scl1 == k).any() for k in (3, 8, 9, 10))
    # visible lakes are water unless cloud shadow or thin cloud lies on them; opaque cloud hides lakes
    assert set(np.unique(scl1[truth == 1])) <= {3, 6, 10}
    assert set(np.unique(scl0[truth0 == 1])) == {6}
    assert (truth[np.isin(scl1, (8, 9))] != 1).all()
    assert (scl0 == 11).any()  # snow and bare glacier ice
    # clouds are drawn last: away from cloud and its shadow the ground is the same, +1000 DN (a few pixels
    # there still lie under haze or shadow too faint for the SCL)
    untouched = (scl1 != 0) & np.isin(scl1, (2, 4, 5, 6, 7, 11)) & (scl0 == scl1)
    assert untouched.mean() > 0.2
    same = np.all(dn1[:, untouched].astype(int) == dn0[:, untouched].astype(int) + 1000, axis=0)
    assert same.mean() > 0.95

"""``unobserved_fraction``: the share of a lake's surrounding ring that is cloud, nodata or off the raster."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from glofwatch.geo import GeoGrid
from glofwatch.lakes.vectorize import vectorize_mask

GRID = GeoGrid("EPSG:32645", Affine(10, 0, 500000, 0, -10, 3100000), 60, 60, 255)


def test_ring_shares_by_hand() -> None:
    m = np.zeros((60, 60), np.uint8)
    m[10:20, 10:20] = 1  # A: open ground all round -> 0
    m[10:20, 30:40] = 1  # B: cloud (2) on its east side, columns 40..59
    m[:, 40:] = 2
    m[0:8, 52:60] = 1  # C: in the cloud's corner, touching the top and right edges (its pixels stay lake)
    m[45:55, 10:20] = 1  # D: nodata (255) below row 55, another lake (E) on its west
    m[55:, :] = 255
    m[45:55, 5:8] = 1  # E: 3 px wide, 2 px from D: E's pixels in D's ring are observed water
    lakes = vectorize_mask(m, GRID, min_area_m2=100, ring_px=3)
    got = dict(zip(lakes["lake_id"], lakes["unobserved_fraction"], strict=True))
    # lake_id in raster order: C (row 0) 1, A 2, B 3, E (row 45, col 5) 4, D 5.
    # A 3 px ring around a 10 x 10 lake has 16 x 16 - 100 = 156 px.
    expected = {
        1: 1.0,  # C: its ring in the raster is all cloud, the rest (75 of 132 px) is off the raster
        2: 0.0,  # A: open ground all round
        3: 16 * 3 / 156,  # B: columns 40..42 of rows 7..22 are cloud
        4: 9 * 3 / (16 * 9 - 30),  # E: rows 55..57 of columns 2..10 are nodata; D's pixels next to it are observed
        5: 16 * 3 / 156,  # D: rows 55..57 of columns 7..22 are nodata; E's pixels in column 7 are observed water
    }
    assert len(lakes) == 5
    assert {int(k): v for k, v in got.items()} == pytest.approx(expected)


def test_bool_mask_corner_lake_and_no_ring() -> None:
    m = np.zeros((60, 60), bool)
    m[0:10, 0:10] = True  # in the corner: 156 ring px, of which rows/cols 0..12 minus the lake (69) are in the raster
    lakes = vectorize_mask(m, GRID, min_area_m2=100)
    assert lakes["unobserved_fraction"].iloc[0] == pytest.approx((156 - 69) / 156)
    assert vectorize_mask(m, GRID, min_area_m2=100, ring_px=0)["unobserved_fraction"].iloc[0] == 0.0

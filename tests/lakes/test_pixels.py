"""Lakes numbered from their pixels alone: the same lakes, numbers and boxes as labelling the raster."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from glofwatch.connectivity import label_lakes, label_pixels
from glofwatch.lakes.pixels import LakePixels


def test_label_pixels_numbers_like_label_lakes_on_random_masks() -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.uniform(0.05, 0.9)
        labels, n = label_lakes(mask)
        at = np.flatnonzero(mask)
        lake, m = label_pixels(at, w)
        assert m == n
        np.testing.assert_array_equal(lake, labels.reshape(-1)[at])


def test_pixels_at_row_ends_do_not_join_the_next_row() -> None:
    # (0, 2) and (1, 0) are neighbours in flat order (2, 3) but not in the raster
    m = np.array([[0, 0, 1], [1, 0, 0]], dtype=bool)
    lake, n = label_pixels(np.flatnonzero(m), 3)
    assert n == 2 and lake.tolist() == [1, 2]
    lake, n = label_pixels(np.array([2, 5]), 3)  # (0, 2) over (1, 2): one lake
    assert n == 1 and lake.tolist() == [1, 1]


def test_label_pixels_refuses_unsorted_or_repeated_indices() -> None:
    with pytest.raises(ValueError, match="ascending, each once"):
        label_pixels(np.array([4, 2]), 5)
    with pytest.raises(ValueError, match="ascending, each once"):
        label_pixels(np.array([2, 2]), 5)
    assert label_pixels(np.zeros(0, np.int64), 5)[1] == 0


def test_groups_hold_each_lakes_pixels_and_the_boxes_find_objects_finds() -> None:
    rng = np.random.default_rng(4)
    mask = (rng.random((60, 80)) < 0.45).astype(np.uint8)
    mask[rng.random((60, 80)) < 0.1] = 2  # not observed is not lake
    labels, n = label_lakes(mask == 1)
    px = LakePixels.of(mask)
    assert px.n == n
    np.testing.assert_array_equal(px.sizes(), np.bincount(labels.reshape(-1), minlength=n + 1) * (np.arange(n + 1) > 0))
    keep = np.flatnonzero(px.sizes() >= 3)
    keep = keep[keep > 0]
    groups = px.groups(keep)
    objects = ndimage.find_objects(labels)
    assert len(groups) == keep.size
    for i, k in enumerate(keep):
        rows, cols = objects[k - 1]
        box = (groups.r0[i], groups.r1[i], groups.c0[i], groups.c1[i])
        assert box == (rows.start, rows.stop, cols.start, cols.stop)
        one, (r0, c0) = groups.raster(i, pad=2)
        assert (r0, c0) == (rows.start - 2, cols.start - 2)
        np.testing.assert_array_equal(one[2:-2, 2:-2], labels[rows, cols] == k)
        assert not one[:2].any() and not one[-2:].any()


def test_rows_slice_and_refused_groups() -> None:
    m = np.zeros((6, 4), np.uint8)
    m[1, 1] = m[3, 0] = m[3, 1] = m[5, 3] = 1
    px = LakePixels.of(m)
    assert px.at[px.rows_slice(2, 4)].tolist() == [12, 13]
    assert px.rows_slice(0, 1) == slice(0, 0)
    with pytest.raises(ValueError, match="lake numbers 1..3"):
        px.groups(np.array([2, 1]))
    with pytest.raises(ValueError, match="lake numbers 1..3"):
        px.groups(np.array([4]))
    assert len(px.groups(np.zeros(0, np.int64))) == 0

"""read_image / read_mask / valid_mask on tiny files."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from glof_data_helpers import crop_image, square_mask, write_png
from rasterio.transform import from_origin

from glofwatch.data.io import IMAGE_SUFFIXES, read_image, read_mask, valid_mask
from glofwatch.errors import InputError


@pytest.fixture(autouse=True)
def _quiet_affine_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        yield


def write_tiff(path: Path, bands: np.ndarray, nodata: float | None = None) -> Path:
    """Write a (C, H, W) array as a UTM GeoTIFF."""
    count, height, width = bands.shape
    with rasterio.open(
        path, "w", driver="GTiff", height=height, width=width, count=count, dtype=bands.dtype,
        crs="EPSG:32645", transform=from_origin(500000, 3100000, 10, 10), nodata=nodata,
    ) as dst:
        dst.write(bands)
    return path


def test_suffixes() -> None:
    assert IMAGE_SUFFIXES == (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def test_read_rgb_png_keeps_values(tmp_path: Path) -> None:
    arr = crop_image(0)
    image = read_image(write_png(tmp_path / "a.png", arr))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, arr)


def test_grayscale_png_refused_unless_allowed(tmp_path: Path) -> None:
    path = write_png(tmp_path / "gray.png", np.full((8, 8), 7, np.uint8))
    with pytest.raises(InputError,
                       match=r"gray\.png: image has 1 channel \(grayscale\) .*re-export it as RGB or remove it"):
        read_image(path)
    image = read_image(path, allow_gray=True)
    assert image.shape == (8, 8, 1) and int(image[0, 0, 0]) == 7


def test_rgba_drops_alpha_and_marks_transparent_pixels_nodata(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = 255
    rgba[0, :, 3] = 0  # first row transparent
    image = read_image(write_png(tmp_path / "rgba.png", rgba))
    assert image.shape == (4, 4, 3)
    assert (image[0] == 0).all() and (image[1:] == 90).all()
    assert valid_mask(image).sum() == 12


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(InputError, match=r"bad\.png: cannot be read .*corrupt or truncated, re-export it or remove it"):
        read_image(bad)
    with pytest.raises(InputError, match=r"bad\.png: cannot be read"):
        read_mask(bad)
    with pytest.raises(InputError, match=r"nope\.png: file not found"):
        read_image(tmp_path / "nope.png")
    other = tmp_path / "x.bmp"
    other.write_bytes(b"BM")
    with pytest.raises(InputError, match=r"unsupported file type '\.bmp'"):
        read_image(other)


def test_tiff_uint16_bands_to_hwc(tmp_path: Path) -> None:
    bands = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6) * 100
    image = read_image(write_tiff(tmp_path / "s2.tif", bands))
    assert image.shape == (5, 6, 4) and image.dtype == np.uint16
    np.testing.assert_array_equal(image[..., 2], bands[2])


def test_tiff_float_nodata_becomes_nan_and_invalid(tmp_path: Path) -> None:
    bands = np.full((3, 4, 4), 0.25, np.float32)
    bands[:, 0, 0] = -9999.0
    image = read_image(write_tiff(tmp_path / "f.tif", bands, nodata=-9999.0))
    assert image.dtype == np.float32
    assert np.isnan(image[0, 0]).all() and image[1, 1, 0] == pytest.approx(0.25)
    valid = valid_mask(image)
    assert not valid[0, 0] and valid.sum() == 15


def test_tiff_alpha_band_dropped_and_transparent_pixels_nodata(tmp_path: Path) -> None:
    bands = np.full((4, 3, 3), 80, np.uint8)
    bands[3] = 255
    bands[3, 1, 1] = 0  # transparent centre
    path = tmp_path / "rgba.tif"
    with rasterio.open(path, "w", driver="GTiff", height=3, width=3, count=4, dtype="uint8", photometric="rgb",
                       alpha="yes", crs="EPSG:32645", transform=from_origin(0, 0, 10, 10)) as dst:
        dst.write(bands)
    image = read_image(path)
    assert image.shape == (3, 3, 3)
    assert (image[1, 1] == 0).all() and image[0, 0, 0] == 80 and valid_mask(image).sum() == 8


def test_masks_0_255_and_0_1_and_empty(tmp_path: Path) -> None:
    m255 = read_mask(write_png(tmp_path / "a.png", square_mask(value=255)))
    m1 = read_mask(write_png(tmp_path / "b.png", square_mask(value=1)))
    empty = read_mask(write_png(tmp_path / "c.png", np.zeros((32, 32), np.uint8)))
    assert m255.dtype == np.uint8 and set(np.unique(m255)) == {0, 1}
    np.testing.assert_array_equal(m255, m1)
    assert m255.sum() == 64 and empty.sum() == 0


def test_rgb_mask_with_equal_channels_accepted(tmp_path: Path) -> None:
    rgb = np.repeat(square_mask()[..., None], 3, axis=2)
    assert read_mask(write_png(tmp_path / "rgb.png", rgb)).sum() == 64
    rgb[0, 0] = (255, 0, 0)
    with pytest.raises(InputError, match=r"rgb2\.png: mask has different values in its colour channels"):
        read_mask(write_png(tmp_path / "rgb2.png", rgb))


def test_non_binary_mask_message(tmp_path: Path) -> None:
    mask = square_mask()
    mask[0, 0], mask[0, 1] = 3, 17
    mask[4:12, 4:12] = 1  # lake as 1
    path = write_png(tmp_path / "m.png", mask)
    expected = (
        f"{path}: mask has values [0, 1, 3, 17] but a binary mask holds only 0/1 or 0/255; "
        f"re-export it as 0 = background, 255 = lake"
    )
    with pytest.raises(InputError, match=re.escape(expected)):
        read_mask(path)
    soft = write_png(tmp_path / "soft.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    with pytest.raises(InputError, match=re.escape("mask has values [0, 1, 2, 3, 4, 5, ...]")):
        read_mask(soft)
    mixed = write_png(tmp_path / "mixed.png", np.array([[0, 1, 255]], np.uint8))
    with pytest.raises(InputError, match=re.escape("[0, 1, 255]")):
        read_mask(mixed)


def test_valid_mask_black_wedge() -> None:
    image = np.full((6, 6, 3), 50, np.uint8)
    wedge = np.tri(6, 6, -3, dtype=bool)  # lower-left triangle below the 3rd sub-diagonal
    image[wedge] = 0
    image[0, 5] = (0, 0, 9)  # one zero channel is still data
    valid = valid_mask(image)
    np.testing.assert_array_equal(valid, ~wedge)
    assert valid.sum() == 36 - 6

"""build_augmentation: kinds, alignment of image and mask, dtypes, no-data, seeding."""

from __future__ import annotations

import random

import albumentations as A
import cv2
import numpy as np
import pytest
from glof_data_helpers import crop_image, square_mask

from glofwatch.data.augment import (
    Haze,
    ScaledPhotometric,
    build_augmentation,
    build_eval_transform,
    list_augmentations,
)
from glofwatch.errors import ConfigError

MAGENTA = np.array([255, 0, 255], np.uint8)


def _seed(transform: A.Compose, seed: int) -> None:
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


def _painted() -> tuple[np.ndarray, np.ndarray]:
    image = crop_image(0, size=40)
    mask = np.zeros((40, 40), np.uint8)
    mask[3:12, 5:30] = 1
    mask[25:37, 30:36] = 1
    image[mask > 0] = MAGENTA
    return image, mask


def test_kinds_and_unknown_kind() -> None:
    assert list_augmentations() == ["none", "robust", "study"]
    assert build_augmentation("none") is None
    assert build_eval_transform(256) is None
    with pytest.raises(ConfigError, match=r"unknown augmentation 'studdy'; did you mean 'study'"):
        build_augmentation("studdy")
    with pytest.raises(ConfigError, match="not a positive number of pixels"):
        build_augmentation("study", size=0)


@pytest.mark.parametrize("size", [24, 48])
def test_none_with_size_crops_or_pads(size: int) -> None:
    image, mask = _painted()
    out = build_augmentation("none", size=size)(image=image, mask=mask, masks=[np.ones_like(mask)])
    assert out["image"].shape == (size, size, 3) and out["mask"].shape == (size, size)
    assert out["masks"][0].sum() == min(size, 40) ** 2  # padding is not valid data


def test_geometric_transforms_keep_image_and_mask_aligned() -> None:
    """Flips, rot90, Affine scale and crop of the study pipeline, image interpolation set to nearest."""
    geometric = [t for t in build_augmentation("study", size=32).transforms if not isinstance(t, ScaledPhotometric)]
    for t in geometric:
        if isinstance(t, A.Affine):
            t.interpolation = cv2.INTER_NEAREST
            t.p = 1.0
    aug = A.Compose(geometric, mask_interpolation=cv2.INTER_NEAREST)
    image, mask = _painted()
    changed = 0
    for seed in range(20):
        _seed(aug, seed)
        out = aug(image=image, mask=mask)
        magenta = (out["image"] == MAGENTA).all(axis=-1)
        np.testing.assert_array_equal(out["mask"].astype(bool), magenta)
        changed += not np.array_equal(out["mask"], mask[:32, :32])
    assert changed >= 15


@pytest.mark.parametrize("kind", ["study", "robust"])
def test_full_pipelines_keep_masks_binary_and_lakes_mostly_aligned(kind: str) -> None:
    image, mask = _painted()
    rng = np.random.default_rng(3)
    background = np.stack(
        [rng.integers(20, 120, (40, 40)), rng.integers(150, 200, (40, 40)), rng.integers(20, 120, (40, 40))], -1
    ).astype(np.uint8)  # greenish, far from magenta
    image = np.where(mask[..., None] > 0, image, background)
    aug = build_augmentation(kind, size=32)
    checked = 0
    for seed in range(10):
        _seed(aug, seed)
        out = aug(image=image, mask=mask, masks=[np.ones_like(mask)])
        assert set(np.unique(out["mask"])) <= {0, 1}
        assert set(np.unique(out["masks"][0])) <= {0, 1}
        # lakes are the only pink-ish pixels (red and blue high, green low) after photometric changes
        img = out["image"].astype(int)
        pink = (img[..., 0] - img[..., 1] > 60) & (img[..., 2] - img[..., 1] > 60)
        grey = np.abs(img - img.mean(axis=-1, keepdims=True)).mean() < 15  # ToGray (+ noise) fired
        if out["mask"].sum() and not grey:
            agreement = (pink == out["mask"].astype(bool)).mean()
            assert agreement > 0.95, (seed, agreement)
            checked += 1
    assert checked >= 5


def test_flip_decisions_are_independent_under_shared_state() -> None:
    aug = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)], save_applied_params=True)
    same = 0
    for seed in range(40):
        _seed(aug, seed)
        names = [name for name, _ in aug(image=np.zeros((4, 4, 3), np.uint8))["applied_transforms"]]
        same += ("HorizontalFlip" in names) == ("VerticalFlip" in names)
    assert 8 < same < 32


@pytest.mark.parametrize("dtype, top", [(np.uint16, 5000), (np.float32, 5000.0), (np.float32, 1.0)])
def test_photometric_keeps_raw_range_and_nodata(dtype: type, top: float) -> None:
    rng = np.random.default_rng(0)
    image = (rng.uniform(0.2, 1.0, size=(32, 32, 3)) * top).astype(dtype)
    image[:4] = 0  # no-data rows
    aug = build_augmentation("robust")
    for seed in range(5):
        _seed(aug, seed)
        out = aug(image=image, mask=square_mask())["image"]
        assert out.dtype == image.dtype and np.isfinite(out).all()
        assert out.max() > 0.5 * top and out.max() <= top * 1.0001
        data_rows = ~(out == 0).all(axis=-1).all(axis=-1)
        assert data_rows.sum() >= 16  # no-data stays 0, data stays data (geometry may move the rows)


def test_haze_blend_by_hand() -> None:
    haze = Haze(strength_range=(0.5, 0.5), veil_range=(1.0, 1.0), p=1.0)
    out = haze(image=np.full((2, 2, 3), 100, np.uint8))["image"]
    assert (out == 178).all()  # 0.5 * 100 + 0.5 * 255 = 177.5
    out = haze(image=np.full((2, 2, 3), 0.2, np.float32))["image"]
    np.testing.assert_allclose(out, 0.6)


def test_colour_transforms_skip_four_band_images() -> None:
    image = (np.random.default_rng(1).uniform(100, 3000, size=(32, 32, 4))).astype(np.uint16)
    aug = build_augmentation("robust", size=16)
    _seed(aug, 0)
    assert aug(image=image, mask=square_mask())["image"].shape == (16, 16, 4)

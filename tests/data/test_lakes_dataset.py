"""GlacialLakesDataset: layouts, pairing, item contents, errors, seeded augmentation."""

from __future__ import annotations

import re
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch
from glof_data_helpers import crop_image, square_mask, write_png
from PIL import Image
from torch.utils.data import DataLoader, Subset

from glofwatch.data.augment import build_augmentation
from glofwatch.data.dataset import (
    GlacialLakesDataset,
    detect_layout,
    item_seed,
    natural_key,
)
from glofwatch.data.sampler import EpochSeededSampler
from glofwatch.errors import InputError


def test_generic_layout_items(generic_root: Path) -> None:
    ds = GlacialLakesDataset(generic_root, split="all")
    assert ds.layout == "generic" and len(ds) == 3
    assert ds.ids == ["img_1", "img_2", "img_10"]  # natural order
    assert [p.name for p in ds.mask_paths] == ["img_1.png", "img_2.png", "img_10.png"]
    item = ds[0]
    assert item["id"] == "img_1" and item["path"] == str(generic_root / "images" / "img_1.png")
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 32, 32)
    # img_1 was written third (index 2 in the helper): crop_image(2), lake square rows 4..11, cols 3..10
    expected = torch.from_numpy(crop_image(2)).permute(2, 0, 1).float()
    assert torch.equal(item["image"], expected)
    assert item["mask"].dtype == torch.int64 and item["mask"].sum() == 64
    assert item["mask"][4:12, 3:11].all() and item["mask"][3].sum() == 0
    assert item["valid"].dtype == torch.bool and item["valid"].all()
    # any split name maps to the single folder
    assert GlacialLakesDataset(generic_root, split="train").ids == ds.ids


def test_study_layout_splits(study_root: Path) -> None:
    assert detect_layout(study_root) == "study"
    train = GlacialLakesDataset(study_root, split="train")
    test = GlacialLakesDataset(study_root, split="test")
    assert train.ids == ["img_0001", "img_0002", "img_0003"] and len(test) == 2
    assert train.mask_paths[0] == study_root / "train" / "labels" / "img_0001.png"
    assert train[2]["mask"].sum() == 64
    with pytest.raises(InputError, match=r"no split 'val' \(found: test, train\); pick one of those"):
        GlacialLakesDataset(study_root, split="val")


def test_unknown_layout_lists_expected(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with pytest.raises(InputError, match=re.escape("expected ROOT/{train,test}/images + ROOT/{train,test}/labels")):
        GlacialLakesDataset(tmp_path)
    with pytest.raises(InputError, match="data folder not found"):
        GlacialLakesDataset(tmp_path / "missing")


def test_natural_key() -> None:
    assert sorted(["img_10.png", "img_2.png", "IMG_1.png"], key=natural_key) == ["IMG_1.png", "img_2.png", "img_10.png"]


def test_jpeg_image_pairs_with_png_mask(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    Image.fromarray(crop_image(0)).save(tmp_path / "images" / "a.jpg", quality=95)
    write_png(tmp_path / "masks" / "a.png", square_mask())
    ds = GlacialLakesDataset(tmp_path)
    assert ds.image_paths[0].suffix == ".jpg" and ds.mask_paths[0].suffix == ".png"
    assert ds[0]["image"].shape == (3, 32, 32)


def test_image_without_mask(generic_root: Path) -> None:
    (generic_root / "masks" / "img_2.png").unlink()
    expected = (f"{generic_root / 'images' / 'img_2.png'}: no mask named 'img_2.*' in {generic_root / 'masks'}; "
                "add the mask or remove the image")
    with pytest.raises(InputError, match=re.escape(expected)):
        GlacialLakesDataset(generic_root)
    with pytest.warns(UserWarning, match="skipped 1 unpaired file"):
        ds = GlacialLakesDataset(generic_root, check=False)
    assert ds.ids == ["img_1", "img_10"]


def test_mask_without_image(generic_root: Path) -> None:
    write_png(generic_root / "masks" / "img_7.png", square_mask())
    expected = (f"{generic_root / 'masks' / 'img_7.png'}: no image named 'img_7.*' in {generic_root / 'images'}; "
                "add the image or remove the mask")
    with pytest.raises(InputError, match=re.escape(expected)):
        GlacialLakesDataset(generic_root)


def test_empty_split(study_root: Path) -> None:
    for p in (study_root / "test" / "images").iterdir():
        p.unlink()
    with pytest.raises(InputError,
                       match=r"test/images: no images \(\.png \.jpg \.jpeg \.tif \.tiff\); put the crops there"):
        GlacialLakesDataset(study_root, split="test")


def test_size_mismatch_on_read(generic_root: Path) -> None:
    mask_path = generic_root / "masks" / "img_2.png"
    write_png(mask_path, np.zeros((32, 30), np.uint8))  # 30 wide, 32 high
    ds = GlacialLakesDataset(generic_root)
    expected = f"{mask_path}: mask is 30x32, image 32x32; re-export the mask at image size"
    with pytest.raises(InputError, match=re.escape(expected)):
        ds[1]


def test_non_binary_and_gray_on_read(generic_root: Path) -> None:
    write_png(generic_root / "masks" / "img_2.png", np.full((32, 32), 128, np.uint8))
    write_png(generic_root / "images" / "img_10.png", np.full((32, 32), 9, np.uint8))
    ds = GlacialLakesDataset(generic_root)
    with pytest.raises(InputError, match=re.escape("mask has values [128] but a binary mask")):
        ds[1]
    with pytest.raises(InputError, match=r"img_10\.png: image has 1 channel \(grayscale\)"):
        ds[2]


def test_valid_mask_from_black_wedge(tmp_path: Path) -> None:
    image = crop_image(0)
    wedge = np.tri(32, 32, -20, dtype=bool)
    image[wedge] = 0
    write_png(tmp_path / "images" / "w.png", image)
    write_png(tmp_path / "masks" / "w.png", square_mask())
    item = GlacialLakesDataset(tmp_path)[0]
    assert torch.equal(item["valid"], torch.from_numpy(~wedge))


def _painted_root(tmp_path: Path, n: int = 4) -> Path:
    """Images whose lake pixels are magenta (255, 0, 255) and nothing else is."""
    root = tmp_path / "painted"
    for i in range(n):
        image = crop_image(i)
        mask = square_mask(top=3 + 2 * i, left=5, side=9)
        mask[20:26, 18:30] = 255
        image[mask > 0] = (255, 0, 255)
        write_png(root / "images" / f"p{i}.png", image)
        write_png(root / "masks" / f"p{i}.png", mask)
    return root


def test_transform_moves_valid_with_image(tmp_path: Path) -> None:
    root = _painted_root(tmp_path)
    aug = A.Compose([A.PadIfNeeded(40, 40, position="top_left", border_mode=0, fill=0, fill_mask=0)])
    item = GlacialLakesDataset(root, transform=aug)[0]
    assert item["image"].shape == (3, 40, 40)
    assert item["valid"][:32, :32].all() and not item["valid"][32:].any() and not item["valid"][:, 32:].any()
    magenta = (item["image"][0] == 255) & (item["image"][1] == 0) & (item["image"][2] == 255)
    assert torch.equal(item["mask"].bool(), magenta)


def test_augmentation_seeded_by_seed_epoch_index(tmp_path: Path) -> None:
    root = _painted_root(tmp_path)
    ds = GlacialLakesDataset(root, transform=build_augmentation("robust", size=24), seed=5)
    first = [ds[i]["image"] for i in range(4)]
    assert all(torch.equal(ds[i]["image"], first[i]) for i in reversed(range(4)))  # order-independent
    ds.set_epoch(1)
    assert ds.epoch == 1
    second = [ds[i]["image"] for i in range(4)]
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    other = GlacialLakesDataset(root, transform=build_augmentation("robust", size=24), seed=5)
    other.set_epoch(1)
    assert all(torch.equal(other[i]["image"], second[i]) for i in range(4))
    reseeded = GlacialLakesDataset(root, transform=build_augmentation("robust", size=24), seed=6)
    reseeded.set_epoch(1)
    assert not all(torch.equal(reseeded[i]["image"], second[i]) for i in range(4))
    assert item_seed(5, 1, 2) == item_seed(5, 1, 2) != item_seed(5, 2, 1)


def test_workers_follow_epoch(tmp_path: Path) -> None:
    """Persistent workers see set_epoch (via the sampler) and match single-process loading."""
    root = _painted_root(tmp_path)

    def load(num_workers: int) -> list[torch.Tensor]:
        ds = GlacialLakesDataset(root, transform=build_augmentation("study", size=24), seed=1)
        sub = Subset(ds, [0, 1, 3])
        sampler = EpochSeededSampler(len(sub), seed=2, dataset=sub)
        loader = DataLoader(sub, batch_size=2, sampler=sampler, num_workers=num_workers,
                            persistent_workers=num_workers > 0)
        out = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            out.append(torch.cat([batch["image"] for batch in loader]))
        return out

    single, multi = load(0), load(2)
    assert torch.equal(single[0], multi[0]) and torch.equal(single[1], multi[1])
    assert not torch.equal(single[0], single[1])

"""Image/mask pairs of glacial-lake crops as a torch ``Dataset``.

Two folder layouts are understood (``layout="auto"`` picks the one on disk):

``study`` (the Kaggle layout of the study's data set)::

    ROOT/train/images/img_0001.png   ROOT/train/labels/img_0001.png
    ROOT/test/images/...             ROOT/test/labels/...

    ``split`` names the sub-folder ("train", "test", or any other folder that
    holds ``images/`` and ``labels/``; ``masks/`` is accepted instead of ``labels/``).

``generic``::

    ROOT/images/image_1.png          ROOT/masks/image_1.png

    One folder of pairs (``labels/`` is accepted instead of ``masks/``); every
    ``split`` value ("all", "train", ...) returns all of it. A run trained on it
    draws its own train / validation / test crops (grouped by scene when asked)
    and saves them in ``RUN/split.json`` (:mod:`glofwatch.data.plan`); evaluation
    then scores only the held-out crops (:mod:`glofwatch.infer.evalset`).

Images and masks pair by file stem (``img_1.jpg`` pairs with ``img_1.png``)
and are ordered by natural sort (``img_2`` before ``img_10``).

Augmentation randomness is a function of ``(seed, epoch, index)`` only, so a
run is reproducible and resumable whatever the number of workers. The epoch
lives in shared memory, so :meth:`GlacialLakesDataset.set_epoch` reaches
persistent ``DataLoader`` workers too (they read it when an item is loaded).
"""

from __future__ import annotations

import os
import random
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from glofwatch.data.io import IMAGE_SUFFIXES, read_image, read_mask, valid_mask
from glofwatch.errors import InputError

LAYOUTS: tuple[str, ...] = ("study", "generic")
IMAGE_DIR = "images"
MASK_DIR_NAMES: tuple[str, ...] = ("labels", "masks")
EXPECTED_LAYOUTS = (
    "ROOT/{train,test}/images + ROOT/{train,test}/labels (study layout) "
    "or ROOT/images + ROOT/masks (generic layout)"
)


def natural_key(name: str) -> list[Any]:
    """Sort key that orders embedded numbers by value (``img_2`` < ``img_10``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_rasters(folder: Path) -> list[Path]:
    """Image files (:data:`IMAGE_SUFFIXES`, any case) in ``folder``, natural-sorted; hidden files skipped."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


# ---------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------


def _mask_dir(folder: Path) -> Path | None:
    for name in MASK_DIR_NAMES:
        if (folder / name).is_dir():
            return folder / name
    return None


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Return ``"study"`` or ``"generic"`` for the folder ``root``.

    Raises:
        InputError: ``root`` is missing or matches neither layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: data folder not found; expected {EXPECTED_LAYOUTS}")
    if (root / IMAGE_DIR).is_dir():
        return "generic"
    if study_splits(root):
        return "study"
    raise InputError(f"{root}: no images found in a known layout; expected {EXPECTED_LAYOUTS}")


def study_splits(root: str | os.PathLike[str]) -> list[str]:
    """Names of the sub-folders of ``root`` holding ``images/`` (natural-sorted)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        (p.name for p in root.iterdir() if p.is_dir() and (p / IMAGE_DIR).is_dir()),
        key=natural_key,
    )


def split_dirs(root: str | os.PathLike[str], split: str, layout: str = "auto") -> tuple[Path, Path]:
    """The ``(image_dir, mask_dir)`` of ``split`` under ``root``.

    Raises:
        InputError: unknown layout, missing split or missing mask folder.
    """
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "generic":
        folder = root
    elif layout == "study":
        found = study_splits(root)
        if split not in found:
            raise InputError(
                f"{root}: no split '{split}' (found: {', '.join(found) or 'none'}); "
                f"pick one of those or add {root / split / IMAGE_DIR}"
            )
        folder = root / split
    else:
        raise InputError(f"unknown layout '{layout}'; use auto, {', '.join(LAYOUTS)}")
    image_dir = folder / IMAGE_DIR
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: folder not found; expected {EXPECTED_LAYOUTS}")
    mask_dir = _mask_dir(folder)
    if mask_dir is None:
        raise InputError(
            f"{folder}: no mask folder (labels/ or masks/) beside images/; add the masks there"
        )
    return image_dir, mask_dir


# ---------------------------------------------------------------------------------------------
# pairing
# ---------------------------------------------------------------------------------------------


@dataclass
class Pairing:
    """Result of matching images to masks by stem."""

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def pair_files(image_dir: Path, mask_dir: Path) -> Pairing:
    """Match the files of ``image_dir`` and ``mask_dir`` by stem.

    Returns:
        the pairs (natural-sorted by image name) and one problem line per
        unpaired, duplicated or empty entry (each names the file and the fix).
    """
    result = Pairing()
    images = list_rasters(image_dir)
    masks = list_rasters(mask_dir)
    if not images:
        result.problems.append(
            f"{image_dir}: no images ({' '.join(IMAGE_SUFFIXES)}); "
            f"put the crops there or point at the right folder"
        )
    if not masks:
        txt = [p for p in mask_dir.iterdir() if p.suffix.lower() == ".txt"]
        if txt:
            result.problems.append(
                f"{mask_dir}: holds YOLO .txt labels, not raster masks; "
                f"rasterise them to PNG masks (0 = background, 255 = lake) with the image's name"
            )
            return result

    def by_stem(files: list[Path], kind: str) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for p in files:
            if p.stem in out:
                result.problems.append(
                    f"{p}: two {kind}s named '{p.stem}' ({out[p.stem].name}, {p.name}); "
                    f"remove or rename one"
                )
                continue
            out[p.stem] = p
        return out

    image_by_stem = by_stem(images, "image")
    mask_by_stem = by_stem(masks, "mask")
    for stem, image in image_by_stem.items():
        mask = mask_by_stem.get(stem)
        if mask is None:
            result.problems.append(
                f"{image}: no mask named '{stem}.*' in {mask_dir}; add the mask or remove the image"
            )
        else:
            result.pairs.append((image, mask))
    for stem, mask in mask_by_stem.items():
        if stem not in image_by_stem:
            result.problems.append(
                f"{mask}: no image named '{stem}.*' in {image_dir}; add the image or remove the mask"
            )
    return result


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed that depends on ``(seed, epoch, index)`` only."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, index]).generate_state(1)[0])


def check_size(image: np.ndarray, mask: np.ndarray, mask_path: Path) -> None:
    """Raise :class:`InputError` when ``mask`` (H, W) does not match ``image`` (H, W, C)."""
    if image.shape[:2] != mask.shape[:2]:
        (mh, mw), (ih, iw) = mask.shape[:2], image.shape[:2]
        raise InputError(
            f"{mask_path}: mask is {mw}x{mh}, image {iw}x{ih}; re-export the mask at image size"
        )


# ---------------------------------------------------------------------------------------------
# dataset
# ---------------------------------------------------------------------------------------------


class GlacialLakesDataset(Dataset):
    """Glacial-lake crops and their binary masks.

    Args:
        root: data folder in the ``study`` or ``generic`` layout (see module docs).
        split: ``study`` layout: sub-folder name ("train", "test"); ``generic``
            layout: ignored, every value returns the single folder ("all" by convention).
        transform: albumentations-style callable
            ``transform(image=HWC array, mask=HW array, masks=[HW array]) -> dict``
            applied before conversion to tensors (``masks`` carries the valid mask
            so it moves with the image). Transforms with ``set_random_state``
            (albumentations ``Compose``) are reseeded per item from ``(seed, epoch, index)``.
        layout: "auto", "study" or "generic".
        check: raise :class:`InputError` at construction when an image has no
            mask or a mask no image; with ``check=False`` unpaired files are skipped
            with a warning.
        seed: base seed of the augmentation randomness.

    Items are dicts:
        ``image``: float32 tensor (C, H, W) in raw units (0..255 for 8-bit files,
        stored values for 16-bit/float TIFF; NaN no-data becomes 0);
        ``mask``: int64 tensor (H, W), 1 = lake;
        ``valid``: bool tensor (H, W), False on no-data (and on padding/borders
        added by augmentation);
        ``id``: file stem; ``path``: image path.

    Example:
        >>> ds = GlacialLakesDataset("AI4GLOF_Dataset", split="train")  # doctest: +SKIP
        >>> ds[0]["image"].shape                                         # doctest: +SKIP
        torch.Size([3, 320, 320])
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transform: Callable[..., dict[str, Any]] | None = None,
        layout: str = "auto",
        check: bool = True,
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        self.layout = detect_layout(self.root) if layout == "auto" else layout
        self.split = split
        self.transform = transform
        self.seed = int(seed)
        # Shared memory: DataLoader workers (also persistent ones) see set_epoch().
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

        self.image_dir, self.mask_dir = split_dirs(self.root, split, self.layout)
        pairing = pair_files(self.image_dir, self.mask_dir)
        if pairing.problems:
            if check or not pairing.pairs:
                more = len(pairing.problems) - 1
                suffix = f" (and {more} more problem(s); run 'glofwatch data check {self.root}')" if more else ""
                raise InputError(pairing.problems[0] + suffix)
            warnings.warn(
                f"{self.image_dir}: skipped {len(pairing.problems)} unpaired file(s); "
                f"run 'glofwatch data check {self.root}' to list them",
                stacklevel=2,
            )
        self.image_paths: list[Path] = [img for img, _ in pairing.pairs]
        self.mask_paths: list[Path] = [msk for _, msk in pairing.pairs]
        self.ids: list[str] = [p.stem for p in self.image_paths]
        self._warned_unseeded = False

    @property
    def epoch(self) -> int:
        """The epoch used to seed augmentation."""
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that, with ``seed`` and the item index, seeds augmentation."""
        self._epoch.fill_(int(epoch))

    def __len__(self) -> int:
        return len(self.image_paths)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read item ``index`` without transform.

        Returns:
            image ``(H, W, C)`` in its file dtype (NaN replaced by 0),
            mask ``(H, W)`` uint8 {0, 1}, valid ``(H, W)`` bool.
        """
        image = read_image(self.image_paths[index])
        mask = read_mask(self.mask_paths[index])
        check_size(image, mask, self.mask_paths[index])
        valid = valid_mask(image)
        if image.dtype.kind == "f":
            image = np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)
        return image, mask, valid

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        image, mask, valid = self.load(index)
        if self.transform is not None:
            image, mask, valid = self._apply_transform(self.transform, index, image, mask, valid)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 0))).float(),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)).long(),
            "valid": torch.from_numpy(np.ascontiguousarray(valid)).bool(),
            "id": self.ids[index],
            "path": str(self.image_paths[index]),
        }

    def _apply_transform(
        self, transform: Callable[..., dict[str, Any]], index: int, image: np.ndarray, mask: np.ndarray,
        valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = item_seed(self.seed, self.epoch, index)
        if hasattr(transform, "set_random_state"):
            # One generator shared by all child transforms (set_random_seed would give each
            # child the same seed, so e.g. horizontal and vertical flips would always coincide).
            transform.set_random_state(np.random.default_rng(s), random.Random(s))
        elif not self._warned_unseeded:
            self._warned_unseeded = True
            warnings.warn(
                "transform has no set_random_state(); augmentation is not reproducible "
                "(use an albumentations Compose)",
                stacklevel=3,
            )
        out = transform(image=image, mask=mask, masks=[valid.astype(np.uint8)])
        image = np.asarray(out["image"])
        if image.ndim == 2:
            image = image[..., None]
        mask = (np.asarray(out["mask"]) > 0).astype(np.uint8)
        if "masks" in out and len(out["masks"]):
            valid = np.asarray(out["masks"][0]) > 0
        else:
            valid = valid_mask(image)
        return image, mask, valid

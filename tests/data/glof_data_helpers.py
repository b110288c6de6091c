"""Helpers that write tiny image/mask files for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array (H, W) or (H, W, C) as PNG, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def crop_image(seed: int, size: int = 32) -> np.ndarray:
    """A (size, size, 3) uint8 crop with values 1..200 (never black, never magenta)."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 201, size=(size, size, 3), dtype=np.uint8)


def square_mask(size: int = 32, top: int = 4, left: int = 4, side: int = 8, value: int = 255) -> np.ndarray:
    """A (size, size) uint8 mask with one lake square of ``value``."""
    mask = np.zeros((size, size), np.uint8)
    mask[top : top + side, left : left + side] = value
    return mask


def make_pairs(folder: Path, names: list[str], size: int = 32, mask_dir: str = "masks") -> None:
    """Write ``images/<name>.png`` and ``<mask_dir>/<name>.png`` under ``folder``."""
    for i, name in enumerate(names):
        write_png(folder / "images" / f"{name}.png", crop_image(i, size))
        write_png(folder / mask_dir / f"{name}.png", square_mask(size, top=2 + i, left=3))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / mask_dir).mkdir(parents=True, exist_ok=True)

"""Pictures every stage writes: display renderings of raw images, lake overlays, atomic PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from glofwatch.io.atomic import atomic_path

LAKE_RGB = (0, 229, 255)  # cyan: predicted lake
TRUTH_RGB = (255, 214, 0)  # yellow: outline of the reference mask


def to_display_rgb(image: np.ndarray, bands: tuple[str, ...] | None = None) -> np.ndarray:
    """An 8-bit RGB rendering (H, W, 3) of a raw image (H, W, C).

    8-bit images with 3 channels are returned as they are. Other images are
    stretched per channel between the 1st and 99th percentiles of non-zero
    pixels. With ``bands`` naming B04/B03/B02, those are used as red/green/blue.
    """
    if image.ndim == 2:
        image = image[..., None]
    if bands is not None and all(b in bands for b in ("B04", "B03", "B02")):
        image = image[..., [bands.index("B04"), bands.index("B03"), bands.index("B02")]]
    else:
        image = image[..., :3]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.dtype == np.uint8:
        return image
    img = np.nan_to_num(image.astype(np.float32))
    out = np.zeros(img.shape, dtype=np.uint8)
    valid = np.any(img != 0, axis=-1)
    for ch in range(3):
        vals = img[..., ch][valid]
        if vals.size == 0:
            continue
        lo, hi = np.percentile(vals, [1, 99])
        out[..., ch] = np.clip((img[..., ch] - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return out


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Boolean (H, W): pixels on the inner border of ``mask``."""
    m = mask.astype(bool)
    return m & ~ndimage.binary_erosion(m, iterations=width, border_value=0)


def make_overlay(rgb: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None, alpha: float = 0.45) -> np.ndarray:
    """Blend predicted lake pixels in cyan over ``rgb`` and outline the truth in yellow.

    Args:
        rgb: (H, W, 3) uint8 image.
        pred: (H, W) {0,1} predicted mask.
        truth: optional (H, W) {0,1} reference mask.
        alpha: opacity of the lake colour.

    Returns:
        (H, W, 3) uint8 overlay.
    """
    out = rgb.astype(np.float32).copy()
    p = pred.astype(bool)
    out[p] = (1 - alpha) * out[p] + alpha * np.array(LAKE_RGB, dtype=np.float32)
    edge = outline(p)
    out[edge] = LAKE_RGB
    if truth is not None:
        out[outline(truth.astype(bool), width=1)] = TRUTH_RGB
    return np.clip(out, 0, 255).astype(np.uint8)


def save_png(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return Path(path)

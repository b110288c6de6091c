"""Training augmentations, built by name.

Kinds (:data:`AUGMENTATIONS`):

- ``none``: nothing, or only the random crop when ``size`` is given.
- ``study``: flips, 90-degree rotations, mild scale (Affine 0.9-1.1) and mild
  brightness/contrast. The study only says it "augmented the data" without
  detail; this is a conservative reading of that.
- ``robust``: ``study`` plus photometric domain robustness for other sensors,
  seasons and renderings: gamma, hue/saturation, stronger brightness/contrast,
  haze (a veil blended over the image), blur, noise and rare grayscale.

Geometric transforms move image, mask and valid mask together; masks use
nearest-neighbour interpolation and pixels added at borders are 0 in the image,
the mask and the valid mask.

Dtypes: ``uint8`` images (PNG/JPEG crops) are augmented as they are. For
``uint16`` and ``float32`` images in raw units, photometric transforms run on
a copy scaled to 0..1 by the image's maximum and the result is scaled back, so
raw values keep their range and are not clipped to 1 (albumentations assumes
float images in 0..1). No-data pixels (0 in every channel) stay 0.
Colour transforms (hue/saturation, grayscale) are skipped for images that do
not have exactly 3 channels.

Evaluation uses full images, untransformed: :func:`build_eval_transform`
returns ``None``.

Example:
    >>> aug = build_augmentation("study", size=256)
    >>> out = aug(image=image, mask=mask, masks=[valid])  # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from glofwatch.errors import ConfigError
from glofwatch.registry import Registry

AUGMENTATIONS: Registry[Callable[[], list[Any]]] = Registry("augmentation")


class ScaledPhotometric(A.ImageOnlyTransform):
    """Run image-only transforms in their native range, whatever the image dtype.

    ``uint8`` images go straight through. Other dtypes are scaled to 0..1 by
    the image's finite maximum (left as they are when that is <= 1), transformed
    as float32, scaled back and cast to the input dtype. Pixels that were 0 in
    every channel (no-data) are 0 again afterwards.

    Args:
        transforms: albumentations image-only transforms, applied in order.
        rgb_only: skip (identity) for images without exactly 3 channels.
        p: probability of running the group.
    """

    def __init__(self, transforms: Sequence[A.BasicTransform], rgb_only: bool = False, p: float = 1.0):
        super().__init__(p=p)
        self.inner = A.Compose(list(transforms), p=1.0)
        self.rgb_only = rgb_only

    def set_random_state(self, random_generator: np.random.Generator, py_random: random.Random) -> None:
        """Share the caller's generators with the inner transforms."""
        super().set_random_state(random_generator, py_random)
        self.inner.set_random_state(random_generator, py_random)

    def set_random_seed(self, seed: int | None) -> None:
        """Seed this group and its inner transforms from one shared stream."""
        super().set_random_seed(seed)
        if hasattr(self, "inner"):
            self.inner.set_random_state(self.random_generator, self.py_random)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        """Transform ``img`` (H, W, C) and return it in its own dtype."""
        if self.rgb_only and (img.ndim != 3 or img.shape[2] != 3):
            return img
        nodata = ~(img != 0).any(axis=-1) if img.ndim == 3 else img == 0
        if img.dtype == np.uint8:
            out = self.inner(image=img)["image"]
        else:
            finite = img[np.isfinite(img)] if img.dtype.kind == "f" else img
            scale = float(finite.max()) if finite.size else 1.0
            scale = scale if scale > 1.0 else 1.0
            x = np.clip(img.astype(np.float32) / scale, 0.0, 1.0)
            y = self.inner(image=x)["image"].astype(np.float32) * scale
            if img.dtype.kind in "ui":
                info = np.iinfo(img.dtype)
                y = np.clip(np.rint(y), info.min, info.max)
            out = y.astype(img.dtype)
        if out.ndim == 2 and img.ndim == 3:
            out = out[..., None]
        if nodata.any():
            out = out.copy()
            out[nodata] = 0
        return out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Names shown in ``repr``."""
        return ("rgb_only",)


class Haze(A.ImageOnlyTransform):
    """Blend a grey-to-white veil over the image (thin cloud, haze, snow glare).

    ``out = (1 - s) * image + s * v * max`` with strength ``s`` drawn from
    ``strength_range``, veil brightness ``v`` from ``veil_range`` and ``max`` 255
    for ``uint8``, 1 for float images (use inside :class:`ScaledPhotometric`).

    Args:
        strength_range: (low, high) blend strength in 0..1.
        veil_range: (low, high) veil brightness in 0..1 of the full range.
        p: probability.
    """

    def __init__(
        self,
        strength_range: tuple[float, float] = (0.05, 0.35),
        veil_range: tuple[float, float] = (0.7, 1.0),
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.strength_range = tuple(strength_range)
        self.veil_range = tuple(veil_range)

    def get_params(self) -> dict[str, float]:
        """Draw strength and veil brightness."""
        return {
            "strength": self.py_random.uniform(*self.strength_range),
            "veil": self.py_random.uniform(*self.veil_range),
        }

    def apply(self, img: np.ndarray, strength: float = 0.0, veil: float = 1.0, **params: Any) -> np.ndarray:
        """Blend the veil into ``img``."""
        full = 255.0 if img.dtype == np.uint8 else 1.0
        out = img.astype(np.float32) * (1.0 - strength) + strength * veil * full
        if img.dtype == np.uint8:
            return np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return out.astype(img.dtype)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Names shown in ``repr``."""
        return ("strength_range", "veil_range")


def _affine_scale() -> A.Affine:
    return A.Affine(
        scale=(0.9, 1.1),
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        border_mode=cv2.BORDER_CONSTANT,
        fill=0,
        fill_mask=0,
        p=0.5,
    )


def _geometric() -> list[Any]:
    return [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5), _affine_scale()]


@AUGMENTATIONS.register("none")
def _none() -> list[Any]:
    return []


@AUGMENTATIONS.register("study")
def _study() -> list[Any]:
    mild = A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5)
    return [*_geometric(), ScaledPhotometric([mild], p=1.0)]


@AUGMENTATIONS.register("robust")
def _robust() -> list[Any]:
    photometric = ScaledPhotometric(
        [
            A.RandomGamma(gamma_limit=(70, 150), p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.25, p=0.7),
            Haze(strength_range=(0.05, 0.4), p=0.3),
            A.GaussianBlur(blur_limit=(3, 5), p=0.2),
            A.GaussNoise(std_range=(0.01, 0.05), p=0.3),
        ],
        p=1.0,
    )
    colour = ScaledPhotometric(
        [
            A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=25, val_shift_limit=10, p=0.5),
            A.ToGray(p=0.05),
        ],
        rgb_only=True,
        p=1.0,
    )
    return [*_geometric(), colour, photometric]


def _crop(size: int) -> list[Any]:
    return [
        A.PadIfNeeded(
            min_height=size, min_width=size, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0
        ),
        A.RandomCrop(height=size, width=size),
    ]


def build_augmentation(kind: str, size: int | None = None) -> A.Compose | None:
    """Build the training transform called ``kind``.

    Args:
        kind: a name in :data:`AUGMENTATIONS` ("none", "study", "robust").
        size: training crop side in pixels; images are padded (with no-data) to at
            least ``size`` and randomly cropped to ``size`` x ``size``. ``None``
            keeps full images.

    Returns:
        an albumentations ``Compose`` taking ``image``, ``mask`` and ``masks``
        (nearest interpolation for masks), or ``None`` for "none" without ``size``.

    Raises:
        ConfigError: unknown ``kind`` (with close matches) or ``size`` < 1.
    """
    factory = AUGMENTATIONS.get(kind)
    if size is not None and int(size) < 1:
        raise ConfigError(f"augmentation size {size} is not a positive number of pixels; use e.g. 256")
    transforms = ([*_crop(int(size))] if size is not None else []) + factory()
    if not transforms:
        return None
    return A.Compose(transforms, mask_interpolation=cv2.INTER_NEAREST)


def build_eval_transform(size: int | None = None) -> None:
    """Evaluation transform: ``None``, models are evaluated on full, untouched images.

    ``size`` is accepted for symmetry with :func:`build_augmentation` and ignored.
    """
    return None


def list_augmentations() -> list[str]:
    """Names of the augmentation kinds."""
    return AUGMENTATIONS.names()

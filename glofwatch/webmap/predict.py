"""``POST /api/predict``: one checked upload through the ``--model`` run, answered as base64 PNGs.

The upload (already checked by :mod:`glofwatch.webmap.uploads`) is decoded
with :func:`glofwatch.data.io.read_image`. A georeferenced multi-band TIFF of
L2A digital numbers is converted to the model's input exactly as
``glofwatch map`` converts a scene (8-bit rendering or reflectance, by the
model's input spec) and shown in true colour; any other image goes to the
model as it is. The answer holds the mask, the lake overlay and the Grad-CAM
overlay (when the image is small enough for Grad-CAM).
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import GlofwatchError
from glofwatch.webmap.uploads import SUFFIX, UploadRejected


@contextlib.contextmanager
def upload_file(data: bytes, kind: str) -> Iterator[Path]:
    """The upload in a temporary file with the suffix of its type (removed afterwards)."""
    fd, name = tempfile.mkstemp(prefix="glofwatch-upload-", suffix=SUFFIX[kind])
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield Path(name)
    finally:
        os.unlink(name)


def png64(array: np.ndarray) -> str:
    """A uint8 (H, W) or (H, W, 3) array as base64 PNG text."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _as_scene(model: Any, path: Path, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(model input, valid, true-colour rgb) of a georeferenced L2A TIFF; None for other images."""
    from glofwatch.scene.read import read_scene
    from glofwatch.webmap.imagery import scene_rgb

    try:
        scene = read_scene(path)
    except GlofwatchError:
        return None  # no CRS, too small, unknown bands: a plain image
    if scene.kind != "dn":
        return None
    h, w = shape
    image, valid = model.scene_input(path, 0, 0, h, w)
    return image, valid, scene_rgb(scene, 0, 0, h, w)[0]


def run_upload(model: Any, data: bytes, kind: str) -> dict[str, Any]:
    """Decode, predict and explain one upload; the JSON answer of ``/api/predict``.

    Raises:
        UploadRejected: 400 for a corrupt, grayscale or wrongly banded image (one-line reason).
    """
    from glofwatch.data.io import read_image
    from glofwatch.explain.heatmap import blend_heatmap
    from glofwatch.io.image import make_overlay, to_display_rgb

    with upload_file(data, kind) as path:
        try:
            image = read_image(path)
            converted = _as_scene(model, path, image.shape[:2]) if kind == "tiff" and image.dtype != np.uint8 else None
            if converted is not None:
                image, valid, rgb = converted
            else:
                valid, rgb = None, to_display_rgb(image)
            result = model.analyse(image, valid)
        except GlofwatchError as exc:
            raise UploadRejected(400, str(exc).replace(str(path), "upload")) from None
    lake = int(result.mask.sum())
    return {
        "type": kind, "width": int(image.shape[1]), "height": int(image.shape[0]), "bands": int(image.shape[2]),
        "converted": converted is not None, "model": model.describe(), "lake_pixels": lake,
        "lake_fraction": lake / max(1, result.mask.size),
        "mask_png": png64((result.mask * 255).astype(np.uint8)),
        "overlay_png": png64(make_overlay(rgb, result.mask)),
        "gradcam_png": png64(blend_heatmap(rgb, result.heatmap, alpha=0.45)) if result.heatmap is not None else None,
        "note": result.note,
    }  # fmt: skip

"""Explaining one image: predict, Grad-CAM, and package it for the study's 5-panel figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glofwatch.errors import InputError
from glofwatch.explain.figure import ExplainedImage
from glofwatch.io.image import to_display_rgb

if TYPE_CHECKING:
    from glofwatch.data.normalize import InputSpec
    from glofwatch.explain.gradcam import LakeGradCam

TRUTH_FOLDERS = ("labels", "masks")


def display_rgb(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """8-bit RGB to show a raw image (H, W, C): 8-bit renderings as they are, others stretched."""
    if image.dtype != np.uint8 and spec.source == "rgb8" and np.nanmax(image, initial=0) <= 255:
        image = np.clip(np.nan_to_num(image), 0, 255).astype(np.uint8)
    return to_display_rgb(image, tuple(spec.bands))


def find_truth(image_path: Path, masks_dir: Path | None = None) -> Path | None:
    """The reference mask of an image, or None.

    Looked up by file stem in ``masks_dir`` when given; otherwise, when the
    image sits in an ``images/`` folder, in a sibling ``labels/`` or ``masks/``
    folder (the study and generic data layouts).
    """
    from glofwatch.data.io import IMAGE_SUFFIXES

    folders = [masks_dir] if masks_dir is not None else (
        [image_path.parent.parent / name for name in TRUTH_FOLDERS] if image_path.parent.name == "images" else []
    )
    for folder in folders:
        if not folder.is_dir():
            continue
        for suffix in (image_path.suffix, *IMAGE_SUFFIXES):
            for cand in (folder / f"{image_path.stem}{suffix}", folder / f"{image_path.stem}{suffix.upper()}"):
                if cand.is_file():
                    return cand
    return None


def image_iou(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
    """IoU of two {0, 1} masks (1.0 when both are empty), over ``valid`` pixels."""
    from glofwatch.infer.metrics import count_confusion, scores

    return scores(count_confusion(pred.astype(bool), truth.astype(bool), valid))["iou"]


def explain_image(explainer: LakeGradCam, image: np.ndarray, image_id: str, truth: np.ndarray | None = None,
                  valid: np.ndarray | None = None, note: str = "") -> ExplainedImage:
    """Predict, explain and package one raw image (H, W, C) for the figures.

    Raises:
        InputError: ``truth`` has another size than the image.
    """
    if truth is not None and truth.shape != image.shape[:2]:
        raise InputError(
            f"{image_id}: mask is {truth.shape[0]}x{truth.shape[1]}, image {image.shape[0]}x{image.shape[1]}; "
            "re-export the mask at image size"
        )
    res = explainer.explain(image.astype(np.float32), valid)
    iou = None if truth is None else image_iou(res.mask, truth, valid)
    rgb = display_rgb(image, explainer.predictor.spec)
    cam_note = {"top-k": f"Grad-CAM target: the {res.target_pixels} most probable px (no lake predicted)",
                "none": "no valid pixel"}.get(res.target, "")
    if res.target != "none" and not res.heatmap.any():
        cam_note = "; ".join(filter(None, [cam_note, "Grad-CAM all 0: no positive evidence at this layer"]))
    return ExplainedImage(image_id, rgb, res.mask, res.heatmap, truth, iou, note, cam_note)

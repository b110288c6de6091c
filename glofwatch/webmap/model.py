"""The model behind ``--model RUN``: lake probability, mask and Grad-CAM for uploads and lake thumbnails.

One :class:`~glofwatch.explain.gradcam.LakeGradCam` holds the trained
network; its predictor gives the probability and mask, and Grad-CAM explains
them, so a request costs one forward and one backward pass. Requests are
served one at a time (Grad-CAM hooks the network). Images with a side above
Grad-CAM's limit are still predicted (tiled), without a heat map.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Analysis:
    """What the model says about one image.

    Attributes:
        probability: (H, W) float32 lake probability.
        mask: (H, W) uint8 {0, 1}.
        heatmap: (H, W) float32 Grad-CAM in [0, 1], or None.
        note: why there is no heat map ("" otherwise), or which Grad-CAM target was used.
    """

    probability: np.ndarray
    mask: np.ndarray
    heatmap: np.ndarray | None
    note: str


class ModelService:
    """A trained run loaded once for the web map.

    Args:
        run: run folder or model file (anything :func:`glofwatch.models.bundle.load_bundle` reads).
        device: auto, cpu or cuda.

    Raises:
        InputError: the run cannot be loaded.
        ConfigError: the architecture has no Grad-CAM layer.
    """

    def __init__(self, run: str | Path, device: str = "auto") -> None:
        from glofwatch.explain.gradcam import LakeGradCam
        from glofwatch.models.bundle import load_bundle

        self.run = Path(run)
        self.bundle = load_bundle(run)
        stamp = f"{self.run.resolve()}|{self.run.stat().st_mtime_ns}"
        self.key = hashlib.sha256(stamp.encode()).hexdigest()[:10]
        """Short id of the loaded model (names its cached Grad-CAM thumbnails)."""
        self.cam = LakeGradCam(self.bundle, device=device)
        self.lock = threading.Lock()

    @property
    def bands(self) -> tuple[str, ...]:
        """The model's input bands, in order."""
        return tuple(self.bundle.spec.bands)

    def describe(self) -> dict[str, Any]:
        """Name, architecture, bands and threshold, for ``/api/info``."""
        spec = self.bundle.spec
        return {"run": self.run.name, "model": self.bundle.config.model, "bands": list(spec.bands),
                "source": spec.source, "threshold": float(self.bundle.threshold)}

    def analyse(self, image: np.ndarray, valid: np.ndarray | None = None, explain: bool = True) -> Analysis:
        """Predict ``image`` (H, W, C raw pixels) and, when ``explain`` and small enough, run Grad-CAM.

        Raises:
            InputError: wrong band count or shape.
        """
        from glofwatch.explain.gradcam import MAX_CAM_SIDE

        image = image.astype(np.float32, copy=False)
        with self.lock:
            if explain and max(image.shape[:2]) <= MAX_CAM_SIDE:
                res = self.cam.explain(image, valid)
                return Analysis(res.probability, res.mask, res.heatmap, f"Grad-CAM target: {res.target}")
            out = self.cam.predictor.predict_image(image, valid)
        note = "" if not explain else f"no Grad-CAM for images over {MAX_CAM_SIDE} px a side"
        return Analysis(out.probability, out.mask, None, note)

    def scene_input(self, scene_path: Path, row: int, col: int, height: int,
                    width: int) -> tuple[np.ndarray, np.ndarray]:
        """A window of a scene converted to this model's input, as ``glofwatch map`` converts it.

        Returns:
            (image, valid): (h, w, C) float32 model input and (h, w) bool.
        """
        from glofwatch.mapping.scene import SceneInput
        from glofwatch.scene.read import read_scene

        scene = read_scene(scene_path)
        conv = SceneInput.plan(scene, self.bundle.spec)
        data = scene.read_window(row, col, height, width, conv.read_bands)
        valid = scene.valid_mask(data)
        return np.moveaxis(conv.convert(data, valid), 0, -1), valid

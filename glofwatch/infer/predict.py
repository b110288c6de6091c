"""Probability maps for images of any size from a trained model.

:class:`Predictor` wraps a :class:`~glofwatch.models.bundle.ModelBundle`:
it normalises raw pixels with the model's own input spec, pads to the network
stride, and tiles with overlap and blending when an image is larger than
``max_tile``. Nodata pixels are never lake.

Probabilities are ``sigmoid(logit / temperature)`` with the model's fitted
temperature (1 for models trained before calibration existed), and the mask is
``probability > threshold`` with the threshold chosen on validation (or the one
given, which overrides it). With ``tta`` every input also goes through the
network flipped and rotated (the 8 symmetries of the square: identity, 3
rotations by 90 degrees, 4 flips, via ``ttach.aliases.d4_transform``) and the
8 logit maps, turned back, are averaged: 8 times the network cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from glofwatch.data.normalize import normalize, percentile_stats
from glofwatch.errors import ConfigError, InputError
from glofwatch.infer.tiles import predict_tiled
from glofwatch.models.bundle import ModelBundle, load_bundle
from glofwatch.runtime import torch_device


def check_threshold(value: float) -> float:
    """``value`` as a float in (0, 1), else a one-line :class:`ConfigError`."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0.0 < t < 1.0:
        raise ConfigError(f"threshold {value} must be between 0 and 1 (exclusive), e.g. --threshold 0.5")
    return t


@dataclass
class MaskResult:
    """One image's prediction (the result type shared by every model family).

    Attributes:
        probability: (H, W) float32 lake probability, 0 on nodata.
        mask: (H, W) uint8 {0, 1} lake mask.
        valid: (H, W) bool, False on nodata.
    """

    probability: np.ndarray
    mask: np.ndarray
    valid: np.ndarray


class Predictor:
    """Run a trained model on raw images.

    Args:
        bundle: the trained model.
        device: auto, cpu or cuda.
        max_tile: images with a side above this are tiled (with ``overlap``).
        overlap: tile overlap in pixels.
        runner: optional callable executing the network instead of ``bundle.net``: normalised,
            stride-padded input (N, C, H, W) float32 on ``device`` -> logits (N, 1, H, W); an
            ONNX Runtime or OpenVINO backend (:mod:`glofwatch.infer.backends`). ``bundle.net``
            may then be None.
        backend: name of the runtime behind ``runner`` (recorded in scene summaries);
            default ``"torch"`` without a runner, ``"custom"`` with one.
        threshold: mask threshold overriding the model's own (None: the model's, chosen on validation).
        tta: average the logits over the 8 flips and rotations (8x slower).
    """

    def __init__(self, bundle: ModelBundle, device: str = "auto", max_tile: int = 1024, overlap: int = 64,
                 runner: Callable[[torch.Tensor], torch.Tensor] | None = None, backend: str | None = None,
                 threshold: float | None = None, tta: bool = False) -> None:
        from glofwatch.models.registry import get_spec

        self.bundle = bundle
        self.spec = bundle.spec
        self.device = torch_device(device)
        self.net = bundle.net.to(self.device).eval() if bundle.net is not None else None
        self.runner = runner if runner is not None else self.net
        self.stride = get_spec(bundle.config.model).stride
        self.max_tile = max(self.stride, max_tile // self.stride * self.stride)
        self.overlap = overlap
        self.threshold = check_threshold(bundle.threshold if threshold is None else threshold)
        self.temperature = bundle.temperature
        self.tta = bool(tta)
        self.backend = backend or ("torch" if runner is None else "custom")

    def fit_shape(self, h: int, w: int, max_h: int, max_w: int) -> tuple[int, int]:
        """The input (height, width) in which to run a trimmed tile of (h, w), at most (max_h, max_w).

        (h, w) for runtimes that take any shape alike; a runtime that compiles a graph per shape
        (OpenVINO) answers one of the few larger shapes it compiles for a tile of (max_h, max_w).
        """
        fit = getattr(getattr(self.runner, "__self__", None), "fit_shape", None)
        return fit(h, w, max_h, max_w) if fit is not None else (h, w)

    @classmethod
    def from_path(cls, path: str | Path, device: str = "auto", **kw: Any) -> Predictor:
        """Load from a run folder or model file."""
        return cls(load_bundle(path), device=device, **kw)

    @torch.inference_mode()
    def logits_batch(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, stats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Raw logits (N, H, W), before the temperature, for raw images (N, C, H, W) (TTA-averaged with ``tta``)."""
        n, c, h, w = x.shape
        if c != self.spec.in_channels:
            raise InputError(
                f"image has {c} bands but the model expects {self.spec.in_channels} ({', '.join(self.spec.bands)})"
            )
        valid = (valid.to(self.device) if valid is not None
                 else torch.ones((n, h, w), dtype=torch.bool, device=self.device))
        z = self.network_input(x, valid, stats)
        if not self.tta:
            return self.runner(z)[:, 0, :h, :w].float()
        import ttach

        total: torch.Tensor | None = None
        transforms = ttach.aliases.d4_transform()
        for t in transforms:
            out = t.deaugment_mask(self.runner(t.augment_image(z))).float()
            total = out if total is None else total + out
        assert total is not None  # d4_transform has 8 transforms
        return (total / len(transforms))[:, 0, :h, :w]

    @torch.inference_mode()
    def predict_batch(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, stats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Probabilities (N, H, W) for raw images (N, C, H, W), padded to the stride internally."""
        n, _, h, w = x.shape
        valid = (valid.to(self.device) if valid is not None
                 else torch.ones((n, h, w), dtype=torch.bool, device=self.device))
        logits = self.logits_batch(x, valid, stats)
        return torch.sigmoid(logits / self.temperature) * valid

    def predict_logits(self, image: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Raw logits (H, W) float32 of one image (H, W, C) in one pass (no tiling; for calibration)."""
        x = torch.nan_to_num(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None])
        return self.logits_batch(x, torch.from_numpy(valid)[None])[0].cpu().numpy()

    def network_input(self, x: torch.Tensor, valid: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """What the network sees: raw (N, C, H, W) normalised by the input spec, padded to the stride.

        Args:
            x: raw images (8-bit values or reflectance), NaN-free.
            valid: (N, H, W) bool, pixels that count for the statistics.
            stats: per-image percentile statistics (default: computed from ``x`` when the spec scales by percentiles).

        Returns:
            (N, C, H', W') float32 on the predictor's device; H', W' the next multiples of the stride
            (reflect padding, or replicate when the image is smaller than the padding).
        """
        h, w = x.shape[-2:]
        x = x.to(self.device, torch.float32)
        valid = valid.to(self.device)
        if stats is None and self.spec.scaling == "percentile":
            stats = percentile_stats(x, self.spec, valid)
        z = normalize(x, self.spec, valid, stats=stats)
        ph = -(-h // self.stride) * self.stride - h
        pw = -(-w // self.stride) * self.stride - w
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        return z

    def predict_image(self, image: np.ndarray, valid: np.ndarray | None = None) -> MaskResult:
        """Predict one raw image (H, W, C) of any size."""
        if image.ndim != 3:
            raise InputError(f"expected an image (H, W, C), got shape {image.shape}")
        h, w, _ = image.shape
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None]
        if valid is None:
            valid = ~(np.all(image == 0, axis=-1) | ~np.all(np.isfinite(image), axis=-1))
        v = torch.from_numpy(valid)[None]
        x = torch.nan_to_num(x)
        if max(h, w) <= self.max_tile:
            prob = self.predict_batch(x, v)[0].cpu().numpy()
        else:
            stats = percentile_stats(x, self.spec, v) if self.spec.scaling == "percentile" else None

            def run(rc: np.ndarray, th: int, tw: int) -> np.ndarray:
                r, c = int(rc[0]), int(rc[1])
                out = self.predict_batch(x[..., r : r + th, c : c + tw], v[..., r : r + th, c : c + tw], stats)
                return out[0].cpu().numpy()

            prob = predict_tiled(run, h, w, tile=self.max_tile, overlap=self.overlap)
        prob = (prob * valid).astype(np.float32)
        return MaskResult(prob, (prob > self.threshold).astype(np.uint8), valid)

"""Lower-precision mapping with fp32 where the decision hangs on the precision.

bf16 and INT8 graphs move a tile's logits by a little: on the synthetic Sentinel-2 tile bf16
changes them by 0.043 logits at the median, 0.45 at the 99th percentile and 1.5 at most among
pixels near the threshold (within 2 logits of it). That flips the odd pixel of a lake's rim,
which does not matter, but where a whole patch of ground sits within that error of the
threshold, the lower precision decides at random whether it is lake: on that tile bf16 lost
two lakes that fp32 finds (both covered 50.6-51.3 % by fp32 and 40-44 % by bf16), 1.2 points
of lake recall.

:class:`RefinedPredictor` runs the fast graph, looks in each network input for such a patch
(:func:`uncertain_patch`: a diamond of radius :data:`REFINE_ERODE` px, 25 px, all within
:data:`REFINE_MARGIN` logits of the threshold) and runs that input again in fp32 when it finds
one, keeping the fp32 probabilities for it. The scene mapper
(:func:`glofwatch.mapping.scene.refine_inputs`) runs the input's whole tile instead, so that fp32
needs one compiled shape. On the synthetic tile 25 of the 372 inputs have such a patch; fp32 on
their tiles (6.6 Mpx, 15 % of what the network saw) brings back both lakes, and the map's lake
recall equals the fp32 reference's. A margin of 0.4 logits flagged 18 inputs and brought back
neither: the margin has to be about the 99th percentile of the error, not less. A lake's rim,
uncertain only 1-2 px wide, does not hold the diamond.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

REFINE_MARGIN = 0.5
"""Logits either side of the threshold within which the fast graph's decision is not trusted."""

REFINE_ERODE = 3
"""A patch that matters holds a diamond of this radius (25 px) of such pixels; a lake's rim does not."""


def probability_band(threshold: float, margin: float = REFINE_MARGIN) -> tuple[float, float]:
    """The probabilities whose logit lies within ``margin`` of the threshold's logit.

    Example:
        >>> lo, hi = probability_band(0.5, math.log(3.0))
        >>> round(lo, 6), round(hi, 6)
        (0.25, 0.75)
    """
    t = min(max(float(threshold), 1e-6), 1 - 1e-6)
    logit = math.log(t / (1 - t))
    return 1 / (1 + math.exp(-(logit - margin))), 1 / (1 + math.exp(-(logit + margin)))


def erode_cross(a: np.ndarray) -> np.ndarray:
    """``a`` (bool, 2-D) eroded by the 3 x 3 cross, outside the array counting as False.

    Equal to ``scipy.ndimage.binary_erosion(a)``, in a fifth of its time on a 512 px tile;
    ``erode`` times over, the erosion by a diamond of that radius.
    """
    out = a.copy()
    out[1:] &= a[:-1]
    out[:-1] &= a[1:]
    out[:, 1:] &= a[:, :-1]
    out[:, :-1] &= a[:, 1:]
    out[0], out[-1], out[:, 0], out[:, -1] = False, False, False, False
    return out


def uncertain_patch(prob: np.ndarray, threshold: float, margin: float = REFINE_MARGIN,
                    erode: int = REFINE_ERODE) -> bool:
    """Whether ``prob`` (H, W) has a diamond of radius ``erode`` px all within ``margin`` logits of the threshold.

    NaN (nodata) is never uncertain. Only the rows and columns that hold uncertain pixels are eroded.
    """
    lo, hi = probability_band(threshold, margin)
    with np.errstate(invalid="ignore"):
        band = (prob > lo) & (prob < hi)
    need = 2 * erode + 1
    rows, cols = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
    if rows.size < need or cols.size < need or np.count_nonzero(band) < 2 * erode * (erode + 1) + 1:
        return False
    part = band[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    for _ in range(erode):
        part = erode_cross(part)
        if not part.any():
            return False
    return bool(part.any())


class RefinedPredictor:
    """A fast (bf16 or INT8) predictor whose uncertain network inputs run again in fp32.

    It stands in for the fast predictor everywhere (its spec, stride, threshold, shapes and
    bundle); :meth:`counts` says how many inputs and pixels went through fp32 again, and the
    scene mapper records them per scene. Only :meth:`predict_batch` refines: other methods
    (``predict_image``) are the fast predictor's own.

    Args:
        fast: the lower-precision predictor.
        exact: the fp32 predictor of the same model (same threshold and TTA).
        margin: :data:`REFINE_MARGIN`.
        erode: :data:`REFINE_ERODE`.
    """

    def __init__(self, fast: Any, exact: Any, margin: float = REFINE_MARGIN, erode: int = REFINE_ERODE) -> None:
        if float(fast.threshold) != float(exact.threshold):
            raise ValueError(f"the fast and fp32 predictors threshold differently ({fast.threshold} against "
                             f"{exact.threshold})")
        self.fast, self.exact, self.margin, self.erode = fast, exact, float(margin), int(erode)
        self.backend = f"{fast.backend}+fp32"
        self._lock = threading.Lock()
        self._counts = {"inputs": 0, "refined": 0, "px": 0, "refined_px": 0}

    def __getattr__(self, name: str) -> Any:  # spec, stride, threshold, device, bundle, fit_shape, ...
        if name in ("fast", "exact"):  # not yet set (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.fast, name)

    def counts(self) -> dict[str, int]:
        """Network inputs seen and run again in fp32, and their pixels, so far."""
        with self._lock:
            return dict(self._counts)

    def uncertain(self, prob: np.ndarray) -> bool:
        """:func:`uncertain_patch` of one probability map (H, W) at this predictor's threshold and settings."""
        return uncertain_patch(prob, self.threshold, self.margin, self.erode)

    def record(self, inputs: int, px: int, refined: int, refined_px: int) -> None:
        """Count inputs seen and run again by a caller that refines them itself (the scene mapper)."""
        with self._lock:
            self._counts["inputs"] += inputs
            self._counts["px"] += px
            self._counts["refined"] += refined
            self._counts["refined_px"] += refined_px

    def predict_batch(self, x: Any, valid: Any = None, stats: Any = None) -> Any:
        """Probabilities (N, H, W) as the fast predictor's, with fp32's for each input that has an uncertain patch."""
        import torch

        with torch.inference_mode():  # the predictors' outputs are inference tensors
            out = self.fast.predict_batch(x, valid, stats).float().cpu()
            n, h, w = out.shape
            redo = [i for i in range(n) if self.uncertain(out[i].numpy())]
            for i in redo:
                v = valid[i : i + 1] if valid is not None else None
                s = stats[i : i + 1] if stats is not None and n > 1 and len(stats) == n else stats  # per image or scene
                out[i] = self.exact.predict_batch(x[i : i + 1], v, s)[0].float().cpu()
        self.record(n, n * h * w, len(redo), len(redo) * h * w)
        return out


__all__ = ["REFINE_ERODE", "REFINE_MARGIN", "RefinedPredictor", "erode_cross", "probability_band",
           "uncertain_patch"]

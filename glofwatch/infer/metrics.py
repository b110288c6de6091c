"""Pixel metrics for binary lake masks, each number named by its reduction.

Three reductions are reported side by side because the study mixes them:

* ``micro`` (primary): ONE confusion matrix over all valid pixels of the
  split, thresholded at ``p > threshold``, then scored once (the sum of the
  per-image counts: torchmetrics ``BinaryStatScores`` with ``multidim_average="global"``).
* ``per_image``: one confusion matrix per image, scored per image, then the
  mean / median over images (images weigh the same whatever their lake area).
* ``study_batch_soft``: the study's Keras metrics (U-Net notebook): per
  ``update`` call (= one batch), soft Dice and IoU on probabilities without a
  threshold (smoothing 1), and precision/recall on rounded values, averaged
  over batches. They depend on batch size and order; kept for comparison only.

Conventions for empty denominators (``scores``; every case is 0/0):

* no lake in truth and none predicted: iou = dice = f1 = precision = recall = 1.0
  (a perfect image, never NaN);
* no pixel predicted as lake but lake in truth: precision = 0.0 (and recall = 0.0);
* lake predicted but no lake in truth: recall = 0.0 (and precision = iou = dice = 0.0);
* no valid pixel at all: accuracy = 1.0 like the rest (nothing to get wrong);
  the meter leaves such images out of the per-image statistics.

Confusion counts come from torchmetrics ``BinaryStatScores`` (samplewise per image, nodata
pixels passed as its ``ignore_index``); only the scoring conventions above, the study's soft
metrics and the exact threshold histogram are ours (torchmetrics' precision-recall curve scores
``p >= t`` and holds pixels x thresholds, where this histogram keeps ``p > t`` in bounded memory).
Inputs may be torch tensors (any device; moved to CPU) or numpy arrays.

The split-level accumulator that reports all three is :class:`glofwatch.infer.meter.SegmentationMeter`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError, InputError

SCORE_NAMES = ("iou", "dice", "accuracy", "precision", "recall", "f1")
STUDY_NOTE = "per-batch soft scores averaged over batches, as the study's Keras metrics"


@dataclass(frozen=True)
class Counts:
    """Binary confusion counts (pixels).

    Attributes:
        tp: lake predicted, lake in truth.
        fp: lake predicted, no lake in truth.
        fn: no lake predicted, lake in truth.
        tn: no lake predicted, no lake in truth.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def pixels(self) -> int:
        """Number of scored pixels."""
        return self.tp + self.fp + self.fn + self.tn


def _ratio(num: np.ndarray, den: np.ndarray, empty: np.ndarray | float) -> np.ndarray:
    """``num / den`` where ``den > 0``, else ``empty`` (float64 arrays)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), empty)


def score_arrays(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    """Vectorised :func:`scores` over arrays of counts (same conventions).

    Args:
        tp, fp, fn, tn: integer arrays of one shape (e.g. one entry per image or threshold).

    Returns:
        Float64 arrays keyed by ``iou, dice, accuracy, precision, recall, f1``.
    """
    tp, fp, fn, tn = (np.asarray(a, dtype=np.int64) for a in (tp, fp, fn, tn))
    iou = _ratio(tp, tp + fp + fn, 1.0)
    dice = _ratio(2 * tp, 2 * tp + fp + fn, 1.0)
    precision = _ratio(tp, tp + fp, np.where(fn == 0, 1.0, 0.0))
    recall = _ratio(tp, tp + fn, np.where(fp == 0, 1.0, 0.0))
    accuracy = _ratio(tp + tn, tp + fp + fn + tn, 1.0)
    return {"iou": iou, "dice": dice, "accuracy": accuracy, "precision": precision,
            "recall": recall, "f1": dice.copy()}


def scores(counts: Counts) -> dict[str, float]:
    """Score one confusion matrix.

    ``iou = tp/(tp+fp+fn)``, ``dice = f1 = 2tp/(2tp+fp+fn)`` (identical for binary
    masks; both names kept), ``precision = tp/(tp+fp)``, ``recall = tp/(tp+fn)``,
    ``accuracy = (tp+tn)/pixels``. Empty denominators follow the module docstring:
    truth and prediction both empty -> 1.0; otherwise an empty denominator -> 0.0.

    Args:
        counts: confusion counts.

    Returns:
        ``{"iou", "dice", "accuracy", "precision", "recall", "f1"}`` as floats in [0, 1].
    """
    arrays = score_arrays(counts.tp, counts.fp, counts.fn, counts.tn)
    return {k: float(v) for k, v in arrays.items()}


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Torch tensor (any device/dtype) or array-like -> numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.float()  # bfloat16 has no numpy dtype
        return x.numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - report which argument
        raise InputError(f"{name}: cannot read {type(x).__name__} as an array; pass a tensor or ndarray") from exc


def _as_binary(x: Any, name: str) -> np.ndarray:
    """0/1 or bool input -> bool array; InputError on any other value."""
    a = _to_numpy(x, name)
    if a.dtype == np.bool_:
        return a
    bad = (a != 0) & (a != 1)
    if bad.any():
        raise InputError(
            f"{name} holds values other than 0 and 1 (e.g. {a[bad].flat[0].item()!r}); "
            "map masks to 0/1 (lake = 1) or threshold probabilities first"
        )
    return a.astype(bool)


def _as_maps(a: np.ndarray, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) -> (N, H, W), checked against ``shape``."""
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or (shape is not None and a.shape != shape):
        want = "(N, H, W)" if shape is None else f"{shape}"
        raise InputError(f"{name} has shape {a.shape}, expected {want}; pass one (H, W) map per image")
    return a


def count_confusion(pred: Any, truth: Any, valid: Any = None) -> Counts:
    """Count tp/fp/fn/tn between a predicted and a true mask.

    Args:
        pred: predicted lake mask, bool or 0/1, ndarray or tensor, any shape.
        truth: true lake mask, same shape, bool or 0/1.
        valid: optional bool mask of the same shape; False pixels are not counted.

    Returns:
        :class:`Counts` over the valid pixels.

    Raises:
        InputError: shapes differ or masks hold values other than 0/1.
    """
    p, t = _as_binary(pred, "pred"), _as_binary(truth, "truth")
    v = None if valid is None else _as_binary(valid, "valid")
    for name, a in (("truth", t), ("valid", v)):
        if a is not None and a.shape != p.shape:
            raise InputError(f"{name} has shape {a.shape}, pred {p.shape}; pass masks of one size")
    rows = image_counts(p.reshape(1, -1), t.reshape(1, -1), None if v is None else v.reshape(1, -1))
    return Counts(*(int(x) for x in rows[0, :4]))


IGNORE = -1
"""Target value torchmetrics skips (``ignore_index``): nodata pixels."""


def image_counts(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Per-image confusion counts with torchmetrics ``BinaryStatScores`` (samplewise).

    Args:
        pred: (N, ...) bool predicted lake.
        truth: (N, ...) bool true lake.
        valid: (N, ...) bool scored pixels, or None for all.

    Returns:
        (N, 5) int64: tp, fp, fn, tn, valid pixels.
    """
    import torch
    from torchmetrics.classification import BinaryStatScores

    target = torch.from_numpy(truth.reshape(len(truth), -1)).long()
    if valid is not None:
        target[~torch.from_numpy(valid.reshape(len(valid), -1))] = IGNORE
    # sync_on_compute=False: one process's images
    meter = BinaryStatScores(multidim_average="samplewise", ignore_index=IGNORE, sync_on_compute=False)
    meter.update(torch.from_numpy(pred.reshape(len(pred), -1)).long(), target)
    tp, fp, tn, fn, _ = meter.compute().reshape(-1, 5).numpy().astype(np.int64).T
    return np.stack([tp, fp, fn, tn, tp + fp + fn + tn], axis=1)


@dataclass(frozen=True)
class ThresholdCurve:
    """Scores of thresholded probabilities (``p > threshold``) for many thresholds.

    All attributes are 1-D arrays of one length, ascending in ``thresholds``;
    scores follow :func:`scores` conventions.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    iou: np.ndarray
    dice: np.ndarray

    def as_dict(self) -> dict[str, list[float]]:
        """Plain lists for JSON."""
        return {f.name: getattr(self, f.name).tolist() for f in fields(self)}


class _ThresholdHistogram:
    """Counts of lake / non-lake pixels between consecutive threshold edges.

    ``bin[i]`` holds pixels with ``edges[i-1] < p <= edges[i]`` (the number of
    edges strictly below ``p``), so ``p > edges[k]`` exactly when ``bin > k``:
    counts at every edge equal direct thresholding in float64, bit for bit.

    Args:
        edges: sorted unique float64 thresholds.
        uniform: if every edge but ``extra`` is ``k / uniform`` (k = 0..uniform),
            bins are found by arithmetic plus an exact correction instead of a
            binary search (about 3x faster).
        extra: the one edge off the uniform grid, or None.
    """

    def __init__(self, edges: np.ndarray, uniform: int | None = None, extra: float | None = None) -> None:
        self.edges = edges
        self.uniform = uniform
        self.extra = extra
        self.grid = None if uniform is None else np.arange(uniform + 1, dtype=np.float64) / uniform
        self.hist = np.zeros((len(edges) + 1, 2), dtype=np.int64)  # [:, 0] non-lake, [:, 1] lake

    def bin_index(self, p: np.ndarray) -> np.ndarray:
        """Number of edges strictly below each float64 probability in ``p`` (1-D)."""
        n = self.uniform
        if n is None or self.grid is None:  # the grid is set exactly when uniform is
            return np.searchsorted(self.edges, p, side="left")
        g = np.ceil(p * n).astype(np.intp)
        np.clip(g, 0, n, out=g)
        g -= (g > 0) & (self.grid[np.maximum(g - 1, 0)] >= p)  # guess one too high
        g += (g <= n) & (self.grid[np.minimum(g, n)] < p)  # guess one too low
        if self.extra is not None:
            g += p > self.extra
        return g

    def update(self, p: np.ndarray, t: np.ndarray) -> None:
        """Add float64 probabilities ``p`` with bool truth ``t`` (1-D, same length)."""
        idx = self.bin_index(p) * 2 + t
        self.hist += np.bincount(idx, minlength=self.hist.size).reshape(self.hist.shape)

    def curve(self) -> ThresholdCurve:
        # pixels with bin > k are predicted lake at edge k
        neg, pos = self.hist[:, 0], self.hist[:, 1]
        tp = pos.sum() - np.cumsum(pos)[:-1]
        fp = neg.sum() - np.cumsum(neg)[:-1]
        fn = pos.sum() - tp
        tn = neg.sum() - fp
        s = score_arrays(tp, fp, fn, tn)
        return ThresholdCurve(self.edges.copy(), tp, fp, fn, tn, s["precision"], s["recall"], s["iou"], s["dice"])


def _check_unit(value: Any, name: str) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if not ok:
        raise ConfigError(f"{name}={value!r} is not a number in [0, 1]; pass a probability threshold such as 0.5")
    return float(value)


def _prepare(probs: Any, target: Any, valid: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check and convert meter inputs to (N, H, W) float64 / bool / bool arrays."""
    p = _as_maps(_to_numpy(probs, "probs"), "probs", None).astype(np.float64, copy=False)
    t = _as_maps(_as_binary(target, "target"), "target", p.shape)
    v = None if valid is None else _as_maps(_as_binary(valid, "valid"), "valid", p.shape)
    if p.size:
        lo, hi = float(p.min()), float(p.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise InputError(
                f"probs range [{lo:.4g}, {hi:.4g}] is not within [0, 1] (or holds NaN); "
                "pass sigmoid(logits), not logits"
            )
    return p, t, v


def pr_curve(probs: Any, targets: Any, thresholds: Any, valid: Any = None) -> ThresholdCurve:
    """Precision, recall, IoU and Dice of ``probs > threshold`` for each threshold.

    Exact (no binning error): the thresholds themselves are the histogram edges.

    Args:
        probs: (N, H, W) or (N, 1, H, W) lake probabilities in [0, 1].
        targets: true masks of the same shape, 0/1.
        thresholds: thresholds in [0, 1]; returned sorted and de-duplicated.
        valid: optional bool mask of scored pixels.

    Returns:
        A :class:`ThresholdCurve`.
    """
    try:
        edges = np.unique(np.asarray(thresholds, dtype=np.float64).ravel())
    except (TypeError, ValueError):
        edges = np.array([np.nan])
    if edges.size == 0 or not (edges[0] >= 0.0 and edges[-1] <= 1.0):
        raise ConfigError(f"thresholds {thresholds!r} must be a non-empty list of numbers in [0, 1]")
    p, t, v = _prepare(probs, targets, valid)
    hist = _ThresholdHistogram(edges)
    hist.update(p.ravel() if v is None else p[v], t.ravel() if v is None else t[v])
    return hist.curve()

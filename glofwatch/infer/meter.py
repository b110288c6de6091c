"""The split-level metric accumulator: every reduction of :mod:`glofwatch.infer.metrics` at once.

Example:
    >>> meter = SegmentationMeter(threshold=0.5)
    >>> meter.update(torch.sigmoid(logits)[:, 0], masks, ids=names)  # doctest: +SKIP
    >>> meter.summary()["micro"]["iou"]  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError, InputError
from glofwatch.infer.metrics import (
    STUDY_NOTE,
    Counts,
    ThresholdCurve,
    _check_unit,
    _prepare,
    _ThresholdHistogram,
    image_counts,
    score_arrays,
    scores,
)


class SegmentationMeter:
    """Accumulate binary lake-mask metrics over a split, batch by batch.

    Args:
        threshold: a pixel is lake when ``prob > threshold`` (as torchmetrics).
        curve_bins: keep a histogram with thresholds ``k / curve_bins``
            (k = 0..curve_bins) plus ``threshold`` itself, for :meth:`curve`
            and :meth:`best_threshold`; None switches it off.
    """

    def __init__(self, threshold: float = 0.5, curve_bins: int | None = 100) -> None:
        self.threshold = _check_unit(threshold, "threshold")
        if curve_bins is not None and (isinstance(curve_bins, bool) or not isinstance(curve_bins, int)
                                       or curve_bins < 1):
            raise ConfigError(f"curve_bins={curve_bins!r} is not a positive integer; use e.g. 100, or None")
        self.curve_bins = curve_bins
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        self._image_counts: list[np.ndarray] = []  # (n, 5): tp, fp, fn, tn, valid pixels
        self._ids: list[str] = []
        self._batches: list[tuple[float, float, float, float]] = []
        self._hist = None
        if self.curve_bins is not None:
            grid = np.arange(self.curve_bins + 1, dtype=np.float64) / self.curve_bins
            extra = None if np.any(grid == self.threshold) else self.threshold
            edges = np.unique(np.append(grid, self.threshold))
            self._hist = _ThresholdHistogram(edges, uniform=self.curve_bins, extra=extra)

    def update(self, probs: Any, target: Any, ids: list[str] | None = None, valid: Any = None) -> None:
        """Add one batch.

        Args:
            probs: (N, H, W) or (N, 1, H, W) lake probabilities in [0, 1], tensor or ndarray.
            target: (N, H, W) or (N, 1, H, W) true masks, 0/1 or bool.
            ids: optional N image names (for the worst-image list); default ``#<index>``.
            valid: optional (N, H, W) bool, True where pixels are scored (nodata False).

        Raises:
            InputError: shapes differ, values are out of range, or ``ids`` has the wrong length.
        """
        p, t, v = _prepare(probs, target, valid)
        n = p.shape[0]
        if ids is None:
            start = len(self._ids)
            ids = [f"#{start + i}" for i in range(n)]
        elif len(ids) != n:
            raise InputError(f"got {len(ids)} ids for a batch of {n} images; pass one id per image")
        self._image_counts.append(image_counts(p > self.threshold, t, v))  # float64 p > t, as the histogram edges
        self._ids.extend(str(i) for i in ids)
        if v is not None:
            t = t & v

        # the study's Keras metrics on this batch: soft, smoothing 1, no threshold
        pv = p if v is None else np.where(v, p, 0.0)
        inter = float(pv[t].sum())  # sum(t * p); t is already False outside valid
        sum_t, sum_p = float(np.count_nonzero(t)), float(pv.sum())
        # Keras K.round rounds half to even, so round(x) = 1 exactly when x > 0.5
        above_half = pv > 0.5
        rounded_tp = float(np.count_nonzero(above_half & t))
        rounded_pred = float(np.count_nonzero(above_half))
        self._batches.append((
            (2.0 * inter + 1.0) / (sum_t + sum_p + 1.0),
            (inter + 1.0) / (sum_t + sum_p - inter + 1.0),
            rounded_tp / (rounded_pred + 1e-7),
            rounded_tp / (sum_t + 1e-7),
        ))
        if self._hist is not None:
            self._hist.update(p.ravel() if v is None else p[v], t.ravel() if v is None else t[v])

    def micro_counts(self) -> Counts:
        """One confusion matrix over every valid pixel seen so far."""
        if not self._image_counts:
            return Counts()
        total = np.concatenate(self._image_counts).sum(axis=0)
        return Counts(*(int(x) for x in total[:4]))

    def summary(self, n_worst: int = 5) -> dict[str, Any]:
        """All numbers, grouped by reduction (see the module docstring).

        Args:
            n_worst: how many lowest-IoU images to list.

        Returns:
            ``{"reduction_note", "threshold", "micro": {...}, "per_image": {...},
            "study_batch_soft": {...}}`` with plain floats and ints (JSON-ready).

        Raises:
            InputError: nothing was added with :meth:`update`.
        """
        if not self._batches:
            raise InputError("SegmentationMeter has no batches; call update() before summary()")
        c = self.micro_counts()
        micro: dict[str, Any] = scores(c)
        micro.update(tp=c.tp, fp=c.fp, fn=c.fn, tn=c.tn, pixels=c.pixels)

        per = np.concatenate(self._image_counts)
        scored = per[:, 4] > 0
        s = score_arrays(per[scored, 0], per[scored, 1], per[scored, 2], per[scored, 3])
        ids = [i for i, keep in zip(self._ids, scored, strict=True) if keep]
        order = np.argsort(s["iou"], kind="stable")[:n_worst]
        empty = None  # no scored image: JSON null rather than NaN
        per_image = {
            "iou_mean": float(s["iou"].mean()) if ids else empty,
            "iou_median": float(np.median(s["iou"])) if ids else empty,
            "dice_mean": float(s["dice"].mean()) if ids else empty,
            "n_images": len(ids),
            "n_empty_truth": int(np.count_nonzero(per[scored, 0] + per[scored, 2] == 0)),
            "n_no_valid": int(np.count_nonzero(~scored)),
            "worst": [{"id": ids[i], "iou": float(s["iou"][i])} for i in order],
        }
        b = np.asarray(self._batches)
        study = {"dice": float(b[:, 0].mean()), "iou": float(b[:, 1].mean()),
                 "precision": float(b[:, 2].mean()), "recall": float(b[:, 3].mean()),
                 "n_batches": len(b), "note": STUDY_NOTE}
        note = (
            f"micro: one confusion matrix over all valid pixels, lake = prob > {self.threshold:g} "
            "(primary numbers); per_image: scores per image, then mean/median over images "
            "(images with no valid pixel skipped); study_batch_soft: " + STUDY_NOTE +
            " (depends on batch size; not comparable with micro)"
        )
        return {"reduction_note": note, "threshold": self.threshold, "micro": micro,
                "per_image": per_image, "study_batch_soft": study}

    def curve(self) -> ThresholdCurve:
        """Scores at every histogram threshold (exact at each; see ``curve_bins``).

        Raises:
            ConfigError: the meter was built with ``curve_bins=None``.
        """
        if self._hist is None:
            raise ConfigError("this SegmentationMeter was built with curve_bins=None; pass curve_bins=100")
        return self._hist.curve()

    def best_threshold(self, metric: str = "iou") -> tuple[float, float]:
        """Threshold that maximises ``metric`` over :meth:`curve` (micro counts).

        Ties go to the threshold nearest the meter's own ``threshold``.

        Args:
            metric: ``iou``, ``dice`` or ``f1``.

        Returns:
            ``(threshold, score)``.
        """
        allowed = ("iou", "dice", "f1")
        if metric not in allowed:
            close = difflib.get_close_matches(metric, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"cannot pick a threshold by '{metric}'{hint} (choose from: {', '.join(allowed)})")
        cur = self.curve()
        values = cur.dice if metric in ("dice", "f1") else cur.iou
        best = np.flatnonzero(values == values.max())
        k = best[np.argmin(np.abs(cur.thresholds[best] - self.threshold))]
        return float(cur.thresholds[k]), float(values[k])

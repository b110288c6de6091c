"""Training curves (loss and IoU per epoch) and precision-recall curves over thresholds, as PNG.

Both figures have a fixed pixel size (:data:`CURVE_SIZE_PX`). Curves are drawn
with matplotlib's object API on the Agg canvas (no pyplot, no display).

Example:
    >>> save_training_curves("runs/unet/metrics.csv", "out/training_curves.png")  # doctest: +SKIP
    >>> save_pr_curve(meter.curve(), "out/pr_curve.png", threshold=0.5)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glofwatch.errors import InputError
from glofwatch.io.atomic import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from glofwatch.infer.metrics import ThresholdCurve

DPI = 100
CURVE_SIZE_PX = (1000, 380)
"""(width, height) of every curve figure in pixels."""

LOSS_COLUMNS = ("train_loss", "val_loss")
IOU_COLUMNS = ("train_iou", "val_iou")


def read_metrics_csv(path: str | Path) -> list[dict[str, float | None]]:
    """Rows of a run's ``metrics.csv`` as floats (empty cells and text -> None).

    Args:
        path: the CSV file, or a run folder holding ``metrics.csv``.

    Raises:
        InputError: no such file, or no row in it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise InputError(f"{path}: no metrics.csv; training curves need a run folder written by `glofwatch train`")
    rows: list[dict[str, float | None]] = []
    with path.open(newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, float | None] = {}
            for key, value in raw.items():
                try:
                    v = float(value) if value not in (None, "") else None
                except ValueError:
                    v = None
                row[key] = v if v is None or math.isfinite(v) else None
            rows.append(row)
    if not rows:
        raise InputError(f"{path}: metrics.csv has no epoch rows yet; train at least one epoch")
    return rows


def _new_figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w, h = CURVE_SIZE_PX
    fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _series(rows: list[dict[str, float | None]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and values of column ``key`` where it has a value."""
    pts = [(r.get("epoch") or i + 1, r[key]) for i, r in enumerate(rows) if r.get(key) is not None]
    if not pts:
        return np.array([]), np.array([])
    e, v = zip(*pts, strict=True)
    return np.asarray(e, dtype=float), np.asarray(v, dtype=float)


def training_curves_png(rows: list[dict[str, float | None]], title: str = "") -> bytes:
    """Loss (train, val) and IoU (train, val) per epoch, two plots side by side -> PNG bytes.

    Args:
        rows: rows of ``metrics.csv`` (:func:`read_metrics_csv`); columns that
            are missing are left out of the plot.
        title: figure title (e.g. the run name).
    """
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure()
    axes = fig.subplots(1, 2)
    for ax, columns, label in ((axes[0], LOSS_COLUMNS, "loss"), (axes[1], IOU_COLUMNS, "IoU (dataset-level)")):
        drawn = 0
        for key, style in zip(columns, ("-o", "-s"), strict=True):
            e, v = _series(rows, key)
            if e.size:
                ax.plot(e, v, style, markersize=3, label=key.replace("_", " ").replace("iou", "IoU"))
                drawn += 1
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(loc="best", fontsize=9)
        else:
            ax.text(0.5, 0.5, f"no {label} in metrics.csv", ha="center", va="center", transform=ax.transAxes)
    axes[1].set_ylim(0, 1)
    epochs = [r.get("epoch") or i + 1 for i, r in enumerate(rows)]
    if len(epochs) <= 12:  # ticks on whole epochs; one or two points kept off the frame
        for ax in axes:
            ax.set_xticks(sorted(set(epochs)))
            if len(epochs) < 3:
                ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    fig.suptitle(title or "training curves", fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.86, wspace=0.22)
    return _png(fig)


def save_training_curves(metrics_csv: str | Path, out: str | Path, title: str = "") -> Path:
    """Read ``metrics.csv`` (or a run folder) and write the training curves PNG atomically."""
    return write_bytes_atomic(out, training_curves_png(read_metrics_csv(metrics_csv), title))


def pr_curve_png(curve: ThresholdCurve, threshold: float | None = None, title: str = "") -> bytes:
    """Precision-recall curve (left) and precision, recall, IoU against the threshold (right) -> PNG bytes.

    Thresholds at which no pixel is predicted lake are left out of the
    precision-recall plot (precision is undefined there).

    Args:
        curve: scores per threshold (:meth:`SegmentationMeter.curve`).
        threshold: the model's operating threshold, marked on both plots.
        title: figure title.
    """
    fig = _new_figure()
    ax_pr, ax_t = fig.subplots(1, 2)
    t = np.asarray(curve.thresholds, dtype=float)
    predicted = (np.asarray(curve.tp) + np.asarray(curve.fp)) > 0
    ax_pr.plot(curve.recall[predicted], curve.precision[predicted], "-", color="tab:blue")
    ax_pr.set_xlabel("recall")
    ax_pr.set_ylabel("precision")
    ax_pr.set_xlim(0, 1.02)
    ax_pr.set_ylim(0, 1.02)
    ax_pr.grid(alpha=0.3)
    ax_pr.set_title("precision-recall (lake pixels)", fontsize=10)
    for name, values, colour in (("precision", curve.precision, "tab:blue"), ("recall", curve.recall, "tab:orange"),
                                 ("IoU", curve.iou, "tab:green")):
        ax_t.plot(t, values, "-", label=name, color=colour)
    ax_t.set_xlabel("probability threshold")
    ax_t.set_ylim(0, 1.02)
    ax_t.set_xlim(0, 1)
    ax_t.grid(alpha=0.3)
    ax_t.set_title("scores against the threshold", fontsize=10)
    if threshold is not None and t.size:
        k = int(np.argmin(np.abs(t - threshold)))
        if predicted[k]:
            ax_pr.plot([curve.recall[k]], [curve.precision[k]], "o", color="black",
                       label=f"threshold {threshold:g}")
            ax_pr.legend(loc="lower left", fontsize=9)
        ax_t.axvline(threshold, color="black", lw=0.8, ls="--", label=f"threshold {threshold:g}")
        best = int(np.argmax(curve.iou))
        ax_t.plot([t[best]], [curve.iou[best]], "v", color="tab:green", label=f"best IoU at {t[best]:.2f}")
    ax_t.legend(loc="lower left", fontsize=9)
    fig.suptitle(title or "precision and recall over thresholds", fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.84, wspace=0.22)
    return _png(fig)


def save_pr_curve(curve: ThresholdCurve, out: str | Path, threshold: float | None = None, title: str = "") -> Path:
    """Write :func:`pr_curve_png` atomically."""
    return write_bytes_atomic(out, pr_curve_png(curve, threshold, title))

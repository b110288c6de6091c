"""The study's 5-panel figure (image, ground truth, prediction, overlay, Grad-CAM) and grids of them.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot,
no display) at a fixed size and dpi, so their pixel size depends only on the
number of rows: :func:`figure_size_px` gives it.

* panel figure: one row of 5 panels under a header line (image id, IoU);
* grid figure: column titles once, then one row per image with its header line.

When the truth is unknown, the ground-truth panel is a grey placeholder that
says "no ground truth" (the four image panels keep their places, so grids of
images with and without truth line up).

Example:
    >>> item = ExplainedImage("img_1", rgb, pred, heat, truth=truth, iou=0.81)  # doctest: +SKIP
    >>> save_panel_figure("out/img_1_panel.png", item)  # doctest: +SKIP
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glofwatch.explain.heatmap import blend_heatmap
from glofwatch.io.atomic import write_bytes_atomic
from glofwatch.io.image import make_overlay

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DPI = 100
PANEL_PX = 256  # side of one square panel
GAP_PX = 8  # between panels and at the edges
TITLE_PX = 40  # band for the column titles (title and a smaller line under it)
HEADER_PX = 24  # band for one row's header line (image id, IoU)
COLUMNS = ("Image", "Ground truth", "Prediction", "Overlay", "Grad-CAM")
SUBTITLES = ("", "reference mask", "model mask", "cyan: model, yellow: truth", "evidence for lake: blue low, red high")
MAX_GRID_ROWS = 40
"""A grid shows at most this many images (taller PNGs are unwieldy)."""

_BG = "white"
_NO_TRUTH_GREY = (0.85, 0.85, 0.85)


@dataclass
class ExplainedImage:
    """Everything one row of the figure shows.

    Attributes:
        id: image name (file stem).
        rgb: (H, W, 3) uint8 display rendering of the image.
        pred: (H, W) uint8 {0, 1} predicted lake mask.
        heatmap: (H, W) float32 Grad-CAM map in [0, 1].
        truth: (H, W) uint8 {0, 1} reference mask, or None when unknown.
        iou: IoU of ``pred`` against ``truth`` (None when no truth).
        note: extra text for the header line (e.g. "worst IoU").
        cam_note: what the Grad-CAM explains, when not the predicted lake
            (e.g. "Grad-CAM of the top 1 % pixels: no lake predicted").
    """

    id: str
    rgb: np.ndarray
    pred: np.ndarray
    heatmap: np.ndarray
    truth: np.ndarray | None = None
    iou: float | None = None
    note: str = ""
    cam_note: str = ""

    def header(self) -> str:
        """The row's header line."""
        parts = [self.id]
        if self.truth is not None and self.iou is not None:
            parts.append(f"IoU {100 * self.iou:.1f} %")
        elif self.truth is None:
            parts.append("no ground truth")
        parts.append(f"{int(self.pred.sum())} lake px predicted")
        if self.note:
            parts.append(self.note)
        if self.cam_note:
            parts.append(self.cam_note)
        return "  ·  ".join(parts)


def figure_size_px(n_rows: int) -> tuple[int, int]:
    """(width, height) in pixels of a figure with ``n_rows`` rows of panels.

    ``n_rows=1`` is the panel figure; grids have one row per image.
    """
    width = len(COLUMNS) * PANEL_PX + (len(COLUMNS) + 1) * GAP_PX
    height = TITLE_PX + n_rows * (HEADER_PX + PANEL_PX + GAP_PX) + GAP_PX
    return width, height


def mask_image(mask: np.ndarray) -> np.ndarray:
    """A {0, 1} mask as a uint8 RGB picture: lake white on black."""
    g = (mask.astype(bool) * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def panel_images(item: ExplainedImage, cmap: str = "jet") -> list[np.ndarray | None]:
    """The five pictures of a row (None for the missing truth)."""
    overlay = make_overlay(item.rgb, item.pred, item.truth)
    return [
        item.rgb,
        None if item.truth is None else mask_image(item.truth),
        mask_image(item.pred),
        overlay,
        blend_heatmap(item.rgb, item.heatmap, cmap=cmap),
    ]


def _show(ax: Axes, picture: np.ndarray | None) -> None:
    ax.set_axis_off()
    if picture is None:
        ax.add_patch(_grey_rect(ax))
        ax.text(0.5, 0.5, "no ground truth", ha="center", va="center", fontsize=11, color="0.3",
                transform=ax.transAxes)
        return
    ax.imshow(picture, interpolation="antialiased")


def _grey_rect(ax: Axes):  # noqa: ANN202 - matplotlib patch
    from matplotlib.patches import Rectangle

    return Rectangle((0, 0), 1, 1, transform=ax.transAxes, facecolor=_NO_TRUTH_GREY, edgecolor="none")


def render_figure(items: list[ExplainedImage], cmap: str = "jet") -> bytes:
    """Draw rows of 5 panels and return the PNG bytes (size: :func:`figure_size_px`).

    Args:
        items: one :class:`ExplainedImage` per row (at least one).
        cmap: colormap of the Grad-CAM panel.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not items:
        raise ValueError("render_figure needs at least one image")
    w_px, h_px = figure_size_px(len(items))
    fig = Figure(figsize=(w_px / DPI, h_px / DPI), dpi=DPI, facecolor=_BG)
    FigureCanvasAgg(fig)
    for col, (title, sub) in enumerate(zip(COLUMNS, SUBTITLES, strict=True)):
        x = (GAP_PX + col * (PANEL_PX + GAP_PX) + PANEL_PX / 2) / w_px
        fig.text(x, 1 - 13 / h_px, title, ha="center", va="center", fontsize=11, fontweight="bold")
        fig.text(x, 1 - 31 / h_px, sub, ha="center", va="center", fontsize=8.5, color="0.35")
    for row, item in enumerate(items):
        top = TITLE_PX + row * (HEADER_PX + PANEL_PX + GAP_PX)
        fig.text(GAP_PX / w_px, 1 - (top + HEADER_PX / 2) / h_px, item.header(), ha="left", va="center", fontsize=9.5)
        panel_top = top + HEADER_PX
        for col, picture in enumerate(panel_images(item, cmap)):
            left = GAP_PX + col * (PANEL_PX + GAP_PX)
            ax = fig.add_axes((left / w_px, 1 - (panel_top + PANEL_PX) / h_px, PANEL_PX / w_px, PANEL_PX / h_px))
            _show(ax, picture)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor=_BG)
    return buf.getvalue()


def save_panel_figure(path: str | Path, item: ExplainedImage, cmap: str = "jet") -> Path:
    """Write the 5-panel figure of one image as PNG, atomically."""
    return write_bytes_atomic(path, render_figure([item], cmap=cmap))


def save_grid_figure(path: str | Path, items: list[ExplainedImage], cmap: str = "jet") -> Path:
    """Write a grid (rows = images, columns = the 5 panels) as PNG, atomically.

    At most :data:`MAX_GRID_ROWS` images are drawn (the first ones); the
    caller says so to the user.
    """
    return write_bytes_atomic(path, render_figure(items[:MAX_GRID_ROWS], cmap=cmap))

"""Error analysis users need to trust a lake model: where false alarms sit, which lakes are missed.

False-positive pixels (predicted lake, not lake in the truth) are classed by
what they sit on, from the display colour (8-bit true colour) of the pixel
with simple HSV rules, applied in this order (first match wins):

=============  ===============================================================
class          rule (V = max(R, G, B) / 255, S = (max - min) / max)
=============  ===============================================================
shadow         V < 0.25: dark pixels (terrain and cloud shadow, dark rock)
cloud          V >= 0.70, S < 0.10 and the local spread of V (std in a 5x5
               window) < 0.03: bright, colourless and smooth
snow/ice       V >= 0.55 and (S < 0.12, or blue >= red and S < 0.35):
               bright white to pale blue
other          everything else (soil, rock, vegetation, rivers, debris, ...)
=============  ===============================================================

How far to trust the classes (checked on 40 synthetic 192 px crops, whose
renderer knows the cast shadows, snow cover and cloud opacity of every
pixel): shadow finds 80 % of shadowed pixels (60 % of pixels it names are
shadow); "other" is right for 97 % of its pixels. Cloud and snow cannot be
told apart from 8-bit true colour: both saturate to white (255, 255, 255),
so most sunlit snow lands in "cloud" and the split between the two is not
meaningful; read "cloud" + "snow/ice" together as *bright white surfaces*.
On cloud-free crops (as in the study's data set) "cloud" is mostly snow. Each class's count is also given
as a rate: the share of all valid pixels of that class that the model calls
lake ("the model calls 2 % of shadow pixels lake").

Missed lakes by size: each lake (4-connected, :mod:`glofwatch.connectivity`) of the truth
is one lake; it counts as *found* when at least :data:`FOUND_FRACTION` (50 %)
of its pixels are predicted lake. Recall per size bin = found / lakes. Areas
assume Sentinel-2's 10 m pixels (``pixel_size_m``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from glofwatch.connectivity import label_lakes

SURFACE_CLASSES = ("shadow", "snow/ice", "cloud", "other")
SHADOW_V = 0.25
CLOUD_V, CLOUD_S, CLOUD_STD = 0.70, 0.10, 0.03
SNOW_V, SNOW_WHITE_S, SNOW_S = 0.55, 0.12, 0.35
FOUND_FRACTION = 0.5
MIN_RATE_PIXELS = 100
"""A surface needs this many non-lake pixels before the summary quotes its false-alarm rate."""
SIZE_BINS_PX = (0, 25, 100, 500, 2500)
"""Lower edges of the lake size bins in pixels (the last bin is open); 25 px = 0.0025 km2 at 10 m."""


def classify_surface(rgb: np.ndarray) -> np.ndarray:
    """Surface class of every pixel from its display colour (rules in the module docstring).

    Args:
        rgb: (H, W, 3) uint8 true-colour rendering.

    Returns:
        (H, W) int8 index into :data:`SURFACE_CLASSES`.
    """
    x = rgb.astype(np.float32) / 255.0
    v = x.max(axis=-1)
    s = np.where(v > 0, (v - x.min(axis=-1)) / np.maximum(v, 1e-6), 0.0)
    mean = ndimage.uniform_filter(v, size=5, mode="reflect")
    spread = np.sqrt(np.maximum(ndimage.uniform_filter(v * v, size=5, mode="reflect") - mean * mean, 0.0))
    out = np.full(v.shape, SURFACE_CLASSES.index("other"), dtype=np.int8)
    snow = (v >= SNOW_V) & ((s < SNOW_WHITE_S) | ((x[..., 2] >= x[..., 0]) & (s < SNOW_S)))
    cloud = (v >= CLOUD_V) & (s < CLOUD_S) & (spread < CLOUD_STD)
    out[snow] = SURFACE_CLASSES.index("snow/ice")
    out[cloud] = SURFACE_CLASSES.index("cloud")
    out[v < SHADOW_V] = SURFACE_CLASSES.index("shadow")
    return out


def size_bin_labels(pixel_size_m: float = 10.0) -> list[str]:
    """Human labels of :data:`SIZE_BINS_PX` with areas in km2."""
    km2 = (pixel_size_m**2) / 1e6
    edges = list(SIZE_BINS_PX)
    labels = []
    for i, lo in enumerate(edges):
        if i + 1 < len(edges):
            hi = edges[i + 1]
            labels.append(f"{lo}-{hi - 1} px (< {hi * km2:.4g} km2)")
        else:
            labels.append(f">= {lo} px (>= {lo * km2:.4g} km2)")
    return labels


@dataclass
class ErrorAnalysis:
    """Accumulate false positives by surface and lake recall by size over many images.

    Args:
        pixel_size_m: ground size of a pixel, for the km2 labels.
    """

    pixel_size_m: float = 10.0
    fp_by_class: np.ndarray = field(default_factory=lambda: np.zeros(len(SURFACE_CLASSES), np.int64))
    pixels_by_class: np.ndarray = field(default_factory=lambda: np.zeros(len(SURFACE_CLASSES), np.int64))
    lakes_by_bin: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_BINS_PX), np.int64))
    found_by_bin: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_BINS_PX), np.int64))
    fn_pixels: int = 0
    tp_pixels: int = 0
    n_images: int = 0
    missed_examples: list[tuple[str, int]] = field(default_factory=list)

    def update(self, rgb: np.ndarray, pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None,
               image_id: str = "") -> None:
        """Add one image.

        Args:
            rgb: (H, W, 3) uint8 display rendering.
            pred: (H, W) {0, 1} predicted mask.
            truth: (H, W) {0, 1} reference mask.
            valid: optional (H, W) bool; nodata pixels are ignored.
            image_id: name used in the list of missed lakes.
        """
        p, t = pred.astype(bool), truth.astype(bool)
        v = np.ones_like(p) if valid is None else valid.astype(bool)
        p, t = p & v, t & v
        surface = classify_surface(rgb)
        fp = p & ~t
        self.fp_by_class += np.bincount(surface[fp], minlength=len(SURFACE_CLASSES))
        self.pixels_by_class += np.bincount(surface[v & ~t], minlength=len(SURFACE_CLASSES))
        self.tp_pixels += int((p & t).sum())
        self.fn_pixels += int((t & ~p).sum())
        labels, n = label_lakes(t)
        if n:
            sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
            hits = np.bincount(labels[p].ravel(), minlength=n + 1)[1:]
            found = hits >= FOUND_FRACTION * sizes
            bins = np.searchsorted(SIZE_BINS_PX, sizes, side="right") - 1
            self.lakes_by_bin += np.bincount(bins, minlength=len(SIZE_BINS_PX))
            self.found_by_bin += np.bincount(bins[found], minlength=len(SIZE_BINS_PX))
            for size in sizes[~found]:
                self.missed_examples.append((image_id, int(size)))
        self.n_images += 1

    def summary(self) -> dict[str, Any]:
        """Numbers for the report (JSON-ready)."""
        fp_total = int(self.fp_by_class.sum())
        classes = []
        for i, name in enumerate(SURFACE_CLASSES):
            n, px = int(self.fp_by_class[i]), int(self.pixels_by_class[i])
            classes.append({"class": name, "fp_pixels": n, "share_of_fp": n / fp_total if fp_total else None,
                            "class_pixels": px, "rate": n / px if px else None})
        bins = []
        bin_labels = size_bin_labels(self.pixel_size_m)
        for label, lakes, found in zip(bin_labels, self.lakes_by_bin, self.found_by_bin, strict=True):
            bins.append({"bin": label, "lakes": int(lakes), "found": int(found),
                         "recall": int(found) / int(lakes) if lakes else None})
        lakes = int(self.lakes_by_bin.sum())
        return {
            "n_images": self.n_images,
            "fp_pixels": fp_total,
            "fn_pixels": self.fn_pixels,
            "tp_pixels": self.tp_pixels,
            "fp_by_surface": classes,
            "lakes": lakes,
            "lakes_found": int(self.found_by_bin.sum()),
            "lake_recall": int(self.found_by_bin.sum()) / lakes if lakes else None,
            "recall_by_size": bins,
            "found_rule": f"a lake is found when >= {FOUND_FRACTION:.0%} of its pixels are predicted lake",
            "largest_missed": [{"image": i, "pixels": n}
                               for i, n in sorted(self.missed_examples, key=lambda m: -m[1])[:5]],
        }


def _pct(x: float | None) -> str:
    """Percent with one decimal below 10 % (so small rates do not read as 0 %), else none."""
    if x is None:
        return "n/a"
    return f"{100 * x:.1f} %" if 100 * x < 10 else f"{100 * x:.0f} %"


def _lakes(n: int) -> str:
    return f"{n} lake" if n == 1 else f"{n} lakes"


def summary_text(s: dict[str, Any], iou: float | None = None) -> list[str]:
    """A few plain sentences written from :meth:`ErrorAnalysis.summary` numbers.

    Args:
        s: the summary dict.
        iou: dataset-level IoU to open with, if known.
    """
    out = []
    if iou is not None:
        out.append(f"Over {s['n_images']} images the model reaches a dataset-level IoU of {100 * iou:.1f} %.")
    lake_px = s["tp_pixels"] + s["fn_pixels"]
    if lake_px:
        out.append(
            f"It labels {s['tp_pixels'] + s['fp_pixels']:,} pixels as lake against {lake_px:,} lake pixels in the "
            f"reference: {s['fp_pixels']:,} false-alarm pixels and {s['fn_pixels']:,} missed lake pixels."
        )
    if s["fp_pixels"]:
        ranked = sorted((c for c in s["fp_by_surface"] if c["fp_pixels"]), key=lambda c: -c["fp_pixels"])
        parts = [f"{c['class']} {_pct(c['share_of_fp'])}" for c in ranked]
        top = ranked[0]
        out.append(
            "False alarms sit on " + ", ".join(parts) + f"; the most common is {top['class']}, where the model "
            f"calls {_pct(top['rate'])} of such non-lake pixels lake."
        )
        common = [c for c in s["fp_by_surface"] if c["rate"] is not None and c["class_pixels"] >= MIN_RATE_PIXELS]
        risky = max(common, key=lambda c: c["rate"], default=None)
        if risky is not None and risky["class"] != top["class"] and risky["rate"] > 2 * (top["rate"] or 0):
            out.append(
                f"For its area, {risky['class']} is the riskiest surface: the model calls {_pct(risky['rate'])} "
                f"of non-lake {risky['class']} pixels lake."
            )
    else:
        out.append("The model raised no false-alarm pixels on these images.")
    bins = [b for b in s["recall_by_size"] if b["lakes"]]
    if bins:
        small, large = bins[0], bins[-1]
        text = (f"It finds {s['lakes_found']} of {s['lakes']} reference lakes ({_pct(s['lake_recall'])}; "
                f"{s['found_rule']})")
        if len(bins) > 1:
            text += (f": {_pct(small['recall'])} of the smallest ({small['bin']}, {_lakes(small['lakes'])}) "
                     f"and {_pct(large['recall'])} of the largest ({large['bin']}, {_lakes(large['lakes'])})")
        out.append(text + ".")
        weak = [b for b in bins if b["recall"] is not None and b["recall"] < 0.5 and b["lakes"] >= 3]
        if weak:
            out.append("Treat lakes " + " and ".join(b["bin"] for b in weak) +
                       " with care: the model misses more than half of them.")
    return out

"""Binary lake masks -> YOLO segmentation polygons, and back.

One polygon per lake (4-connected pixels, :mod:`glofwatch.connectivity`).
Polygon vertices are the centres of the lake's boundary pixels, the
convention ultralytics uses when it rasterises polygons with
``cv2.fillPoly``, so :func:`polygons_to_mask` gives the mask back.

Holes (islands, rock bars inside a lake): a YOLO polygon is one ring and
cannot carry a hole. ``holes="bridge"`` (default) joins each hole to the
outer ring with a zero-width cut: the ring runs to the nearest point of the
hole, around the hole the other way, and back along the same line. Filled
with ``cv2.fillPoly`` the hole stays empty; only the cut line, which runs
through lake pixels, is drawn. ``holes="fill"`` drops the holes (islands
become lake) and counts them in :attr:`LabelStats.holes_filled`.

Specks: connected lakes smaller than ``min_area_px`` pixels are dropped and
counted in :attr:`LabelStats.specks_dropped` (and their pixels in
``speck_pixels``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from glofwatch.connectivity import LAKE_CONNECTIVITY
from glofwatch.errors import ConfigError

HOLE_MODES = ("bridge", "fill")


@dataclass
class LabelStats:
    """Counts from converting masks to polygons.

    Attributes:
        images: masks converted.
        empty_images: masks with no lake left (YOLO "backgrounds").
        lakes: polygons written (one per connected lake).
        specks_dropped: connected lakes below ``min_area_px`` left out.
        speck_pixels: lake pixels in those specks.
        holes_bridged: holes joined to their outer ring with a zero-width cut.
        holes_filled: holes dropped (``holes="fill"``).
    """

    images: int = 0
    empty_images: int = 0
    lakes: int = 0
    specks_dropped: int = 0
    speck_pixels: int = 0
    holes_bridged: int = 0
    holes_filled: int = 0

    def add(self, other: LabelStats) -> None:
        """Add ``other``'s counts to these."""
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def to_dict(self) -> dict[str, int]:
        """Plain dict."""
        return asdict(self)


def _bridge(ring: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Join ``hole`` (M, 2) into ``ring`` (N, 2) at their closest vertices."""
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(ring).query(hole)
    j = int(np.argmin(dist))
    i = int(idx[j])
    # ring[..i], hole[j..] + hole[..j] (closing the hole), back to ring[i..]
    return np.concatenate([ring[: i + 1], hole[j:], hole[: j + 1], ring[i:]], axis=0)


def mask_to_polygons(
    mask: np.ndarray, min_area_px: int = 4, holes: str = "bridge"
) -> tuple[list[np.ndarray], LabelStats]:
    """Polygons of the connected lakes of one mask.

    Args:
        mask: (H, W) array, lake where > 0.
        min_area_px: connected lakes with fewer pixels are dropped (and counted).
        holes: "bridge" or "fill" (see module docs).

    Returns:
        (polygons, stats): polygons as float64 (K, 2) arrays of (x = column,
        y = row) pixel-centre coordinates, one per kept lake; stats counts
        lakes, specks and holes (``images`` is 1).

    Example:
        >>> m = np.zeros((8, 8), np.uint8); m[2:5, 2:6] = 1
        >>> polys, stats = mask_to_polygons(m)
        >>> len(polys), stats.lakes
        (1, 1)
    """
    import cv2

    if holes not in HOLE_MODES:
        raise ConfigError(f"holes={holes!r} is not allowed; use one of {', '.join(HOLE_MODES)}")
    if mask.ndim != 2:
        raise ConfigError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    stats = LabelStats(images=1)
    polygons: list[np.ndarray] = []
    n, labels, comp, _ = cv2.connectedComponentsWithStats(binary, connectivity=LAKE_CONNECTIVITY)
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in comp[k])
        if area < min_area_px:
            stats.specks_dropped += 1
            stats.speck_pixels += area
            continue
        # the component alone, with a 1-pixel frame so border lakes close their rings
        crop = np.zeros((h + 2, w + 2), np.uint8)
        crop[1:-1, 1:-1] = labels[y : y + h, x : x + w] == k
        contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
        outer = [c for c, hi in zip(contours, hierarchy[0], strict=True) if hi[3] < 0]
        inner = [c for c, hi in zip(contours, hierarchy[0], strict=True) if hi[3] >= 0]
        ring = max(outer, key=len)[:, 0, :].astype(np.float64)
        if holes == "bridge":
            rest = [c[:, 0, :].astype(np.float64) for c in inner]
            while rest:  # nearest hole first, so a cut never crosses a hole not yet joined
                d = [float(np.min(np.linalg.norm(r[:, None, :] - ring[None, ::max(1, len(ring) // 256), :], axis=-1)))
                     for r in rest]
                ring = _bridge(ring, rest.pop(int(np.argmin(d))))
                stats.holes_bridged += 1
        else:
            stats.holes_filled += len(inner)
        ring += np.array([x - 1, y - 1], dtype=np.float64)
        polygons.append(ring)
    stats.lakes = len(polygons)
    stats.empty_images = int(not polygons)
    return polygons, stats


def polygons_to_mask(polygons: list[np.ndarray], height: int, width: int, normalized: bool = False) -> np.ndarray:
    """Rasterise polygons as ultralytics does (``cv2.fillPoly`` on pixel centres).

    Args:
        polygons: (K, 2) arrays of (x, y); pixel coordinates, or fractions of
            width/height when ``normalized``.
        height: mask height in pixels.
        width: mask width in pixels.
        normalized: coordinates are in [0, 1].

    Returns:
        (H, W) uint8 mask, 1 = inside any polygon.
    """
    import cv2

    out = np.zeros((height, width), np.uint8)
    scale = np.array([width, height], dtype=np.float64) if normalized else np.ones(2)
    for poly in polygons:
        canvas = np.zeros_like(out)
        pts = np.round(np.asarray(poly, dtype=np.float64) * scale).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 1)
        out |= canvas
    return out


def format_label_lines(polygons: list[np.ndarray], height: int, width: int, class_id: int = 0) -> str:
    """YOLO segmentation label text: ``class x1 y1 x2 y2 ...`` per polygon, coordinates in [0, 1].

    Args:
        polygons: (K, 2) pixel-coordinate arrays from :func:`mask_to_polygons`.
        height: image height in pixels.
        width: image width in pixels.
        class_id: class index (0 = lake).

    Returns:
        The file text ("" for an image without lakes).
    """
    lines = []
    for poly in polygons:
        xy = np.asarray(poly, dtype=np.float64) / np.array([width, height])
        xy = np.clip(xy, 0.0, 1.0)
        if len(xy) < 3:  # a one- or two-pixel lake: repeat points so it stays a polygon
            xy = np.concatenate([xy] * 3, axis=0)[:3]
        lines.append(f"{class_id} " + " ".join(f"{v:.6f}" for v in xy.ravel()))
    return "\n".join(lines) + ("\n" if lines else "")


def parse_label_lines(text: str) -> list[np.ndarray]:
    """Polygons (normalised (K, 2) arrays) from YOLO segmentation label text."""
    polys = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 7:
            continue
        polys.append(np.array([float(v) for v in parts[1:]], dtype=np.float64).reshape(-1, 2))
    return polys


def label_summary(stats: LabelStats, min_area_px: int, holes: str) -> dict[str, Any]:
    """Stats plus the settings that produced them (stored in the cache manifest)."""
    return {**stats.to_dict(), "min_area_px": min_area_px, "holes": holes}

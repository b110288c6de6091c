"""Window screening: skip the tiles that cannot hold a lake before the network sees them.

A pixel is a **lake candidate** when it

1. has data (not nodata / NaN),
2. is observed (the SCL, when used, does not call it cloud, cloud shadow or cirrus:
   such pixels get mask value 2 whatever the network says),
3. is flat enough (with a DEM: slope at most ``max_slope``; the terrain rule turns
   steeper lake pixels into "not lake" anyway; unknown slope counts as flat), and
4. looks like water (with a green and a near-infrared band: McFeeters' NDWI
   ``(B03 - B08) / (B03 + B08)`` above ``ndwi_min``, :data:`DEFAULT_NDWI_MIN`), in a
   patch of at least ``min_patch`` such pixels (4-connected, :data:`DEFAULT_MIN_PATCH`;
   patches touching the top or bottom of the strip are kept whatever their size, as the
   rest of them may lie in the next strip).

A tile goes through the network when at least ``min_pixels`` of its pixels are
candidates; the others are skipped, and their pixels get probability 0 and mask 0
("not lake") unless a run tile also covers them. Rules 1-3 never change the mask
(the pixels they exclude can never be lake in it); rule 4 is the only one that
can cost recall, and ``glofwatch bench scene --screen both`` measures what it
costs on a synthetic tile with truth. Each skipped tile is put down to the first
rule that leaves it without candidates (``nodata``, ``cloud``, ``terrain``,
``spectral``), and ``summary.json`` -> ``screen`` counts them.

A tile that runs is **trimmed** (``context`` px, when not None): the network sees
only boxes around its candidate pixels, the cells of :data:`TRIM_STEP` px within
``context`` px of a candidate cut apart along rows and columns of cells without one
(:func:`candidate_boxes`), so two lakes in opposite corners of a tile get a box each.
The tile's pixels outside its boxes are left to the other tiles, or "not lake" when
none covers them. The runtime may run a box in a larger shape it has compiled (see
``fit_shape`` of the OpenVINO backend); boxes that would not save
:data:`TRIM_MIN_SAVING` of their tile leave it whole. On the synthetic Sentinel-2 tile
(NDWI above 0.1) 1.5 % of the pixels are candidates but 57 % of the tiles hold one;
with 64 px of context one box per tile covered 0.32 of the scene (0.41 in compiled
shapes), the cut boxes 0.31 (0.34). Trimming changes what the network sees only
beyond ``context`` px from the candidates, so it can cost recall: on the 410 real
false-colour crops the cut boxes in compiled shapes lose 0.12 % of the lake pixels the
whole crops find at 64 px of context (0.29 % at 48, 0.51 % at 32, 1.0 % at 16; an earlier
model: see :data:`DEFAULT_CONTEXT` for the current one, measured by ``glofwatch bench trim``), and
``bench scene`` measures it with the spectral rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError

DEFAULT_NDWI_MIN = 0.1
"""NDWI a lake candidate exceeds: 0.1, above McFeeters' (1996) water threshold 0, where snow mostly lies.

On the real false-colour crops (``../shared/data/himalaya-kmeans``, 410 crops, each with a lake) 1.6 % of
the lake pixels are at or below 0 and 2.5 % at or below 0.1; a 128 px cell with no pixel above the
threshold holds 0.14 % of the lake pixels at 0 and 0.24 % at 0.1, and the trimmed box of a crop's
candidates (64 px of context) leaves out 0.028 % at 0 and 0.064 % at 0.1. On the synthetic Sentinel-2
tile 77 % of the candidates at 0 are SCL snow, most of it below 0.1: at 0.1 the network sees 0.41 of the
tile's pixels instead of 0.64, in 37 s instead of 44, and lake recall and pixel IoU do not change."""

DEFAULT_MIN_PATCH = 10
"""Smallest patch of water-looking pixels that makes lake candidates: 10 px, the smallest lake mapped
(1000 m2 at 10 m, ``DEFAULT_MIN_AREA_M2``).

On the synthetic Sentinel-2 tile 5748 of its 6888 candidate patches are smaller (0.7 % of the candidate
pixels), and dropping them cuts the pixels the network sees from 0.334 to 0.235 of the scene. On the 410
real false-colour crops the boxes then lose 0.153 % of the lake pixels the whole crops find, against
0.121 % with every patch (IoU against the truth 80.96 both ways)."""

DEFAULT_CONTEXT = 96
"""Pixels of real image kept around a run tile's candidates when it is trimmed (three network strides of 32).

On the real false-colour crops the boxes lose 0.12 % of the lake pixels the whole crops find at 64 px,
0.29 % at 48 and 0.51 % at 32 (IoU against the truth 80.96, 80.91 and 80.89 against 80.97 whole).
On the synthetic Sentinel-2 tile, with a later demo model, 64 px lost a 0.07 km2 lake 9 px from the
scene's bottom edge (43 % of it mapped against 89 % in whole tiles: its mean probability fell from 0.91
to 0.64 with 65 px of image on its right), one of the 164 truth lakes >= 0.01 km2, 0.61 points of recall;
96 px maps it (87 %) and finds the whole-tile 130 of 164, for 0.286 of the scene's pixels instead of 0.223.
With that demo model (OpenVINO bf16, ``glofwatch bench trim``) the 410 real crops lose 0.40 % of the lake pixels
the whole crops find at 64 px and 0.92 % at 48, but only 355 and 1329 of them are lake in the crops' masks (0.004 %
and 0.015 % of the masks' 8.7 M lake pixels): what the boxes drop is mostly water the model saw away from any water-
looking pixel (IoU against the masks 0.750 and 0.753 against 0.747 whole). At 96 px no box of a 400 px crop saves a
fifth of it, so the crops run whole and cannot show a loss."""

TRIM_MIN_SAVING = 0.2
"""A trimmed box is used only when it saves at least this share of its tile's pixels (else the whole tile runs)."""

TRIM_STEP = 32
"""Boxes are cut on a grid of cells of this many px (rounded up to the network stride)."""

REASONS = ("nodata", "cloud", "terrain", "spectral")

Box = tuple[int, int, int, int]
"""(row0, row1, col0, col1) of a box of a run tile, relative to the tile's corner."""


@dataclass(frozen=True)
class Screen:
    """Which screening rules are on (see the module docstring).

    Attributes:
        enabled: screen at all (False: every tile with data runs, as without screening).
        ndwi_min: NDWI above which a pixel may be water (None: no spectral rule).
        min_pixels: candidate pixels a tile needs to run.
        min_patch: water-looking pixels a patch needs to hold lake candidates (with the spectral rule).
        context: trim run tiles to their candidates' box widened by this many px (None: whole tiles).
        min_saving: share of a tile its boxes must save to be used (:data:`TRIM_MIN_SAVING`; 0: whenever
            they are smaller than the tile, which ``glofwatch bench trim --min-saving 0`` uses to measure
            the context alone).
    """

    enabled: bool = True
    ndwi_min: float | None = DEFAULT_NDWI_MIN
    min_pixels: int = 1
    min_patch: int = DEFAULT_MIN_PATCH
    context: int | None = DEFAULT_CONTEXT
    min_saving: float = TRIM_MIN_SAVING

    def __post_init__(self) -> None:
        if self.ndwi_min is not None and not -1.0 <= self.ndwi_min < 1.0:
            raise ConfigError(f"--screen-ndwi {self.ndwi_min} must be in [-1, 1); the default is {DEFAULT_NDWI_MIN}")
        if self.min_pixels < 1:
            raise ConfigError(f"--screen-min-pixels {self.min_pixels} must be at least 1")
        if self.min_patch < 1:
            raise ConfigError(f"--screen-min-patch {self.min_patch} must be at least 1 px (1: every patch)")
        if self.context is not None and self.context < 0:
            raise ConfigError(f"--trim-context {self.context} must be at least 0 px (or --no-trim)")
        if not 0.0 <= self.min_saving < 1.0:
            raise ConfigError(f"--min-saving {self.min_saving} must be in [0, 1): the share of a tile its boxes save; "
                              f"the default is {TRIM_MIN_SAVING}")

    @classmethod
    def off(cls) -> Screen:
        """No screening: only tiles without any valid pixel are skipped."""
        return cls(enabled=False, ndwi_min=None, context=None)

    def describe(self) -> str:
        """One line for summaries."""
        if not self.enabled:
            return "off"
        spectral = "no spectral rule"
        if self.ndwi_min is not None:
            spectral = f"NDWI > {self.ndwi_min:g}" + (f" in patches of >= {self.min_patch} px" if self.min_patch > 1
                                                     else "")
        trim = f"; run tiles trimmed to their candidates + {self.context} px" if self.context is not None else ""
        if trim and self.min_saving != TRIM_MIN_SAVING:
            trim += f" (boxes saving at least {self.min_saving:g} of a tile)"
        return f"nodata, SCL cloud, DEM slope, {spectral}; at least {self.min_pixels} candidate px per tile{trim}"


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """McFeeters' NDWI ``(green - nir) / (green + nir)`` as float32, 0 where both are 0.

    Any linear scaling shared by both bands cancels, so L2A digital numbers (without
    the offset) and 8-bit renderings give the index of the reflectance.

    Example:
        >>> ndwi(np.array([300, 0]), np.array([100, 0])).tolist()
        [0.5, 0.0]
    """
    g = green.astype(np.float32)
    n = nir.astype(np.float32)
    den = g + n
    out = np.zeros_like(g)
    np.divide(g - n, den, out=out, where=den > 0)
    return out


def ndwi_above(green: np.ndarray, nir: np.ndarray, threshold: float) -> np.ndarray:
    """``ndwi(green, nir) > threshold`` without the division: ``(1 - t) green > (1 + t) nir``.

    Where both bands are 0 the index is 0, so such pixels count only for a negative
    threshold. For the default threshold 0 on integer bands this is ``green > nir``,
    exact and in one pass; for other thresholds it differs from the divided index only
    where float rounding decides a tie (about 1 pixel in 100,000 of random DNs).

    Example:
        >>> ndwi_above(np.array([300, 100, 0]), np.array([100, 300, 0]), 0.0).tolist()
        [True, False, False]
    """
    t = float(threshold)
    if t == 0.0 and np.issubdtype(green.dtype, np.integer) and np.issubdtype(nir.dtype, np.integer):
        return green > nir
    g = green.astype(np.float32)
    n = nir.astype(np.float32)
    with np.errstate(invalid="ignore"):
        out = g * np.float32(1.0 - t) > n * np.float32(1.0 + t)
        if t < 0.0:
            out |= (g + n) == 0
    return out


@dataclass
class ScreenTally:
    """What the screen did over a scene.

    Attributes:
        rule: :meth:`Screen.describe`.
        tiles: tiles in the plan.
        run: tiles that went through the network.
        skipped: skipped tiles per reason (:data:`REASONS`).
        spectral: whether the spectral rule could be applied (the scene has B03 and B08).
        padded: empty tiles that filled the last batch of a strip (one input shape for the runtime).
        trimmed: run tiles the network saw only boxes of (:attr:`Screen.context`).
        boxes: network passes over those boxes (one or more per trimmed tile).
        processed_px: pixels the network processed (the tiles run or their boxes, in the shapes run, plus padded tiles).
        scene_px: pixels of the scene.
        refined: tiles run again, whole, in fp32 because a bf16 or INT8 graph left one of their network
            inputs uncertain (None: no refinement; :mod:`glofwatch.infer.refine`).
        refined_px: their pixels (on top of ``processed_px``).
    """

    rule: str
    tiles: int = 0
    run: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    spectral: bool = False
    padded: int = 0
    trimmed: int = 0
    boxes: int = 0
    processed_px: int = 0
    scene_px: int = 0
    refined: int | None = None
    refined_px: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``screen`` record of ``summary.json``."""
        return {
            "rule": self.rule, "tiles": self.tiles, "tiles_run": self.run, "tiles_skipped": dict(self.skipped),
            "spectral_rule_applied": self.spectral, "padded_tiles": self.padded,
            "trimmed_tiles": self.trimmed, "boxes": self.boxes,
            "processed_px": self.processed_px, "scene_px": self.scene_px,
            "processed_over_scene": round(self.processed_px / self.scene_px, 4) if self.scene_px else None,
            "refined_tiles": self.refined, "refined_px": self.refined_px,
        }


def drop_specks(cand: np.ndarray, min_px: int) -> np.ndarray:
    """``cand`` without its 4-connected patches under ``min_px`` pixels, but for those touching its top or bottom row.

    Example:
        >>> c = np.zeros((5, 6), dtype=bool); c[2, 1] = True; c[1:4, 4] = True; c[0, 0] = True
        >>> drop_specks(c, 2).astype(int).tolist()  # the lone pixel at (2, 1) goes; (0, 0) touches the top
        [[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if min_px <= 1:
        return cand
    at = np.flatnonzero(cand)  # candidates are few (1.5 % of a Sentinel-2 tile): label them as a graph
    if at.size == 0:
        return cand
    h, w = cand.shape
    right = np.flatnonzero((cand[:, :-1] & cand[:, 1:]).reshape(-1))  # (row, col) joined to (row, col + 1)
    right += right // (w - 1)  # flat index in (h, w - 1) -> in (h, w)
    down = np.flatnonzero((cand[:-1] & cand[1:]).reshape(-1))  # (row, col) joined to (row + 1, col)
    src = np.searchsorted(at, np.concatenate([right, down]))
    dst = np.searchsorted(at, np.concatenate([right + 1, down + w]))
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(at.size, at.size))
    n, comp = connected_components(graph, directed=False)
    keep = np.bincount(comp, minlength=n) >= min_px
    rows = at // w
    keep[comp[(rows == 0) | (rows == h - 1)]] = True
    out = np.zeros_like(cand)
    out.reshape(-1)[at[keep[comp]]] = True
    return out


def tile_counts(flags: np.ndarray, cols: list[int], tile_w: int) -> np.ndarray:
    """Number of True pixels of (h, W) ``flags`` in each tile column window ``[c, c + tile_w)``."""
    per_col = np.count_nonzero(flags, axis=0).astype(np.int64)
    cum = np.concatenate([[0], np.cumsum(per_col)])
    starts = np.asarray(cols, dtype=np.int64)
    return cum[np.minimum(starts + tile_w, flags.shape[1])] - cum[starts]


def _needed_cells(cand: np.ndarray, context: int, step: int) -> np.ndarray:
    """(ceil(h / step), ceil(w / step)) cells of ``step`` px with a True ``cand`` pixel within ``context`` px.

    Distances are Chebyshev (a square of side ``2 context + 1`` about each candidate), exact to the pixel.
    """
    h, w = cand.shape
    nr, nc = -(-h // step), -(-w // step)
    need = np.zeros((nr, nc), dtype=bool)
    with_cand = np.concatenate([[0], np.cumsum(cand.any(axis=1))])  # rows holding a candidate, cumulated
    lo = np.clip(np.arange(nc) * step - context, 0, w)
    hi = np.clip((np.arange(nc) + 1) * step + context, 0, w)
    for i in range(nr):
        a, b = max(0, i * step - context), min(h, (i + 1) * step + context)
        if with_cand[b] == with_cand[a]:
            continue
        cols = np.concatenate([[0], np.cumsum(cand[a:b].any(axis=0))])
        need[i] = cols[hi] > cols[lo]
    return need


def _cut(need: np.ndarray, r0: int, r1: int, c0: int, c1: int, out: list[Box]) -> None:
    """Recursive XY cut: the boxes of ``need[r0:r1, c0:c1]``, split along rows or columns without a needed cell."""
    sub = need[r0:r1, c0:c1]
    rows = np.flatnonzero(sub.any(axis=1))
    if rows.size == 0:
        return
    cols = np.flatnonzero(sub.any(axis=0))
    r0, r1, c0, c1 = r0 + int(rows[0]), r0 + int(rows[-1]) + 1, c0 + int(cols[0]), c0 + int(cols[-1]) + 1
    sub = need[r0:r1, c0:c1]
    gap = np.flatnonzero(~sub.any(axis=1))
    if gap.size:
        k = r0 + int(gap[0])
        _cut(need, r0, k, c0, c1, out)
        _cut(need, k + 1, r1, c0, c1, out)
        return
    gap = np.flatnonzero(~sub.any(axis=0))
    if gap.size:
        k = c0 + int(gap[0])
        _cut(need, r0, r1, c0, k, out)
        _cut(need, r0, r1, k + 1, c1, out)
        return
    out.append((r0, r1, c0, c1))


def candidate_boxes(cand: np.ndarray, context: int, step: int = 1,
                    min_saving: float = TRIM_MIN_SAVING) -> list[Box] | None:
    """Disjoint boxes, on a grid of ``step`` px, that hold every True ``cand`` pixel with ``context`` px around it.

    The cells of ``step`` px within ``context`` px of a candidate are cut recursively along
    rows and columns of cells that hold none (an XY cut), so two lakes far apart in one tile
    get a box each instead of one box spanning both. None when there is no candidate, or when
    the boxes would not save ``min_saving`` (:data:`TRIM_MIN_SAVING`) of the tile (run it whole).

    Example:
        >>> c = np.zeros((256, 256), dtype=bool); c[40, 40] = True; c[200, 210] = True
        >>> candidate_boxes(c, 32, 32)  # two 96 px boxes, not one 224 px box
        [(0, 96, 0, 96), (160, 256, 160, 256)]
    """
    h, w = cand.shape
    step = max(1, int(step))
    need = _needed_cells(cand, context, step)
    cells: list[Box] = []
    _cut(need, 0, need.shape[0], 0, need.shape[1], cells)
    boxes = [(r0 * step, min(h, r1 * step), c0 * step, min(w, c1 * step)) for r0, r1, c0, c1 in cells]
    if not boxes or sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in boxes) > (1.0 - min_saving) * h * w:
        return None
    return boxes


def grow_box(box: Box, h: int, w: int, max_h: int, max_w: int) -> Box:
    """``box`` grown to ``h`` x ``w`` px about its centre, shifted to lie within (max_h, max_w).

    Example:
        >>> grow_box((64, 128, 0, 64), 128, 128, 512, 512)  # 64 x 64 at the left edge -> 128 x 128
        (32, 160, 0, 128)
    """
    r0, r1, c0, c1 = box
    if not (r1 - r0 <= h <= max_h and c1 - c0 <= w <= max_w):
        raise ValueError(f"cannot grow a {r1 - r0} x {c1 - c0} box to {h} x {w} within {max_h} x {max_w}")
    top = min(max(0, r0 - (h - (r1 - r0)) // 2), max_h - h)
    left = min(max(0, c0 - (w - (c1 - c0)) // 2), max_w - w)
    return top, top + h, left, left + w


def plan_strip(
    screen: Screen,
    cols: list[int],
    tile_w: int,
    valid: np.ndarray,
    observed: np.ndarray | None,
    flat: np.ndarray | None,
    water: np.ndarray | None,
    stride: int = 1,
) -> tuple[list[int], list[str], dict[int, list[Box]]]:
    """Columns of one strip to run, the reason of each skipped column, and the boxes of trimmed columns.

    Args:
        screen: the rules.
        cols: tile start columns of the strip.
        tile_w: tile width.
        valid: (h, W) pixels with data.
        observed: (h, W) pixels the SCL does not hide (None: no SCL rule).
        flat: (h, W) pixels flat enough for a lake (None: no DEM).
        water: (h, W) pixels whose NDWI is above the threshold (None: no spectral rule).
        stride: the network's stride (boxes are cut on cells of :data:`TRIM_STEP` rounded up to it).

    Returns:
        (columns to run, one reason from :data:`REASONS` per skipped column, the
        :data:`Box` es of each run column the network sees only parts of).
    """
    need = screen.min_pixels
    layers: list[tuple[str, np.ndarray | None]] = [("nodata", valid)]
    if screen.enabled:
        layers += [("cloud", observed), ("terrain", flat), ("spectral", water)]
    keep = np.ones(len(cols), dtype=bool)
    reason = np.array([""] * len(cols), dtype=object)
    cand = None
    for name, layer in layers:
        if layer is None:
            continue
        cand = layer if cand is None else cand & layer
        if name == "spectral" and screen.min_patch > 1:
            cand = drop_specks(cand, screen.min_patch)
        fail = keep & (tile_counts(cand, cols, tile_w) < (1 if name == "nodata" else need))
        reason[fail] = name
        keep &= ~fail
        if not keep.any():
            break
    run = [c for c, k in zip(cols, keep, strict=True) if k]
    boxes: dict[int, list[Box]] = {}
    if screen.enabled and screen.context is not None and cand is not None:
        step = -(-max(TRIM_STEP, stride) // stride) * stride
        for c in run:
            parts = candidate_boxes(cand[:, c : c + tile_w], screen.context, step, screen.min_saving)
            if parts is not None:
                boxes[c] = parts
    return run, [str(r) for r, k in zip(reason, keep, strict=True) if not k], boxes


__all__ = ["DEFAULT_CONTEXT", "DEFAULT_MIN_PATCH", "DEFAULT_NDWI_MIN", "REASONS", "TRIM_MIN_SAVING", "TRIM_STEP", "Box",
           "Screen", "ScreenTally", "candidate_boxes", "drop_specks", "grow_box", "ndwi", "ndwi_above", "plan_strip",
           "tile_counts"]

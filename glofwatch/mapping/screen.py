"""Window screening: skip the tiles that cannot hold a lake before the network sees them.

A pixel is a **lake candidate** when it

1. has data (not nodata / NaN),
2. is observed (the SCL, when used, does not call it cloud, cloud shadow or cirrus:
   such pixels get mask value 2 whatever the network says),
3. is flat enough (with a DEM: slope at most ``max_slope``; the terrain rule turns
   steeper lake pixels into "not lake" anyway; unknown slope counts as flat), and
4. looks like water (with a green and a near-infrared band: McFeeters' NDWI
   ``(B03 - B08) / (B03 + B08)`` above ``ndwi_min``; 0 is his water threshold).

A tile goes through the network when at least ``min_pixels`` of its pixels are
candidates; the others are skipped, and their pixels get probability 0 and mask 0
("not lake") unless a run tile also covers them. Rules 1-3 never change the mask
(the pixels they exclude can never be lake in it); rule 4 is the only one that
can cost recall, and ``glofwatch bench scene --screen both`` measures what it
costs on a synthetic tile with truth. Each skipped tile is put down to the first
rule that leaves it without candidates (``nodata``, ``cloud``, ``terrain``,
``spectral``), and ``summary.json`` -> ``screen`` counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError

DEFAULT_NDWI_MIN = 0.0
"""McFeeters' (1996) water threshold. On the real false-colour crops 5 % of lake pixels lie below 0.18 and 1 %
below -0.1, but a 128 px cell with no pixel above 0 holds 0.14 % of the lake pixels (0.0 on the synthetic tile)."""

REASONS = ("nodata", "cloud", "terrain", "spectral")


@dataclass(frozen=True)
class Screen:
    """Which screening rules are on (see the module docstring).

    Attributes:
        enabled: screen at all (False: every tile with data runs, as without screening).
        ndwi_min: NDWI above which a pixel may be water (None: no spectral rule).
        min_pixels: candidate pixels a tile needs to run.
    """

    enabled: bool = True
    ndwi_min: float | None = DEFAULT_NDWI_MIN
    min_pixels: int = 1

    def __post_init__(self) -> None:
        if self.ndwi_min is not None and not -1.0 <= self.ndwi_min < 1.0:
            raise ConfigError(f"--screen-ndwi {self.ndwi_min} must be in [-1, 1); McFeeters' water threshold is 0")
        if self.min_pixels < 1:
            raise ConfigError(f"--screen-min-pixels {self.min_pixels} must be at least 1")

    @classmethod
    def off(cls) -> Screen:
        """No screening: only tiles without any valid pixel are skipped."""
        return cls(enabled=False, ndwi_min=None)

    def describe(self) -> str:
        """One line for summaries."""
        if not self.enabled:
            return "off"
        spectral = f"NDWI > {self.ndwi_min:g}" if self.ndwi_min is not None else "no spectral rule"
        return f"nodata, SCL cloud, DEM slope, {spectral}; at least {self.min_pixels} candidate px per tile"


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
        processed_px: pixels the network processed ((tiles run + padded) x tile area).
        scene_px: pixels of the scene.
    """

    rule: str
    tiles: int = 0
    run: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    spectral: bool = False
    padded: int = 0
    processed_px: int = 0
    scene_px: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``screen`` record of ``summary.json``."""
        return {
            "rule": self.rule, "tiles": self.tiles, "tiles_run": self.run, "tiles_skipped": dict(self.skipped),
            "spectral_rule_applied": self.spectral, "padded_tiles": self.padded,
            "processed_px": self.processed_px, "scene_px": self.scene_px,
            "processed_over_scene": round(self.processed_px / self.scene_px, 4) if self.scene_px else None,
        }


def tile_counts(flags: np.ndarray, cols: list[int], tile_w: int) -> np.ndarray:
    """Number of True pixels of (h, W) ``flags`` in each tile column window ``[c, c + tile_w)``."""
    per_col = np.count_nonzero(flags, axis=0).astype(np.int64)
    cum = np.concatenate([[0], np.cumsum(per_col)])
    starts = np.asarray(cols, dtype=np.int64)
    return cum[np.minimum(starts + tile_w, flags.shape[1])] - cum[starts]


def plan_strip(
    screen: Screen,
    cols: list[int],
    tile_w: int,
    valid: np.ndarray,
    observed: np.ndarray | None,
    flat: np.ndarray | None,
    water: np.ndarray | None,
) -> tuple[list[int], list[str]]:
    """Columns of one strip to run, and the reason of each skipped column.

    Args:
        screen: the rules.
        cols: tile start columns of the strip.
        tile_w: tile width.
        valid: (h, W) pixels with data.
        observed: (h, W) pixels the SCL does not hide (None: no SCL rule).
        flat: (h, W) pixels flat enough for a lake (None: no DEM).
        water: (h, W) pixels whose NDWI is above the threshold (None: no spectral rule).

    Returns:
        (columns to run, one reason from :data:`REASONS` per skipped column).
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
        fail = keep & (tile_counts(cand, cols, tile_w) < (1 if name == "nodata" else need))
        reason[fail] = name
        keep &= ~fail
        if not keep.any():
            break
    run = [c for c, k in zip(cols, keep, strict=True) if k]
    return run, [str(r) for r, k in zip(reason, keep, strict=True) if not k]


__all__ = ["DEFAULT_NDWI_MIN", "REASONS", "Screen", "ScreenTally", "ndwi", "ndwi_above", "plan_strip", "tile_counts"]

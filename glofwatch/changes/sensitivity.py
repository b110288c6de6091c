"""How far a mapped outline's area hangs on the model's threshold: the area uncertainty a model adds.

Half a pixel along the shore (:func:`~glofwatch.changes.uncertainty.area_sigma_km2`) is the
uncertainty of an outline whose edge is sharp. A model's outline is sharp only where the model is
sure. Where it is not, for instance on a small turbid pond it half sees, the probability hovers
near the threshold over many pixels, and the area it maps can change by half between two dates
with nothing changed on the ground. Read as a change, that is a false ``drained`` alarm.

So for each outline mapped by ``glofwatch map`` this module counts the pixels whose decision
would flip if the threshold moved by :data:`DEFAULT_BAND_LOGIT` logits either way:

* inside the outline, lake pixels whose probability is below the raised threshold;
* outside it, observed land (``mask.tif`` value 0) whose probability is at or above the lowered
  threshold and that joins the outline (4-connected) through such pixels, within
  :data:`DEFAULT_REACH_PX` pixels of it.

The outline could lie anywhere in that band, so its sigma is half the band's area:

    sigma_T = (inside + outside) x pixel area / 2

On a sharp edge, where the logits cross the band within one pixel, the band is one pixel ring and
sigma_T equals the half-pixel rule; it grows only where the model hesitates. Tracks use the larger
of the two (:func:`~glofwatch.changes.tracks.track_observations`). Published inventories, and maps
without ``probability.tif`` and the threshold in ``summary.json`` beside them, keep the
half-pixel rule alone.

The default half-width, 0.75 logits, was measured with ``glofwatch bench changes`` (the model of one
``make demo`` run, two-date synthetic series with truth):

* the demo's series (seed 0, 1024 px), 7 lakes the generator keeps stable: the half-pixel rule let
  3 change by more than one sigma and 2 by more than two, one of them a red outburst alert (a pond
  mapped 0.022 -> 0.013 km2); 0.75 logits let 2 and 0, and no alert;
* seeds 1-6 at 2048 px, 63 stable lakes: 1 beyond one sigma with the half-pixel rule, 0 with the band;
* every drainage (7 of 7) stayed an outburst alert; the 2 growths found (of 7) stayed found at 0.75
  logits and were both lost at one logit; half a logit kept the demo's false alert;
* a second ``make demo`` model, seeds 1-6: 2 of 58 stable lakes beyond one sigma with the half-pixel
  rule (one ``drained``), 0 with any band; drains and growths found the same with every rule.

The same windows also measure the water a terrain rule of ``glofwatch map`` hid beside each
outline (:func:`hidden_pixels`: probability above the threshold, land in ``mask.tif``), and
:func:`hidden_growth` lists the lakes beside which that water grew: growth the slope rule
removed because the DEM shows the new water's ground steep.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import InputError

DEFAULT_BAND_LOGIT = 0.75
"""Half-width of the threshold band, in logits: a pixel counts when its decision flips within it."""

DEFAULT_REACH_PX = 10
"""How far (pixels, Chebyshev) outside an outline the band may reach."""

HIDDEN_REACH_PX = 50
"""How far (pixels, Chebyshev) outside an outline :func:`hidden_pixels` follows terrain-removed water."""

HIDDEN_GROWTH_SHARE = 0.2
"""Terrain-hidden water beside a lake that grew by more than this share of its area is listed."""

HIDDEN_GROWTH_MIN_KM2 = 0.05
"""... and by more than this many km2 (5 ha: stable lakes stayed below 0.04 km2, growing ones reached 0.12 or more)."""

TERRAIN_COLUMN = "terrain_hidden_km2"
"""The column of an inventory's outlines holding :attr:`Margins.hidden_km2`."""

PROBABILITY_FILE = "probability.tif"
MASK_FILE = "mask.tif"
SUMMARY_FILE = "summary.json"


def band_limits(threshold: float, logit: float = DEFAULT_BAND_LOGIT) -> tuple[float, float]:
    """The probabilities ``logit`` logits below and above ``threshold``.

    Example:
        >>> [round(v, 4) for v in band_limits(0.5, 1.0)]  # sigmoid(-1), sigmoid(1)
        [0.2689, 0.7311]
    """
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold {threshold} is not a probability between 0 and 1; the threshold band needs one")
    if not math.isfinite(logit) or logit <= 0:
        raise InputError(f"band half-width {logit} logits must be above 0, e.g. 0.75")
    z = math.log(threshold / (1.0 - threshold))
    return 1.0 / (1.0 + math.exp(-(z - logit))), 1.0 / (1.0 + math.exp(-(z + logit)))


def band_pixels(prob: np.ndarray, lake: np.ndarray, threshold: float, land: np.ndarray | None = None,
                logit: float = DEFAULT_BAND_LOGIT, reach_px: int = DEFAULT_REACH_PX,
                distance: np.ndarray | None = None) -> tuple[int, int]:
    """Pixels of one outline's threshold band in a window: ``(inside, outside)`` (see the module docs).

    Args:
        prob: (H, W) lake probability around the outline (NaN: no value).
        lake: (H, W) bool, the outline's pixels.
        threshold: the probability the map was cut at (lake where ``prob > threshold``).
        land: (H, W) bool, the observed land pixels (``mask.tif`` value 0); None: every pixel
            outside the outline.
        logit: half-width of the band in logits.
        reach_px: the band reaches at most this far outside the outline.
        distance: the chessboard distance of each pixel to the outline, when known already.

    Example:
        >>> p = np.array([[0.1, 0.6, 0.9, 0.95, 0.6, 0.6, 0.1]])
        >>> band_pixels(p, p > 0.8, 0.8, logit=1.0, reach_px=3)  # 0.9 < sigmoid(logit(0.8) + 1) = 0.916; 0.6 >= 0.595
        (1, 3)
    """

    lo, hi = band_limits(threshold, logit)
    lake = np.asarray(lake, dtype=bool)
    with np.errstate(invalid="ignore"):
        inside = int(np.count_nonzero(lake & (prob < hi)))  # NaN compares False
        # at or below the threshold only: land above it was set by a terrain rule, not by the threshold
        near = (prob >= lo) & (prob <= threshold) & ~lake
    if land is not None:
        near &= land
    return inside, _joined(near, lake, reach_px, distance)


def map_threshold(lake_file: str | Path) -> float | None:
    """The threshold of the model map a lake file comes from (its ``summary.json``); None when not a model map.

    An NDWI map (``summary.json`` -> ``ndwi``) has no probability to band, nor has a threshold outside (0, 1).
    """
    from glofwatch.io.files import read_json

    summary = read_json(Path(lake_file).parent / SUMMARY_FILE)
    value = summary.get("threshold")
    if summary.get("ndwi") is not None or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        return None
    return float(value)


def threshold_sigma_km2(outlines: Any, crs: Any, lake_file: str | Path, logit: float = DEFAULT_BAND_LOGIT,
                        reach_px: int = DEFAULT_REACH_PX) -> tuple[np.ndarray, float | None]:
    """sigma_T of each outline from the rasters beside ``lake_file``: :func:`outline_margins` without the rest."""
    margins = outline_margins(outlines, crs, lake_file, logit, reach_px)
    return margins.sigma_km2, margins.threshold


@dataclass(frozen=True)
class Margins:
    """What the rasters beside a lake file say about each of its outlines (NaN where they cannot tell).

    Attributes:
        sigma_km2: sigma_T, half the area of the outline's threshold band (see the module docs).
        hidden_km2: the water a terrain rule removed beside the outline (:func:`hidden_pixels`);
            NaN without ``mask.tif``.
        threshold: the map's threshold (None: no model map beside, and all values NaN).
    """

    sigma_km2: np.ndarray
    hidden_km2: np.ndarray
    threshold: float | None


def outline_margins(outlines: Any, crs: Any, lake_file: str | Path, logit: float = DEFAULT_BAND_LOGIT,
                    reach_px: int = DEFAULT_REACH_PX, hidden_reach_px: int = HIDDEN_REACH_PX) -> Margins:
    """The threshold band and the terrain-hidden water of each outline, from the rasters beside ``lake_file``.

    Args:
        outlines: polygons (any sequence of shapely geometries) in ``crs``.
        crs: their CRS.
        lake_file: the ``lakes.gpkg`` they were read from; ``probability.tif``, ``summary.json``
            (the threshold) and optionally ``mask.tif`` (the observed land) lie beside it.
        logit: half-width of the band in logits.
        reach_px: how far outside an outline the band may reach.
        hidden_reach_px: how far outside an outline the hidden water is followed.

    Returns:
        The :class:`Margins`, one value per outline.
    """
    import pyproj
    import rasterio
    import shapely
    from rasterio import features
    from rasterio.windows import Window, from_bounds
    from scipy import ndimage

    outlines = list(outlines)
    sigma, hidden = np.full(len(outlines), np.nan), np.full(len(outlines), np.nan)
    folder = Path(lake_file).parent
    prob_path, mask_path = folder / PROBABILITY_FILE, folder / MASK_FILE
    threshold = map_threshold(lake_file) if prob_path.is_file() else None
    if threshold is None or not outlines:
        return Margins(sigma, hidden, threshold)
    try:
        ds = rasterio.open(prob_path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{prob_path}: cannot be read ({str(exc)[:120]}); map the scene again or remove it") from None
    with ds, (rasterio.open(mask_path) if mask_path.is_file() else contextlib.nullcontext()) as mask_ds:
        if ds.crs is None or not ds.crs.is_projected:
            return Margins(sigma, hidden, None)
        if mask_ds is not None and (mask_ds.shape != ds.shape or mask_ds.transform != ds.transform):
            mask_ds = None  # not the probability's grid: band over all land
        _, factor = ds.crs.linear_units_factor
        px_km2 = abs(ds.transform.a * ds.transform.e - ds.transform.b * ds.transform.d) * factor**2 / 1e6
        to_raster = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs), ds.crs, always_xy=True)
        pad = max(int(reach_px), int(hidden_reach_px) if mask_ds is not None else 0, 0) + 1
        for i, outline in enumerate(outlines):
            if outline is None or outline.is_empty:
                continue
            geom = shapely.transform(outline, lambda xy: np.column_stack(to_raster.transform(xy[:, 0], xy[:, 1])))
            f = from_bounds(*geom.bounds, transform=ds.transform)
            c0, r0 = math.floor(f.col_off) - pad, math.floor(f.row_off) - pad
            c1, r1 = math.ceil(f.col_off + f.width) + pad, math.ceil(f.row_off + f.height) + pad
            if c1 <= 0 or r1 <= 0 or c0 >= ds.width or r0 >= ds.height:
                continue  # off the raster: it cannot tell
            win = Window(c0, r0, c1 - c0, r1 - r0)
            prob = _read_padded(ds, r0, r1, c0, c1, np.float32, np.nan)
            lake = features.geometry_mask([geom], prob.shape, ds.window_transform(win), invert=True)
            land = None
            if mask_ds is not None:
                land = _read_padded(mask_ds, r0, r1, c0, c1, np.uint8, 255) == 0
            distance = ndimage.distance_transform_cdt(~lake, metric="chessboard")  # shared by both
            inside, outside = band_pixels(prob, lake, threshold, land, logit, reach_px, distance)
            sigma[i] = (inside + outside) * px_km2 / 2.0
            if land is not None:
                hidden[i] = hidden_pixels(prob, lake, threshold, land, hidden_reach_px, distance) * px_km2
    return Margins(sigma, hidden, threshold)


def hidden_pixels(prob: np.ndarray, lake: np.ndarray, threshold: float, land: np.ndarray,
                  reach_px: int = HIDDEN_REACH_PX, distance: np.ndarray | None = None) -> int:
    """Pixels the model called lake but the map calls land, joined to the outline through such pixels.

    Above the threshold and land in ``mask.tif`` means a terrain rule of ``glofwatch map`` removed
    the pixel (steeper than ``--max-slope``, or in cast shadow on a slope). Beside a lake such
    pixels are mostly steep shore the model mistook for water, which changes little between two
    dates; when they grow, the lake may have grown onto ground its DEM shows steep (see
    :func:`hidden_growth`).

    Example:
        >>> p = np.array([[0.9, 0.9, 0.95, 0.9, 0.1, 0.9]])
        >>> lake = np.array([[False, False, True, False, False, False]])
        >>> hidden_pixels(p, lake, 0.5, np.ones_like(lake))  # the last pixel is not joined
        3
    """

    lake = np.asarray(lake, dtype=bool)
    with np.errstate(invalid="ignore"):
        removed = (prob > threshold) & land & ~lake
    return _joined(removed, lake, reach_px, distance)


def _joined(candidate: np.ndarray, lake: np.ndarray, reach_px: int, distance: np.ndarray | None = None) -> int:
    """Pixels of ``candidate`` within ``reach_px`` of ``lake`` (Chebyshev) joined to it (4-connected) through others.

    ``distance``: the chessboard distance to ``lake``, when the caller has it already.
    """
    from scipy import ndimage

    if not candidate.any():
        return 0
    if reach_px >= 0:
        if distance is None:
            distance = ndimage.distance_transform_cdt(~lake, metric="chessboard")
        candidate = candidate & (distance <= reach_px)
    cross = ndimage.generate_binary_structure(2, 1)
    seed = candidate & ndimage.binary_dilation(lake, cross)
    return int(np.count_nonzero(ndimage.binary_propagation(seed, cross, mask=candidate))) if seed.any() else 0


def hidden_growth(observations: Any, frame: Any, dates: list[str], share: float = HIDDEN_GROWTH_SHARE,
                  min_km2: float = HIDDEN_GROWTH_MIN_KM2) -> list[dict[str, Any]]:
    """Lakes beside which a terrain rule removed much more water on the last date than on the one before.

    The slope rule judges a pixel by a DEM older than the lakes: a lake that grows over ground the DEM
    shows steep (the glacier tongue a proglacial lake grows over, in reality) grows on the map by
    nothing, its new water removed as steep. What it leaves is more terrain-removed water beside the
    outline. On the six synthetic series of ``glofwatch bench changes`` (seeds 1-6), mapped by two
    ``make demo`` models, that water grew by 0.12-0.99 km2 beside every growing lake (12 of 12), and by
    at most 0.04 km2 beside the stable ones, except the two outlines of one stable lake that shares the
    hidden water of the growing neighbour (listed too, at 0.19-0.20 km2).

    Args:
        observations: the tracked observations (``lake_id``, ``date``, ``source``, ``source_row``,
            ``area_km2``).
        frame: the loaded outlines (``source``, ``source_row``, ``terrain_hidden_km2``).
        dates: every date in order (ISO text).
        share: a lake is listed when its hidden water grew by more than this share of its area ...
        min_km2: ... and by more than this many km2.

    Returns:
        One dict per listed lake: ``lake_id``, ``date_prev``, ``date``, ``hidden_prev_km2``,
        ``hidden_km2``, ``area_km2``, by ``lake_id``.
    """
    if len(dates) < 2 or TERRAIN_COLUMN not in frame.columns or not len(observations):
        return []
    hidden = {(str(a), int(b)): float(c) for a, b, c in zip(frame["source"], frame["source_row"],
                                                             frame[TERRAIN_COLUMN], strict=True)}
    obs = observations[observations["date"].isin(dates[-2:])]
    found: dict[int, dict[str, tuple[float, float]]] = {}
    for lake, date, source, row, area in zip(obs["lake_id"], obs["date"], obs["source"], obs["source_row"],
                                             obs["area_km2"], strict=True):
        value = hidden.get((str(source), int(row)), np.nan)  # NaN for outlines merged from two files
        found.setdefault(int(lake), {})[str(date)] = (value, float(area))
    out = []
    for lake in sorted(found):
        seen = found[lake]
        if dates[-2] not in seen or dates[-1] not in seen:
            continue
        (before, _), (after, area) = seen[dates[-2]], seen[dates[-1]]
        grew = after - before
        if np.isfinite(grew) and grew > min_km2 and grew > share * area:
            out.append({"lake_id": lake, "date_prev": dates[-2], "date": dates[-1], "hidden_prev_km2": before,
                        "hidden_km2": after, "area_km2": area})
    return out


def _read_padded(ds: Any, r0: int, r1: int, c0: int, c1: int, dtype: Any, fill: float) -> np.ndarray:
    """Rows ``r0:r1``, columns ``c0:c1`` of band 1, ``fill`` beyond the raster's edge.

    A plain window read of the part inside, not rasterio's boundless read: that builds a VRT for
    each call, which cost two thirds of the time (7.4 s -> 2.4 s for the 634 lakes of a mapped
    Sentinel-2 tile, the same sigmas).
    """
    from rasterio.windows import Window

    out = np.full((r1 - r0, c1 - c0), fill, dtype=dtype)
    a0, a1, b0, b1 = max(r0, 0), min(r1, ds.height), max(c0, 0), min(c1, ds.width)
    if a1 > a0 and b1 > b0:
        out[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = ds.read(1, window=Window(b0, a0, b1 - b0, a1 - a0))
    return out


__all__ = ["DEFAULT_BAND_LOGIT", "DEFAULT_REACH_PX", "TERRAIN_COLUMN", "Margins", "band_limits", "band_pixels",
           "hidden_growth", "hidden_pixels", "map_threshold", "outline_margins", "threshold_sigma_km2"]

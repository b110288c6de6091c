"""Whole-scene accuracy of a lake map against truth: pixels, lakes by size, areas, false lakes.

:func:`score_masks` compares a predicted mask with a truth mask on one grid
(both uint8: 1 lake, 0 not lake, 2 not observed, 255 nodata; a pixel counts where
both are 0 or 1) and :func:`score_map` does it for a folder written by ``glofwatch map``
(its ``mask.tif``) against a truth GeoTIFF mask or lake polygons
(GeoPackage / GeoJSON / Shapefile, rasterised onto the map's grid).

- **pixel** scores: one confusion matrix over the scene (IoU, Dice, precision, recall).
- **lakes** are 4-connected patches (:mod:`glofwatch.connectivity`). Patches
  smaller than the minimum mapping unit (the map's ``min_area_m2``, 1000 m2 by
  default, as its polygons) are dropped from both sides before matching, and
  counted.
- A truth lake is **found** when predicted lake pixels cover at least half of it
  (the rule of the YOLO evaluation: a lake split in two or merged with a
  neighbour still counts). **Recall by size** bins truth lakes by their area.
- A predicted lake is **true** when at least half of its pixels are truth lake
  pixels, else it is a **false lake**. **Precision by size** bins predicted lakes
  by their own area; **false lakes per 100 km2** divides the false lakes by the
  scored area.
- **Area error** of a found truth lake: the area of the predicted lake that
  overlaps it most, minus its true area, relative to the true area.

Size bins (km2): < 0.01, 0.01-0.1, 0.1-1, > 1 (:data:`SIZE_BINS_KM2`).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.connectivity import FOUND_COVER, label_lakes, lake_sizes
from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.infer.metrics import Counts, scores
from glofwatch.io.atomic import write_json_atomic, write_text_atomic
from glofwatch.io.raster import MASK_NODATA, read_raster

SIZE_BINS_KM2: tuple[tuple[float, float | None], ...] = ((0.0, 0.01), (0.01, 0.1), (0.1, 1.0), (1.0, None))
TRUE_SHARE = 0.5
DEFAULT_MIN_AREA_M2 = 1000.0
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp")


def bin_name(lo: float, hi: float | None) -> str:
    """Label of a size bin, e.g. ``0.01-0.1 km2``."""
    return f"> {lo:g} km2" if hi is None else (f"< {hi:g} km2" if lo == 0 else f"{lo:g}-{hi:g} km2")


def _bin_of(area_km2: np.ndarray) -> np.ndarray:
    edges = np.array([b[0] for b in SIZE_BINS_KM2[1:]])
    return np.searchsorted(edges, area_km2, side="right")


def _components(mask: np.ndarray, min_px: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels with patches below ``min_px`` removed, their sizes (index = label), and the number removed."""
    labels, n = label_lakes(mask)
    sizes = lake_sizes(labels, n)
    small = sizes < min_px
    small[0] = False
    if small.any():
        labels[small[labels]] = 0
    sizes[small] = 0
    sizes[0] = 0
    return labels, sizes, int(small.sum())


def score_masks(pred: np.ndarray, truth: np.ndarray, pixel_area_m2: float,
                min_area_m2: float = DEFAULT_MIN_AREA_M2) -> dict[str, Any]:
    """Score a predicted mask against truth on one grid (see the module docstring).

    Args:
        pred: (H, W) uint8, 1 lake, 0 not lake, 2 not observed, 255 nodata (a ``glofwatch map`` ``mask.tif``).
        truth: (H, W) uint8, same coding.
        pixel_area_m2: area of one pixel.
        min_area_m2: minimum mapping unit for the lake-level scores.

    Returns:
        ``{"pixel": {...}, "lakes": {...}, "per_lake": [...]}`` (JSON-ready; ``per_lake`` one
        dict per truth lake above the mapping unit).

    Raises:
        InputError: shapes differ.
    """
    if pred.shape != truth.shape:
        raise InputError(f"map is {pred.shape[1]}x{pred.shape[0]} px but truth is {truth.shape[1]}x{truth.shape[0]}; "
                         "give truth on the map's grid (or polygons)")
    valid = (pred <= 1) & (truth <= 1)  # 2 (not observed: cloud) and 255 (nodata) are not scored
    p, t = (pred == 1) & valid, (truth == 1) & valid
    tp = int(np.count_nonzero(p & t))
    fp, fn = int(np.count_nonzero(p)) - tp, int(np.count_nonzero(t)) - tp
    counts = Counts(tp, fp, fn, int(np.count_nonzero(valid)) - tp - fp - fn)
    pixel = {**scores(counts), "tp": tp, "fp": fp, "fn": fn, "tn": counts.tn}
    px_km2 = pixel_area_m2 / 1e6
    scored_km2 = float(np.count_nonzero(valid)) * px_km2
    min_px = max(1, math.ceil(min_area_m2 / pixel_area_m2 - 1e-9))

    tl, t_sizes, t_small = _components(t, min_px)
    pl, p_sizes, p_small = _components(p, min_px)
    both = (tl > 0) & (pl > 0)
    pairs, overlap = np.unique(tl[both].astype(np.int64) * (len(p_sizes)) + pl[both], return_counts=True)
    pt, pp = pairs // len(p_sizes), pairs % len(p_sizes)
    covered = np.bincount(tl[p & (tl > 0)], minlength=len(t_sizes))  # any predicted pixel, MMU or not
    on_truth = np.bincount(pl[t & (pl > 0)], minlength=len(p_sizes))

    t_ids = np.flatnonzero(t_sizes)
    p_ids = np.flatnonzero(p_sizes)
    t_area = t_sizes[t_ids] * px_km2
    p_area = p_sizes[p_ids] * px_km2
    found = covered[t_ids] >= FOUND_COVER * t_sizes[t_ids]
    true_pred = on_truth[p_ids] >= TRUE_SHARE * p_sizes[p_ids]
    best = np.zeros(len(t_sizes), np.int64)  # truth lake -> predicted lake with the largest overlap
    if len(pairs):
        order = np.lexsort((-overlap, pt))
        first = np.r_[True, pt[order][1:] != pt[order][:-1]]
        best[pt[order][first]] = pp[order][first]
    matched_area = np.where(best[t_ids] > 0, p_sizes[best[t_ids]] * px_km2, 0.0)
    rel_err = np.where(found, (matched_area - t_area) / np.where(t_area > 0, t_area, 1.0), np.nan)

    t_bin, p_bin = _bin_of(t_area), _bin_of(p_area)
    by_size = []
    for k, (lo, hi) in enumerate(SIZE_BINS_KM2):
        tk, pk = t_bin == k, p_bin == k
        errs = rel_err[tk & found]
        by_size.append({
            "bin": bin_name(lo, hi), "truth_lakes": int(tk.sum()), "found": int((tk & found).sum()),
            "recall": float((tk & found).sum() / tk.sum()) if tk.any() else None,
            "predicted_lakes": int(pk.sum()), "true_predicted": int((pk & true_pred).sum()),
            "precision": float((pk & true_pred).sum() / pk.sum()) if pk.any() else None,
            "area_error_median_abs_pct": float(100 * np.median(np.abs(errs))) if errs.size else None,
            "area_error_mean_pct": float(100 * errs.mean()) if errs.size else None,
        })
    errs = rel_err[found]
    n_false = int((~true_pred).sum())
    lakes = {
        "truth_lakes": int(len(t_ids)), "found": int(found.sum()),
        "recall": float(found.mean()) if len(t_ids) else None,
        "predicted_lakes": int(len(p_ids)), "true_predicted": int(true_pred.sum()),
        "precision": float(true_pred.mean()) if len(p_ids) else None,
        "false_lakes": n_false, "scored_area_km2": scored_km2,
        "false_lakes_per_100km2": float(100.0 * n_false / scored_km2) if scored_km2 else None,
        "area_error_median_abs_pct": float(100 * np.median(np.abs(errs))) if errs.size else None,
        "area_error_mean_pct": float(100 * errs.mean()) if errs.size else None,
        "truth_area_km2": float(t_area.sum()), "predicted_area_km2": float(p_area.sum()),
        "by_size": by_size, "min_area_m2": float(min_area_m2),
        "below_mapping_unit": {"truth": t_small, "predicted": p_small},
        "rules": f"lake = 4-connected patch >= {min_px} px; truth lake found when >= {FOUND_COVER:.0%} of it is "
                 f"predicted lake; predicted lake true when >= {TRUE_SHARE:.0%} of it is truth lake; area error "
                 "against the predicted lake overlapping it most",
    }
    per_lake = [{"truth_lake": int(i), "area_km2": float(a), "bin": bin_name(*SIZE_BINS_KM2[b]),
                 "covered_pct": float(100 * covered[i] / t_sizes[i]), "found": bool(f),
                 "predicted_area_km2": float(m) if f else None, "area_error_pct": float(100 * e) if f else None}
                for i, a, b, f, m, e in zip(t_ids, t_area, t_bin, found, matched_area, rel_err, strict=True)]
    return {"pixel": pixel, "lakes": lakes, "per_lake": per_lake}


def _same_grid(a: GeoGrid, b: GeoGrid) -> bool:
    from rasterio.crs import CRS

    same_crs = (a.crs is None and b.crs is None) or (a.crs is not None and b.crs is not None
                                                     and CRS.from_user_input(a.crs) == CRS.from_user_input(b.crs))
    return same_crs and a.shape == b.shape and a.transform.almost_equals(b.transform)


def read_truth(path: str | Path, grid: GeoGrid) -> np.ndarray:
    """Truth on ``grid`` as uint8 (1 lake, 0 not, 255 nodata) from a mask GeoTIFF or lake polygons.

    A mask on another grid is resampled (nearest neighbour); polygons are reprojected to the
    grid's CRS and rasterised (pixel centres inside a polygon are lake).

    Raises:
        InputError: missing file, unknown type, or a truth without a CRS.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: truth file not found; give a mask GeoTIFF (1 lake, 0 not) or lake polygons")
    if path.suffix.lower() in VECTOR_SUFFIXES:
        import geopandas as gpd
        from rasterio.features import rasterize

        lakes = gpd.read_file(path)
        if lakes.crs is None:
            raise InputError(f"{path}: the polygons have no CRS; set one (e.g. with ogr2ogr -a_srs)")
        geoms = [g for g in lakes.to_crs(grid.crs).geometry if g is not None and not g.is_empty]
        out = np.zeros(grid.shape, np.uint8)
        if geoms:
            out = rasterize(((g, 1) for g in geoms), out_shape=grid.shape, transform=grid.transform, fill=0,
                            dtype="uint8")
        return out
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"{path}: unknown truth file type; use a .tif mask or {', '.join(VECTOR_SUFFIXES)} polygons")
    data, tgrid = read_raster(path)
    truth = np.where(data == 255, 255, (data > 0).astype(np.uint8)).astype(np.uint8)
    if tgrid.nodata is not None and tgrid.nodata != 255:
        truth[data == tgrid.nodata] = MASK_NODATA
    if _same_grid(tgrid, grid):
        return truth
    if tgrid.crs is None:
        raise InputError(f"{path}: truth mask has no CRS and is not on the map's grid; georeference it")
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    out = np.full(grid.shape, MASK_NODATA, np.uint8)
    reproject(truth, out, src_transform=tgrid.transform, src_crs=tgrid.crs, src_nodata=MASK_NODATA,
              dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=MASK_NODATA, resampling=Resampling.nearest)
    return out


def score_map(map_dir: str | Path, truth: str | Path, min_area_m2: float | None = None,
              out: str | Path | None = None, per_lake: bool = False) -> dict[str, Any]:
    """Score the ``mask.tif`` of a ``glofwatch map`` folder against ``truth``; write the results.

    Args:
        map_dir: a scene folder written by ``glofwatch map`` (``mask.tif``, ``summary.json``).
        truth: truth mask GeoTIFF or lake polygons.
        min_area_m2: minimum mapping unit (default: the map's ``min_area_m2``).
        out: folder for ``accuracy.json`` and ``accuracy_lakes.csv`` (default ``map_dir``).
        per_lake: also return ``per_lake`` (it goes to the CSV, never to the JSON).

    Returns:
        The :func:`score_masks` result plus ``map_dir``, ``truth``, ``threshold`` and ``model``
        from the map's summary; ``per_lake`` only when asked for.
    """
    from glofwatch.io.files import read_json

    map_dir = Path(map_dir)
    mask_path = map_dir / "mask.tif"
    if not mask_path.is_file():
        raise InputError(f"{map_dir}: no mask.tif; give a scene folder written by `glofwatch map` (OUT/<scene>)")
    pred, grid = read_raster(mask_path)
    summary = read_json(map_dir / "summary.json")
    mmu = float(min_area_m2 if min_area_m2 is not None else summary.get("min_area_m2", DEFAULT_MIN_AREA_M2))
    result = score_masks(pred, read_truth(truth, grid), grid.pixel_area_m2(), mmu)
    lakes = result.pop("per_lake")
    result.update({"map_dir": str(map_dir), "truth": str(truth), "threshold": summary.get("threshold"),
                   "model": summary.get("model"), "backend": summary.get("backend")})
    out = Path(out) if out else map_dir
    write_json_atomic(out / "accuracy.json", result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(lakes[0]) if lakes else ["truth_lake"])
    writer.writeheader()
    writer.writerows(lakes)
    write_text_atomic(out / "accuracy_lakes.csv", buf.getvalue())
    return {**result, "per_lake": lakes} if per_lake else result

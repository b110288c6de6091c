"""The overlap graph: which outlines of consecutive dates are the same water.

Two outlines overlap when they intersect with a non-trivial area: more than
``min_overlap`` (default 10 %) of the smaller one. Outlines that only touch,
or graze each other by a sliver, do not. Between consecutive dates an overlap
also has to be *primary*: the largest overlap of one of its two outlines, or
more than half of the smaller one (:func:`primary_overlaps`). A pond whose
shore wobbles a pixel into the bed of a neighbour that drained shares a
sliver with that neighbour's old outline, but far more with its own: it stays
itself instead of joining a merge. Real merges and splits pass: each part
lies almost wholly inside the outline on the other date.

Candidate pairs come from a :class:`shapely.STRtree` query, so matching ``n``
outlines costs about ``n log n``, not ``n^2``.

* :func:`overlap_pairs` finds the overlapping pairs between two sets of outlines;
* :func:`transition_edges` does it for every pair of consecutive dates;
* :func:`components` labels the connected components of an edge list
  (:func:`scipy.sparse.csgraph.connected_components`): a lake with its merges and splits;
* :func:`merge_same_date` unions outlines of one date that overlap (the same
  lake mapped on two overlapping tiles), so each lake is one observation per date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MIN_OVERLAP = 0.1
"""Two outlines overlap when they share more than this share of the smaller one's area."""

STRONG_OVERLAP = 0.5
"""An overlap covering more than this share of the smaller outline is always primary."""


@dataclass(frozen=True)
class Edges:
    """Overlaps between observations of consecutive dates (observation row numbers).

    Attributes:
        src: observation on the earlier date.
        dst: overlapping observation on the next date.
        overlap_m2: area they share.
    """

    src: np.ndarray
    dst: np.ndarray
    overlap_m2: np.ndarray

    def __len__(self) -> int:
        return int(self.src.size)


def overlap_pairs(
    left: np.ndarray, right: np.ndarray | None = None, min_overlap: float = DEFAULT_MIN_OVERLAP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of overlapping outlines between two sets.

    Args:
        left: shapely polygons (one projected CRS, metres).
        right: shapely polygons in the same CRS; ``None`` for the pairs within
            ``left`` (each pair once, ``i < j``).
        min_overlap: shared area must exceed this share of the smaller outline's area.

    Returns:
        ``(i, j, area)``: indices into ``left`` and ``right`` and the shared area (m2),
        sorted by ``i`` then ``j``.

    Example:
        >>> from shapely import box
        >>> i, j, a = overlap_pairs(np.array([box(0, 0, 10, 10)]), np.array([box(5, 0, 15, 10), box(10, 0, 20, 10)]))
        >>> i.tolist(), j.tolist(), a.tolist()  # the second box only touches
        ([0], [0], [50.0])
    """
    import shapely

    within = right is None
    left = np.asarray(left, dtype=object)
    right = left if within else np.asarray(right, dtype=object)
    if left.size == 0 or right.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0)
    tree = shapely.STRtree(right)
    i, j = tree.query(left, predicate="intersects")
    if within:
        i, j = i[i < j], j[i < j]
    shared = intersection_area(left[i], right[j])
    smaller = np.minimum(shapely.area(left[i]), shapely.area(right[j]))
    keep = (shared > 0) & (shared > min_overlap * smaller)
    order = np.lexsort((j[keep], i[keep]))
    return i[keep][order].astype(np.int64), j[keep][order].astype(np.int64), shared[keep][order]


def intersection_area(a: np.ndarray, b: np.ndarray, min_chunk: int = 2_000) -> np.ndarray:
    """Area of ``a[k] & b[k]`` for each k, split over all cores (GEOS releases the GIL).

    Example:
        >>> from shapely import box
        >>> intersection_area(np.array([box(0, 0, 2, 2)]), np.array([box(1, 1, 3, 3)])).tolist()
        [1.0]
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    import shapely

    cores = os.cpu_count() or 1
    chunk = max(min_chunk, -(-len(a) // cores))

    def area(k: int) -> np.ndarray:
        return shapely.area(shapely.intersection(a[k:k + chunk], b[k:k + chunk]))

    starts = range(0, len(a), chunk)
    workers = min(len(starts), cores)
    if workers <= 1:
        return area(0) if len(a) else np.zeros(0)
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(area, starts)))


def transition_edges(geoms: np.ndarray, date_index: np.ndarray, min_overlap: float = DEFAULT_MIN_OVERLAP) -> Edges:
    """Overlaps between the observations of each date and of the next one.

    Args:
        geoms: shapely polygons of all observations (one projected CRS).
        date_index: 0-based date of each observation.
        min_overlap: see :func:`overlap_pairs`.

    Returns:
        The :class:`Edges` (``date_index[dst] == date_index[src] + 1``).
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    date_index = np.asarray(date_index)
    src, dst, shared = [], [], []
    n_dates = int(date_index.max()) + 1 if date_index.size else 0
    rows = [np.flatnonzero(date_index == t) for t in range(n_dates)]
    for t in range(n_dates - 1):
        left, right = geoms[rows[t]], geoms[rows[t + 1]]
        i, j, a = overlap_pairs(left, right, min_overlap)
        keep = primary_overlaps(i, j, a, np.minimum(shapely.area(left[i]), shapely.area(right[j])))
        src.append(rows[t][i[keep]])
        dst.append(rows[t + 1][j[keep]])
        shared.append(a[keep])
    if not src:
        return Edges(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return Edges(np.concatenate(src), np.concatenate(dst), np.concatenate(shared))


def primary_overlaps(
    i: np.ndarray, j: np.ndarray, shared: np.ndarray, smaller: np.ndarray, strong: float = STRONG_OVERLAP
) -> np.ndarray:
    """Mask of the overlaps that are the largest of outline ``i`` or of outline ``j``, or cover
    more than ``strong`` of the smaller outline.

    Example:
        >>> # pond 1 shares 6 with the old outline of lake 0 but 45 with its own old outline 1
        >>> primary_overlaps(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([300.0, 6.0, 45.0]),
        ...                  np.array([320.0, 51.0, 50.0])).tolist()
        [True, False, True]
    """
    if i.size == 0:
        return np.zeros(0, dtype=bool)
    best_i = np.zeros(int(i.max()) + 1)
    best_j = np.zeros(int(j.max()) + 1)
    np.maximum.at(best_i, i, shared)
    np.maximum.at(best_j, j, shared)
    return (shared >= best_i[i]) | (shared >= best_j[j]) | (shared > strong * smaller)


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label (0..k-1) of each of ``n`` nodes linked by edges ``a[i]`` -- ``b[i]``.

    Example:
        >>> components(5, np.array([0, 3]), np.array([1, 4])).tolist()
        [0, 0, 1, 2, 2]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (np.asarray(a), np.asarray(b))), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def merge_same_date(frame, min_overlap: float = DEFAULT_MIN_OVERLAP):  # noqa: ANN001, ANN201 - GeoDataFrame
    """Union the outlines of one date that overlap, so each lake is one observation per date.

    Args:
        frame: GeoDataFrame of observations (projected CRS) with ``date_index``,
            ``source``, ``source_row``, ``mean_prob``, ``pixel_size_m``. When there are
            such columns, ``outlines`` is summed over the outlines merged and
            ``unobserved_fraction`` is their least (the union holds its best-seen outline; NaN
            only when all are NaN).
        min_overlap: see :func:`overlap_pairs`.

    Returns:
        ``(frame, n_merged)``: the frame with each group of overlapping outlines of
        one date replaced by their union (``source`` joined with ``;``, ``source_row``,
        ``pixel_size_m`` and any ``threshold_sigma_km2`` of the largest part, ``mean_prob``
        area-weighted), and
        the number of outlines that were folded into another.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    geoms = frame.geometry.to_numpy()
    date_index = frame["date_index"].to_numpy()
    a_all, b_all = [], []
    for t in np.unique(date_index):
        rows = np.flatnonzero(date_index == t)
        i, j, _ = overlap_pairs(geoms[rows], None, min_overlap)
        a_all.append(rows[i])
        b_all.append(rows[j])
    a = np.concatenate(a_all) if a_all else np.zeros(0, np.int64)
    if a.size == 0:
        return frame.reset_index(drop=True), 0
    b = np.concatenate(b_all)
    label = components(len(frame), a, b)
    sizes = np.bincount(label)
    grouped = sizes[label] > 1
    single = frame[~grouped]
    area = shapely.area(geoms)
    merged_rows = []
    for lab in np.unique(label[grouped]):
        members = np.flatnonzero(label == lab)
        big = members[np.argmax(area[members])]
        prob = frame["mean_prob"].to_numpy()[members]
        ok = np.isfinite(prob)
        row = frame.iloc[big].to_dict()
        row["geometry"] = shapely.unary_union(geoms[members])
        row["source"] = ";".join(sorted(set(frame["source"].to_numpy()[members])))
        row["mean_prob"] = float(np.average(prob[ok], weights=area[members][ok])) if ok.any() else np.nan
        if "outlines" in frame.columns:
            row["outlines"] = int(frame["outlines"].to_numpy()[members].sum())
        if "unobserved_fraction" in frame.columns:
            hidden = frame["unobserved_fraction"].to_numpy(dtype=float)[members]
            row["unobserved_fraction"] = float(np.nanmin(hidden)) if np.isfinite(hidden).any() else np.nan
        merged_rows.append(row)
    merged = gpd.GeoDataFrame(merged_rows, geometry="geometry", crs=frame.crs)
    out = gpd.GeoDataFrame(pd.concat([single, merged[single.columns]], ignore_index=True), geometry="geometry",
                           crs=frame.crs)
    out = out.sort_values(["date_index", "source", "source_row"], kind="stable").reset_index(drop=True)
    return out, int(grouped.sum() - len(merged_rows))

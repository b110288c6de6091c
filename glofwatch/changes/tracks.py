"""Tracked lakes from dated observations: ids, area changes with their uncertainty, and a status per lake.

:func:`track_observations` takes the outlines of all dates in one equal-area
CRS and returns two tables:

* ``observations``: one row per outline and date, with its ``lake_id``
  (:mod:`~glofwatch.changes.lineage`), area, perimeter, area uncertainty
  (:func:`~glofwatch.changes.uncertainty.area_sigma_km2`, or the outline's
  ``threshold_sigma_km2`` where that is larger: :mod:`~glofwatch.changes.sensitivity`)
  and the ``status`` of the step from the previous date (empty on the first date);
* ``tracks``: one row per lake with its first and last dates, areas, the
  change of its last step and that change's uncertainty, its growth rate and
  its ``status`` (:data:`STATUSES`).

The status of a lake is that of its last step:

* seen on the last date: ``new`` (first seen on the last date, from nothing),
  ``merged`` (its outline swallowed another), ``split`` (it split, as the part
  that kept the id or a part with a ``parent_id``), ``drained`` (its group lost
  more than the drain threshold and more than ``k`` sigma of its area),
  ``growing``/``shrinking`` (change beyond ``k`` sigma) or ``stable``, and ``obscured`` where that
  change cannot be told from a cut outline: a loss whose later outline, or a gain whose earlier
  outline, lies beside cloud, nodata or a scene's edge (:func:`obscured_changes`; needs the
  outlines' ``unobserved_fraction``, which ``glofwatch map`` writes). Without it a lake half under
  cloud on the later date would read as ``drained``;
* not seen on the last date: ``merged`` (swallowed: see ``merged_into``) or ``vanished``
  (``obscured`` when the next date's maps did not observe it, :mod:`~glofwatch.changes.visibility`,
  which :func:`~glofwatch.changes.monitor.run_monitor` applies).

A drainage outranks a merge or split: a lake whose water ran into two small
remnants is ``drained``, a lake cut in two by a sandbar with the same water is ``split``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glofwatch.changes.lineage import assign_lineage, transition_groups
from glofwatch.changes.match import DEFAULT_MIN_OVERLAP, merge_same_date, transition_edges
from glofwatch.changes.uncertainty import (
    DEFAULT_DRAIN_THRESHOLD,
    DEFAULT_K_SIGMA,
    area_sigma_km2,
    check_parameters,
    classify_change,
)

STATUSES = ("new", "vanished", "stable", "growing", "shrinking", "merged", "split", "drained", "obscured")
"""Every status a lake can have."""

TRACK_COLUMNS = (
    "lake_id", "first_date", "last_date", "n_obs", "area_first_km2", "area_last_km2", "area_prev_km2", "change_km2",
    "change_uncertainty_km2", "growth_pct_per_year", "status", "parent_id", "merged_into", "mean_prob",
    "centroid_lon", "centroid_lat",
)  # fmt: skip
"""Attribute columns of the ``tracks`` table, in order (plus ``geometry``: the latest outline)."""

OBSERVATION_COLUMNS = (
    "lake_id", "date", "area_km2", "perimeter_m", "area_uncertainty_km2", "pixel_size_m", "status", "source",
    "source_row", "mean_prob",
)  # fmt: skip
"""Attribute columns of the ``observations`` table, in order (plus ``geometry``)."""

INPUT_COLUMNS = ("date", "date_index", "source", "source_row", "mean_prob", "pixel_size_m")
"""Columns :func:`track_observations` needs besides ``geometry``."""

HIDDEN_COLUMN = "unobserved_fraction"
"""Optional input column: the share of unobserved ground around an outline (see :func:`obscured_changes`)."""

BAND_COLUMN = "threshold_sigma_km2"
"""Optional input column: the area an outline's model threshold band leaves uncertain (NaN: not known)."""

DAYS_PER_YEAR = 365.25


@dataclass
class Tracked:
    """Result of :func:`track_observations`.

    Attributes:
        tracks: GeoDataFrame with :data:`TRACK_COLUMNS` + ``geometry`` (input CRS), by ``lake_id``.
        observations: GeoDataFrame with :data:`OBSERVATION_COLUMNS` + ``geometry``, by date then ``lake_id``.
        dates: the dates, in order (ISO strings).
        n_same_date_merged: outlines folded into an overlapping outline of the same date.
    """

    tracks: Any
    observations: Any
    dates: list[str]
    n_same_date_merged: int = 0


def track_observations(
    frame,  # noqa: ANN001 - GeoDataFrame
    dates: list[str] | None = None,
    k_sigma: float = DEFAULT_K_SIGMA,
    drain_threshold: float = DEFAULT_DRAIN_THRESHOLD,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> Tracked:
    """Track lakes through dated outlines (see the module docs).

    Args:
        frame: GeoDataFrame of outlines in an equal-area CRS in metres, with
            :data:`INPUT_COLUMNS`: ``date`` (ISO text), ``date_index`` (0-based
            order of the dates), ``source``, ``source_row``, ``mean_prob``, ``pixel_size_m``;
            optionally :data:`HIDDEN_COLUMN` (for ``obscured``) and :data:`BAND_COLUMN` (an outline's
            area uncertainty when it exceeds the half-pixel rule's).
        dates: every date in order (ISO text), also those with no outline (an empty
            inventory: its lakes vanished); default: the dates of the outlines.
        k_sigma: a change is real beyond this many combined sigmas.
        drain_threshold: a real loss of more than this share of the area is ``drained``.
        min_overlap: outlines are the same water when they share more than this
            share of the smaller one (:func:`~glofwatch.changes.match.overlap_pairs`).

    Returns:
        The :class:`Tracked` tables.
    """
    import shapely

    check_parameters(k_sigma, drain_threshold)
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"track_observations: missing columns {missing}")
    seen = [HIDDEN_COLUMN] if HIDDEN_COLUMN in frame.columns else []
    band = [BAND_COLUMN] if BAND_COLUMN in frame.columns else []
    frame, n_folded = merge_same_date(frame[[*INPUT_COLUMNS, *seen, *band, "geometry"]], min_overlap)
    frame = frame.sort_values(["date_index", "source", "source_row"], kind="stable").reset_index(drop=True)
    geoms = frame.geometry.to_numpy()
    date_index = frame["date_index"].to_numpy(dtype=np.int64)
    area_km2 = shapely.area(geoms) / 1e6
    perimeter_m = shapely.length(geoms)
    sigma = area_sigma_km2(perimeter_m, frame["pixel_size_m"].to_numpy(dtype=float))
    if band:
        sigma = np.fmax(sigma, frame[BAND_COLUMN].to_numpy(dtype=float))  # NaN: the half-pixel rule alone

    edges = transition_edges(geoms, date_index, min_overlap)
    lineage = assign_lineage(date_index, area_km2, edges)
    before, after, var = transition_groups(area_km2, sigma**2, edges)
    status = np.full(len(frame), None, dtype=object)
    later = date_index > 0
    status[later] = classify_change(before[later], after[later], np.sqrt(var[later]), k_sigma, drain_threshold)
    status[later & (lineage.n_pred == 0)] = "new"
    event = later & (lineage.n_pred > 0) & (status != "drained")
    status[event & lineage.split] = "split"
    status[event & (lineage.n_pred >= 2)] = "merged"
    if seen:
        status[later & obscured_changes(status, frame[HIDDEN_COLUMN].to_numpy(dtype=float), edges)] = "obscured"

    obs = frame.assign(lake_id=lineage.lake_id, area_km2=area_km2, perimeter_m=perimeter_m,
                       area_uncertainty_km2=sigma, status=status)
    obs = obs.sort_values(["date_index", "lake_id"], kind="stable").reset_index(drop=True)
    if dates is None:
        dates = [str(d) for d in frame.drop_duplicates("date_index").sort_values("date_index")["date"]]
    elif len(frame) and int(date_index.max()) >= len(dates):
        raise ValueError(f"track_observations: date_index reaches {int(date_index.max())} but {len(dates)} dates given")
    tracks = _track_table(obs, lineage, len(dates))
    observations = obs[[*OBSERVATION_COLUMNS, "geometry"]]
    return Tracked(tracks=tracks, observations=observations, dates=dates, n_same_date_merged=n_folded)


def obscured_changes(status: np.ndarray, unobserved: np.ndarray, edges: Any) -> np.ndarray:
    """Which observations' area changes cannot be told from a cut outline (their status becomes ``obscured``).

    An outline beside unobserved ground (``unobserved`` above 0: SCL cloud, nodata, a scene's edge,
    as ``glofwatch map`` records it) may be cut there, so it can only be smaller than the lake:

    * a loss (``shrinking``, ``drained``) needs the later outline seen all round;
    * a gain (``growing``) needs every earlier outline it comes from seen all round.

    A loss seen beside cloud could be the cloud, a gain over a cut outline could be the cut; other
    statuses, and changes of outlines seen all round (or of unknown fraction, NaN), stand.

    Example:
        >>> from glofwatch.changes.match import Edges
        >>> e = Edges(np.array([0, 1, 2]), np.array([3, 4, 5]), np.ones(3))
        >>> st = np.array([None, None, None, "drained", "growing", "growing"], dtype=object)
        >>> obscured_changes(st, np.array([0, 0.2, 0, 0.4, 0, 0]), e).tolist()
        [False, False, False, True, True, False]
    """
    with np.errstate(invalid="ignore"):
        hidden = unobserved > 0  # NaN: not known to be hidden
    came_hidden = np.zeros(len(status), dtype=bool)
    if len(edges):
        np.logical_or.at(came_hidden, edges.dst, hidden[edges.src])
    loss = (status == "shrinking") | (status == "drained")
    return (loss & hidden) | ((status == "growing") & came_hidden)


def _track_table(obs, lineage, n_dates: int):  # noqa: ANN001, ANN202 - GeoDataFrames
    """One row per lake from its observations (sorted by date within each lake)."""
    import datetime as dt

    import geopandas as gpd
    import pandas as pd
    import pyproj
    import shapely

    by_lake = obs.sort_values(["lake_id", "date_index"], kind="stable").reset_index(drop=True)
    lake = by_lake["lake_id"].to_numpy()
    first = np.ones(len(by_lake), dtype=bool)
    first[1:] = lake[1:] != lake[:-1]
    last = np.ones(len(by_lake), dtype=bool)
    last[:-1] = lake[1:] != lake[:-1]
    n_obs = np.diff(np.append(np.flatnonzero(first), len(by_lake)))
    i_first, i_last = np.flatnonzero(first), np.flatnonzero(last)
    has_prev = n_obs >= 2
    i_prev = np.where(has_prev, i_last - 1, i_last)

    area = by_lake["area_km2"].to_numpy()
    sigma = by_lake["area_uncertainty_km2"].to_numpy()
    dates = by_lake["date"].to_numpy()
    date_index = by_lake["date_index"].to_numpy()
    ids = lake[i_last]
    area_prev = np.where(has_prev, area[i_prev], np.nan)
    change = area[i_last] - area_prev
    change_sigma = np.where(has_prev, np.sqrt(sigma[i_last] ** 2 + sigma[i_prev] ** 2), np.nan)
    days = np.array([(dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days
                     for a, b in zip(dates[i_first], dates[i_last], strict=True)], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(days > 0, (area[i_last] / area[i_first] - 1.0) * 100.0 / (days / DAYS_PER_YEAR), np.nan)

    merged_into = lineage.merged_into[ids - 1]
    parent = lineage.parent_id[ids - 1]
    status = by_lake["status"].to_numpy()[i_last].copy()
    on_last = date_index[i_last] == n_dates - 1
    status[on_last & pd.isna(status)] = "new"  # a single date: every lake is first seen on the last date
    status[~on_last] = np.where(merged_into[~on_last] > 0, "merged", "vanished")

    geoms = by_lake.geometry.to_numpy()[i_last]
    cent = shapely.centroid(geoms)
    to_ll = pyproj.Transformer.from_crs(obs.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(shapely.get_x(cent), shapely.get_y(cent))
    table = gpd.GeoDataFrame(
        {
            "lake_id": ids.astype(np.int64),
            "first_date": pd.Series(dates[i_first], dtype="string"),
            "last_date": pd.Series(dates[i_last], dtype="string"),
            "n_obs": n_obs.astype(np.int64),
            "area_first_km2": area[i_first],
            "area_last_km2": area[i_last],
            "area_prev_km2": area_prev,
            "change_km2": change,
            "change_uncertainty_km2": change_sigma,
            "growth_pct_per_year": growth,
            "status": pd.Series(status, dtype="string"),
            "parent_id": pd.array(np.where(parent > 0, parent, 0), dtype="Int64"),
            "merged_into": pd.array(np.where(merged_into > 0, merged_into, 0), dtype="Int64"),
            "mean_prob": by_lake["mean_prob"].to_numpy(dtype=float)[i_last],
            "centroid_lon": np.asarray(lon, dtype=float),
            "centroid_lat": np.asarray(lat, dtype=float),
        },
        geometry=gpd.GeoSeries(geoms, crs=obs.crs),
        crs=obs.crs,
    )
    table.loc[table["parent_id"] == 0, "parent_id"] = pd.NA
    table.loc[table["merged_into"] == 0, "merged_into"] = pd.NA
    return table


def status_counts(tracks) -> dict[str, int]:  # noqa: ANN001 - GeoDataFrame
    """Lakes per status, every status listed (0 when none)."""
    counts = tracks["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}

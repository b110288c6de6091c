"""``glofwatch monitor`` end to end: inventories of several dates -> tracked lakes on disk (and in PostGIS).

:func:`load_observations` reads and cleans the inventories
(:mod:`~glofwatch.changes.inventory`) and puts every outline into one
Lambert azimuthal equal-area CRS centred on the data, where areas are exact;
:func:`run_monitor` tracks them (:func:`~glofwatch.changes.tracks.track_observations`), calls a lake
that vanished where the next date's ``mask.tif`` did not observe it ``obscured``
(:mod:`~glofwatch.changes.visibility`), and writes into the output folder:

* ``monitor.gpkg``: layers ``tracks`` and ``observations`` (EPSG:4326);
* ``tracks.csv`` and ``observations.csv``: the same tables, geometry as WKT;
* ``monitor.json``: inputs (date and where it came from, CRS, lakes, repairs,
  pixel size), dates, parameters, counts by status, CRS, written last.

With ``db`` the two tables also go to PostgreSQL/PostGIS (:mod:`~glofwatch.changes.postgis`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.changes.inventory import Inventory, equal_area_crs, find_inventories, read_inventory
from glofwatch.changes.match import DEFAULT_MIN_OVERLAP
from glofwatch.changes.postgis import redact, write_postgis
from glofwatch.changes.sensitivity import DEFAULT_BAND_LOGIT, TERRAIN_COLUMN, hidden_growth
from glofwatch.changes.store import OUTPUT_CRS, to_output, write_csv, write_geopackage
from glofwatch.changes.tracks import BAND_COLUMN, HIDDEN_COLUMN, Tracked, status_counts, track_observations
from glofwatch.changes.uncertainty import DEFAULT_DRAIN_THRESHOLD, DEFAULT_K_SIGMA, check_parameters
from glofwatch.changes.visibility import obscure_unseen
from glofwatch.errors import InputError
from glofwatch.io.atomic import write_json_atomic


@dataclass
class Loaded:
    """Observations of all inventories, ready for :func:`~glofwatch.changes.tracks.track_observations`.

    Attributes:
        frame: GeoDataFrame in ``area_crs`` with ``date``, ``date_index``, ``source``,
            ``source_row``, ``mean_prob``, ``unobserved_fraction``, ``pixel_size_m`` and ``geometry``.
        inventories: what was read from each input.
        area_crs: the equal-area CRS (pyproj CRS).
        dates: every date in order (ISO text; ``date_index`` counts in it).
    """

    frame: Any
    inventories: list[Inventory]
    area_crs: Any
    dates: list[str] = field(default_factory=list)


@dataclass
class MonitorResult:
    """What :func:`run_monitor` wrote.

    Attributes:
        tracks: the tracks table (EPSG:4326).
        observations: the observations table (EPSG:4326).
        summary: the content of ``monitor.json``.
        files: written files by name.
    """

    tracks: Any
    observations: Any
    summary: dict
    files: dict[str, Path] = field(default_factory=dict)


def load_observations(
    paths: Sequence[str | Path], dates: list[dt.date] | None = None, pixel_size_m: float | None = None,
    undated_ok: bool = False, band_logit: float | None = DEFAULT_BAND_LOGIT,
) -> Loaded:
    """Read inventories into one table of observations in an equal-area CRS.

    Args:
        paths: inventory files, or folders holding ``lakes.gpkg`` files.
        dates: one date per file (after folders are expanded), overriding columns and names.
        pixel_size_m: pixel size of every inventory, overriding rasters found beside them.
        undated_ok: inventories without a date are read as of
            :data:`~glofwatch.changes.inventory.UNDATED` instead of refused.
        band_logit: half-width of the threshold band measured beside model maps (None: not measured).

    Returns:
        The :class:`Loaded` observations.
    """
    import geopandas as gpd
    import pandas as pd

    files = find_inventories(paths)
    if dates is not None and len(dates) != len(files):
        raise InputError(f"--dates gives {len(dates)} date(s) but there are {len(files)} inventories "
                         f"({', '.join(map(str, files))}); give one date per inventory, in order")
    inventories = [read_inventory(f, None if dates is None else dates[i], pixel_size_m, undated_ok, band_logit)
                   for i, f in enumerate(files)]
    crs = equal_area_crs(inventories)
    order = sorted({inv.date for inv in inventories})
    index = {d: i for i, d in enumerate(order)}
    parts = []
    for inv in inventories:
        part = inv.frame.to_crs(crs)
        parts.append(gpd.GeoDataFrame({
            "date": pd.Series([inv.date.isoformat()] * len(part), dtype="string"),
            "date_index": np.full(len(part), index[inv.date], dtype=np.int64),
            "source": pd.Series([str(inv.path)] * len(part), dtype="string"),
            "source_row": part["source_row"].to_numpy(dtype=np.int64),
            "mean_prob": part["mean_prob"].to_numpy(dtype=float),
            HIDDEN_COLUMN: part[HIDDEN_COLUMN].to_numpy(dtype=float),
            BAND_COLUMN: part[BAND_COLUMN].to_numpy(dtype=float),
            TERRAIN_COLUMN: part[TERRAIN_COLUMN].to_numpy(dtype=float),
            "pixel_size_m": np.full(len(part), inv.pixel_size_m),
        }, geometry=part.geometry.to_numpy(), crs=crs))  # fmt: skip
    frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    return Loaded(frame=frame, inventories=inventories, area_crs=crs, dates=[d.isoformat() for d in order])


def run_monitor(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    dates: list[dt.date] | None = None,
    pixel_size_m: float | None = None,
    k_sigma: float = DEFAULT_K_SIGMA,
    drain_threshold: float = DEFAULT_DRAIN_THRESHOLD,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    db: str | None = None,
    progress: Callable[[str], None] | None = None,
    band_logit: float | None = DEFAULT_BAND_LOGIT,
) -> MonitorResult:
    """Track lakes through inventories of several dates and write the results (see the module docs).

    Args:
        paths: inventory files or folders of ``lakes.gpkg``.
        out_dir: output folder (created).
        dates: one date per inventory (else from a column or the names).
        pixel_size_m: pixel size for the area uncertainty (else from rasters beside, else 10 m).
        k_sigma: a change is real beyond this many combined sigmas.
        drain_threshold: a real loss of more than this share of the area is ``drained``.
        min_overlap: outlines are the same water when they share more than this share of the smaller.
        db: optional ``postgresql://`` URL to write the tables to as well.
        progress: called with one line per step.
        band_logit: half-width in logits of the threshold band of model maps, whose area uncertainty
            (:mod:`~glofwatch.changes.sensitivity`) replaces the half-pixel rule where larger;
            None: the half-pixel rule alone.

    Returns:
        The :class:`MonitorResult`.
    """
    say = progress or (lambda _msg: None)
    check_parameters(k_sigma, drain_threshold)
    if not 0 <= min_overlap < 1:
        raise InputError(f"min_overlap={min_overlap} must be in [0, 1) (0.1 = 10 % of the smaller outline); "
                         "e.g. --min-overlap 0.1")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if band_logit is not None and (not np.isfinite(band_logit) or band_logit <= 0):
        raise InputError(f"band half-width {band_logit} logits must be above 0 (1 = one logit either side of the "
                         "threshold); e.g. --band-logit 0.75, or --band-logit 0 for the half-pixel rule alone")
    loaded = load_observations(paths, dates, pixel_size_m, band_logit=band_logit)
    for inv in loaded.inventories:
        say(f"{inv.path}: {len(inv.frame)} lakes on {inv.date} ({inv.date_from})"
            + "".join(f"; {note}" for note in inv.notes))
    tracked = track_observations(loaded.frame, loaded.dates, k_sigma=k_sigma, drain_threshold=drain_threshold,
                                 min_overlap=min_overlap)
    unseen = obscure_unseen(tracked.tracks, tracked.dates, loaded.inventories)
    if unseen:
        say(f"{unseen} lake(s) without an outline on a later date were not observed there (cloud, nodata, off the "
            "scene): obscured, not vanished")
    hidden = hidden_growth(tracked.observations, loaded.frame, tracked.dates)
    for lake in hidden:
        say(f"lake {lake['lake_id']}: the water a terrain rule removed beside it grew "
            f"{lake['hidden_prev_km2']:.3f} -> {lake['hidden_km2']:.3f} km2 by {lake['date']} (its mapped area is "
            f"{lake['area_km2']:.3f} km2): it may have grown onto ground the DEM shows steep; check the image")
    tracks, observations = to_output(tracked.tracks), to_output(tracked.observations)
    files = {
        "monitor.gpkg": write_geopackage(tracks, observations, out_dir / "monitor.gpkg"),
        "tracks.csv": write_csv(tracks, out_dir / "tracks.csv"),
        "observations.csv": write_csv(observations, out_dir / "observations.csv"),
    }
    if db:
        write_postgis(db, tracks, observations)
        say(f"wrote tables tracks and observations to {redact(db)}")
    summary = monitor_summary(loaded, tracked, k_sigma, drain_threshold, min_overlap, db, band_logit)
    summary["terrain_hidden_growth"] = hidden
    summary["seconds"] = round(time.perf_counter() - start, 3)
    files["monitor.json"] = write_json_atomic(out_dir / "monitor.json", summary)
    return MonitorResult(tracks=tracks, observations=observations, summary=summary, files=files)


def monitor_summary(
    loaded: Loaded, tracked: Tracked, k_sigma: float, drain_threshold: float, min_overlap: float, db: str | None,
    band_logit: float | None = None,
) -> dict:
    """The content of ``monitor.json``."""
    sizes = sorted({inv.pixel_size_m for inv in loaded.inventories})
    return {
        "inputs": [inv.summary() for inv in loaded.inventories],
        "dates": tracked.dates,
        "pixel_size_m": sizes[0] if len(sizes) == 1 else sizes,
        "pixel_size_from": sorted({inv.pixel_size_from for inv in loaded.inventories}),
        "parameters": {"k_sigma": k_sigma, "drain_threshold": drain_threshold, "min_overlap": min_overlap,
                       "band_logit": band_logit},
        "counts": {
            "lakes": len(tracked.tracks),
            "observations": len(tracked.observations),
            "same_date_outlines_merged": tracked.n_same_date_merged,
            "by_status": status_counts(tracked.tracks),
        },
        "crs": OUTPUT_CRS,
        "area_crs": loaded.area_crs.srs,
        "area_method": "outlines reprojected to a Lambert azimuthal equal-area CRS centred on the data",
        "uncertainty": "sigma_A = perimeter x pixel_size / 2 per outline, or for a model map's outline half the "
                       "area of its threshold band (band_logit logits either side) where larger; changes combine "
                       "in quadrature",
        "threshold_band_outlines": int(np.isfinite(loaded.frame[BAND_COLUMN].to_numpy(dtype=float)).sum()),
        "outputs": {"geopackage": "monitor.gpkg", "layers": ["tracks", "observations"],
                    "csv": ["tracks.csv", "observations.csv"], "database": redact(db) if db else None},
    }

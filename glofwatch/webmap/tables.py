"""Read the stage outputs a :class:`~glofwatch.webmap.layout.Layout` found into tables and plain dicts.

Each reader degrades instead of failing: a missing or unreadable part gives
an empty result and a note in ``layout.notes``, so the map still shows what
exists. The lake table comes from the richest source there is: ``risk.gpkg``
(tracks plus hazard scores), else ``monitor.gpkg`` layer ``tracks``, else the
lakes of the latest map outputs.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glofwatch.webmap.layout import Layout, inside

if TYPE_CHECKING:
    import geopandas as gpd

LEVELS = ("green", "yellow", "orange", "red")
"""Alert levels, lowest first."""

READ_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError)
"""What a damaged output file raises when read (pyogrio's DataSourceError is a RuntimeError)."""


def plain(value: Any) -> Any:
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/NA to None, dates to ISO text."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (pd.Timestamp,)):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def date_text(value: Any) -> str | None:
    """A date column value as ``YYYY-MM-DD`` (None when missing)."""
    value = plain(value)
    return None if value is None else str(value)[:10]


def _read_layer(layout: Layout, path: Path, layer: str) -> gpd.GeoDataFrame | None:
    import geopandas as gpd
    import pyogrio

    if inside(layout.root, path) is None:
        layout.notes.append(f"{path}: outside the served folder; skipped")
        return None
    try:
        if layer not in [name for name, _ in pyogrio.list_layers(path)]:
            layout.notes.append(f"{layout.relative(path)} has no layer '{layer}'; skipped")
            return None
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except READ_ERRORS as exc:
        layout.notes.append(f"{layout.relative(path)} layer '{layer}' cannot be read ({_first_line(exc)}); skipped")
        return None
    if frame.crs is None:
        layout.notes.append(f"{layout.relative(path)} layer '{layer}' has no CRS; skipped")
        return None
    if "lake_id" not in frame.columns:
        layout.notes.append(f"{layout.relative(path)} layer '{layer}' has no lake_id column; skipped")
        return None
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _clean_ids(frame: gpd.GeoDataFrame, layout: Layout, what: str) -> gpd.GeoDataFrame:
    import pandas as pd

    ids = pd.to_numeric(frame["lake_id"], errors="coerce")
    bad = ids.isna()
    if bad.any():
        layout.notes.append(f"{what}: {int(bad.sum())} row(s) without a numeric lake_id skipped")
    frame = frame.loc[~bad].copy()
    frame["lake_id"] = ids[~bad].astype("int64")
    return frame


def read_lake_table(layout: Layout) -> tuple[gpd.GeoDataFrame | None, str]:
    """The current lakes: risk lakes, else monitor tracks, else the latest map outputs' lakes.

    Returns:
        (table, source): the table in its file's CRS with unique int64 ``lake_id``
        (None when there is no lake source), and a word naming the source.
    """
    if layout.risk is not None:
        table = _read_layer(layout, layout.risk / "risk.gpkg", "lakes")
        if table is not None:
            return _unique(_clean_ids(table, layout, "risk.gpkg"), layout, "risk.gpkg"), "risk"
    if layout.monitor is not None:
        table = _read_layer(layout, layout.monitor / "monitor.gpkg", "tracks")
        if table is not None:
            return _unique(_clean_ids(table, layout, "monitor.gpkg"), layout, "monitor.gpkg"), "monitor"
    dated = [m.date for m in layout.maps if m.date]
    latest = max(dated) if dated else None
    frames = map_lakes(layout, [m for m in layout.maps if m.date == latest])
    if frames is None:
        return None, "none"
    if frames["lake_id"].duplicated().any():  # several scenes on the latest date number their lakes alike
        frames["lake_id"] = range(1, len(frames) + 1)
    return frames, "map"


def _unique(frame: gpd.GeoDataFrame, layout: Layout, what: str) -> gpd.GeoDataFrame:
    dup = frame["lake_id"].duplicated()
    if dup.any():
        layout.notes.append(f"{what}: {int(dup.sum())} repeated lake_id row(s) skipped")
        frame = frame.loc[~dup]
    return frame.reset_index(drop=True)


def map_lakes(layout: Layout, maps: list[Any]) -> gpd.GeoDataFrame | None:
    """The ``lakes.gpkg`` of some map outputs, in EPSG:4326, with ``date`` and ``map_key`` columns."""
    import geopandas as gpd
    import pandas as pd

    frames = []
    for m in maps:
        frame = _read_layer(layout, m.file("lakes.gpkg"), "lakes")
        if frame is None:
            continue
        frame = _clean_ids(frame, layout, f"{layout.relative(m.folder)}/lakes.gpkg").to_crs("EPSG:4326")
        frame["date"] = m.date
        frame["map_key"] = m.key
        frames.append(frame)
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")


def read_observations(layout: Layout) -> gpd.GeoDataFrame | None:
    """The monitor's ``observations`` layer with ``date`` as ``YYYY-MM-DD`` text (None without a monitor)."""
    if layout.monitor is None:
        return None
    obs = _read_layer(layout, layout.monitor / "monitor.gpkg", "observations")
    if obs is None:
        return None
    obs = _clean_ids(obs, layout, "monitor.gpkg observations")
    if "date" not in obs.columns:
        layout.notes.append("monitor.gpkg observations have no date column; the date slider is off")
        return None
    obs["date"] = [date_text(v) for v in obs["date"]]
    return obs.loc[obs["date"].notna()].reset_index(drop=True)


def _read_json(layout: Layout, path: Path) -> Any:
    if inside(layout.root, path) is None:
        layout.notes.append(f"{path}: outside the served folder; skipped")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        layout.notes.append(f"{layout.relative(path)} cannot be read ({_first_line(exc)}); skipped")
        return None


def read_breakdown(layout: Layout) -> dict[str, Any]:
    """``breakdown.json`` of the risk output ({} without one)."""
    if layout.risk is None:
        return {}
    doc = _read_json(layout, layout.risk / "breakdown.json")
    return doc if isinstance(doc, dict) else {}


def read_alerts(layout: Layout) -> tuple[dict[str, Any], dict[int, str]]:
    """``alerts.json`` and the alert level of every lake.

    Levels come from ``alerts.csv`` (one row per tracked lake, green included)
    when it exists, else from the alerts in force in ``alerts.json``.

    Returns:
        (doc, levels): the alerts document ({} without one) and lake_id -> level.
    """
    if layout.alerts is None:
        return {}, {}
    doc = _read_json(layout, layout.alerts / "alerts.json")
    doc = doc if isinstance(doc, dict) else {}
    if not isinstance(doc.get("alerts"), list):
        doc["alerts"] = []
    doc["alerts"] = [a for a in doc["alerts"] if isinstance(a, dict) and a.get("identifier")]
    levels: dict[int, str] = {}
    path = layout.alerts / "alerts.csv"
    if path.is_file() and inside(layout.root, path):
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    if row.get("level") in LEVELS and str(row.get("lake_id", "")).strip().lstrip("-").isdigit():
                        levels[int(row["lake_id"])] = row["level"]
        except (OSError, ValueError, csv.Error) as exc:
            layout.notes.append(f"{layout.relative(path)} cannot be read ({_first_line(exc)}); levels from alerts.json")
            levels = {}
    if not levels:
        for alert in doc["alerts"]:
            if alert.get("msg_type") != "Cancel" and alert.get("level") in LEVELS and alert.get("lake_id") is not None:
                levels[int(alert["lake_id"])] = alert["level"]
    return doc, levels

"""Air-temperature anomalies that raise the urgency of alerts during heatwaves.

The input is a CSV of daily anomalies with columns ``date`` (ISO date),
``area_or_lake`` and ``anomaly_c`` (deg C above the normal for the day). A row
applies to a lake when ``area_or_lake`` is the lake's id, the monitor's area
name (``area``, ``name`` or ``region`` in monitor.json), or ``*`` / ``all``.
The current anomaly of a lake is the largest anomaly that applies to it over
the last ``window_days`` days of the file (ending on its latest date).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError
from glofwatch.registry import close_matches_hint

COLUMNS = ("date", "area_or_lake", "anomaly_c")
WILDCARDS = ("*", "all")


def read_weather(path: str | Path) -> list[tuple[dt.date, str, float]]:
    """Read the anomaly CSV as (date, area_or_lake, anomaly_c) rows.

    Raises:
        InputError: missing file, missing columns (with close matches), bad dates or numbers.
    """
    import csv

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: weather file not found; check the path given to --weather")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        for column in COLUMNS:
            if column not in header:
                hint = close_matches_hint(column, header)
                raise InputError(f"{path}: needs column '{column}'{hint} (found: {', '.join(header) or 'none'}); "
                                 f"columns are {', '.join(COLUMNS)}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            item = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            try:
                day = dt.date.fromisoformat(item["date"][:10])
                anomaly = float(item["anomaly_c"])
            except ValueError:
                raise InputError(f"{path}: line {line}: date must be YYYY-MM-DD and anomaly_c a number, "
                                 f"got {item['date']!r}, {item['anomaly_c']!r}") from None
            rows.append((day, item["area_or_lake"], anomaly))
    return rows


def area_names(monitor: dict[str, Any]) -> list[str]:
    """Area names a monitor is known by (``area``, ``name``, ``region`` of monitor.json), lower case."""
    return [str(monitor[k]).strip().lower() for k in ("area", "name", "region") if monitor.get(k)]


def heat_anomalies(rows: list[tuple[dt.date, str, float]], lake_ids: list[int], areas: list[str],
                   window_days: int = 3) -> dict[int, float]:
    """The current anomaly of each lake (NaN when no row applies), see the module docs."""
    if not rows:
        return {lake: math.nan for lake in lake_ids}
    latest = max(day for day, _, _ in rows)
    start = latest - dt.timedelta(days=max(window_days, 1) - 1)
    recent = [(key.strip().lower(), value) for day, key, value in rows if start <= day <= latest]
    general = [v for key, v in recent if key in WILDCARDS or key in areas]
    out = {}
    for lake in lake_ids:
        values = general + [v for key, v in recent if key == str(lake)]
        out[lake] = max(values) if values else math.nan
    return out

"""Everything the web map shows, loaded once and indexed in memory.

:class:`Catalog` joins the lake table, the observations, the hazard breakdown
and the alerts by ``lake_id``, and answers the API's queries: filtered GeoJSON
for the current outlines or those of one observation date, one lake's
attributes with its breakdown, its area time series, and the alerts with
their CAP files. Restart the server to pick up new runs.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from glofwatch.webmap.features import SIMPLIFY_M, FeatureSet, build_features
from glofwatch.webmap.layout import Layout, inside
from glofwatch.webmap.tables import (
    date_text,
    map_lakes,
    plain,
    read_alerts,
    read_breakdown,
    read_lake_table,
    read_observations,
)

IDENTIFIER = re.compile(r"^[A-Za-z0-9._@-]{1,200}$")
"""What a CAP identifier written by ``glofwatch alerts`` looks like (also keeps paths out)."""
SERIES_FIELDS = ("area_km2", "area_uncertainty_km2", "perimeter_m", "mean_prob", "source")


def _rounded(value: Any, digits: int) -> Any:
    """Numbers rounded for the GeoJSON properties (the lake details keep every digit)."""
    return round(value, digits) if isinstance(value, float) else value


def _area(row: dict[str, Any]) -> float | None:
    for key in ("area_last_km2", "area_km2"):
        if row.get(key) is not None:
            return row[key]
    return None


class Catalog:
    """The served folder's contents, joined by lake_id (see the module docs).

    Args:
        layout: what :func:`~glofwatch.webmap.layout.discover` found.
        simplify_m: outline simplification tolerance in metres.
    """

    def __init__(self, layout: Layout, simplify_m: float = SIMPLIFY_M) -> None:
        self.layout = layout
        self.simplify_m = simplify_m
        self.table, self.source = read_lake_table(layout)
        self.obs = read_observations(layout)
        self.breakdown = read_breakdown(layout)
        self.alerts_doc, self.levels = read_alerts(layout)
        self.rows: dict[int, dict[str, Any]] = {}
        if self.table is not None:
            for rec in self.table.drop(columns="geometry").to_dict("records"):
                row = {k: plain(v) for k, v in rec.items()}
                row["level"] = self.levels.get(int(row["lake_id"]))
                self.rows[int(row["lake_id"])] = row
        self.series_by_lake = self._series()
        if self.obs is not None:
            self.dates = sorted(set(self.obs["date"]))
        else:
            self.dates = sorted({m.date for m in layout.maps if m.date})
        self.current = self._current_features()
        self._feature_of = {int(v): i for i, v in enumerate(self.current.ids) if v >= 0}
        self._by_date: dict[str, FeatureSet] = {}
        self._lock = threading.Lock()
        self.alerts = [self._alert_view(a) for a in self.alerts_doc.get("alerts", [])]
        self._alert_index = {a["identifier"]: a for a in self.alerts}

    # -- lakes -------------------------------------------------------------------------------

    def _current_features(self) -> FeatureSet:
        if self.table is None:
            return build_features(_empty_frame(), [])
        props, points = [], []
        for lake_id in (int(v) for v in self.table["lake_id"]):
            row = self.rows[lake_id]
            props.append({
                "lake_id": lake_id, "level": row["level"], "status": row.get("status"),
                "area_km2": _rounded(_area(row), 6), "hazard_score": _rounded(row.get("hazard_score"), 4),
                "rank": row.get("rank"), "growth_pct_per_year": _rounded(row.get("growth_pct_per_year"), 2),
                "date": date_text(row.get("last_date") or row.get("date")), "tracked": True,
            })  # fmt: skip
            points.append((row.get("centroid_lon"), row.get("centroid_lat")))
        return build_features(self.table, props, self.simplify_m, points)

    def features(self, date: str | None = None) -> FeatureSet:
        """The current outlines (``date`` None) or those observed on ``date`` (built once, then cached).

        Raises:
            KeyError: ``date`` is not one of :attr:`dates`.
        """
        if date is None:
            return self.current
        if date not in self.dates:
            raise KeyError(date)
        with self._lock:
            if date not in self._by_date:
                self._by_date[date] = self._date_features(date)
            return self._by_date[date]

    def warm(self) -> None:
        """Build the outlines of every date now (``create_app`` runs this in a background thread)."""
        for date in self.dates:
            self.features(date)

    def _date_features(self, date: str) -> FeatureSet:
        if self.obs is not None:
            frame = self.obs.loc[self.obs["date"] == date]
            props = []
            for rec in frame.drop(columns="geometry").to_dict("records"):
                lake_id = int(rec["lake_id"])
                row = self.rows.get(lake_id, {})
                props.append({
                    "lake_id": lake_id, "level": self.levels.get(lake_id), "status": row.get("status"),
                    "area_km2": _rounded(plain(rec.get("area_km2")), 6),
                    "area_uncertainty_km2": _rounded(plain(rec.get("area_uncertainty_km2")), 6),
                    "hazard_score": _rounded(row.get("hazard_score"), 4), "rank": row.get("rank"), "date": date,
                    "tracked": lake_id in self.rows,
                })  # fmt: skip
            return build_features(frame, props, self.simplify_m)
        latest = max(self.dates) if self.dates else None
        if date == latest and self.source == "map":
            return self.current
        frame = map_lakes(self.layout, [m for m in self.layout.maps if m.date == date])
        if frame is None:
            return build_features(_empty_frame(), [])
        props = [{"lake_id": None, "level": None, "area_km2": _rounded(plain(r.get("area_km2")), 6),
                  "mean_prob": _rounded(plain(r.get("mean_prob")), 3), "date": date, "tracked": False}
                 for r in frame.drop(columns="geometry").to_dict("records")]  # fmt: skip
        return build_features(frame, props, self.simplify_m)

    def _series(self) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        if self.obs is None:
            for lake_id, row in self.rows.items():
                date = date_text(row.get("last_date") or row.get("date"))
                if date is not None:
                    out[lake_id] = [{"date": date, "area_km2": _area(row), "area_uncertainty_km2": None}]
            return out
        cols = [c for c in ("lake_id", "date", *SERIES_FIELDS) if c in self.obs.columns]
        for rec in self.obs[cols].to_dict("records"):
            point = {"date": rec["date"], **{k: plain(rec.get(k)) for k in SERIES_FIELDS}}
            out.setdefault(int(rec["lake_id"]), []).append(point)
        for points in out.values():
            points.sort(key=lambda p: p["date"])
        return out

    def lake(self, lake_id: int) -> dict[str, Any] | None:
        """One lake's attributes, level, alert, hazard breakdown and latest area uncertainty (None if unknown)."""
        row = self.rows.get(lake_id)
        if row is None:
            return None
        series = self.series_by_lake.get(lake_id, [])
        last = series[-1] if series else {}
        where = self._feature_of.get(lake_id)
        bbox = None if where is None else [float(v) for v in self.current.bounds[where]]
        alerts = [a for a in self.alerts if a.get("lake_id") == lake_id and a["active"]]
        return {
            "lake_id": lake_id,
            "level": row["level"],
            "area_km2": _area(row),
            "area_uncertainty_km2": last.get("area_uncertainty_km2"),
            "bbox": bbox,
            "attributes": row,
            "breakdown": (self.breakdown.get("lakes") or {}).get(str(lake_id)),
            "criteria": {k: self.breakdown.get(k) for k in ("criteria_name", "criteria_version", "criteria_hash",
                                                             "total_weight")} if self.breakdown else None,
            "alert": alerts[-1] if alerts else None,
            "n_observations": len(series),
        }

    def series(self, lake_id: int) -> dict[str, Any] | None:
        """The lake's area per observation date with its uncertainty (None if the lake is unknown)."""
        row = self.rows.get(lake_id)
        if row is None:
            return None
        return {
            "lake_id": lake_id, "status": row.get("status"), "change_km2": row.get("change_km2"),
            "change_uncertainty_km2": row.get("change_uncertainty_km2"),
            "growth_pct_per_year": row.get("growth_pct_per_year"), "points": self.series_by_lake.get(lake_id, []),
        }  # fmt: skip

    # -- alerts ------------------------------------------------------------------------------

    def _alert_view(self, alert: dict[str, Any]) -> dict[str, Any]:
        view = {k: plain(v) for k, v in alert.items() if k not in ("polygon", "parameters")}
        view["lake_id"] = int(alert["lake_id"]) if str(alert.get("lake_id", "")).lstrip("-").isdigit() else None
        view["active"] = alert.get("msg_type") != "Cancel"
        ok = IDENTIFIER.match(str(alert["identifier"])) and self.cap_path(str(alert["identifier"]), alert) is not None
        view["cap_url"] = f"/api/alerts/{alert['identifier']}.xml" if ok else None
        return view

    def alert(self, identifier: str) -> dict[str, Any] | None:
        """The alert with this identifier, or None."""
        return self._alert_index.get(identifier)

    def cap_path(self, identifier: str, alert: dict[str, Any] | None = None) -> Path | None:
        """The CAP XML file of an alert, resolved inside ``ALERTS/cap``; None when missing or outside."""
        if self.layout.alerts is None or not IDENTIFIER.match(identifier):
            return None
        alert = alert if alert is not None else next(
            (a for a in self.alerts_doc.get("alerts", []) if a.get("identifier") == identifier), None)
        if alert is None:
            return None
        cap_dir = inside(self.layout.root, self.layout.alerts / "cap")
        if cap_dir is None:
            return None
        path = inside(cap_dir, self.layout.alerts / str(alert.get("cap_file") or f"cap/{identifier}.xml"))
        return path if path is not None and path.suffix == ".xml" and path.is_file() else None

    # -- summary -----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Counts, sources, dates, bounds and notes for the page header."""
        lay = self.layout
        levels: dict[str, int] = {}
        for row in self.rows.values():
            levels[row["level"] or "none"] = levels.get(row["level"] or "none", 0) + 1
        return {
            "root": lay.root.name,
            "sources": {
                "lakes": self.source, "maps": len(lay.maps),
                "monitor": lay.relative(lay.monitor) if lay.monitor else None,
                "risk": lay.relative(lay.risk) if lay.risk else None,
                "alerts": lay.relative(lay.alerts) if lay.alerts else None,
            },
            "n_lakes": len(self.rows),
            "levels": levels,
            "dates": self.dates,
            "bounds": self.current.total_bounds(),
            "alerts": {"generated": self.alerts_doc.get("generated"), "active": sum(a["active"] for a in self.alerts)},
            "criteria": self.breakdown.get("criteria_name"),
            "notes": list(lay.notes),
        }


def _empty_frame() -> Any:
    import geopandas as gpd

    return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs="EPSG:4326")

"""The ``glofwatch watch`` configuration: areas of interest, each with a bbox or polygon, a model and thresholds.

Example (paths are relative to the file)::

    out: watch                  # default: a folder named after the file, beside it
    catalog: earth-search       # or planetary-computer, or a STAC API URL
    collection: sentinel-2-l2a
    start: 2023-06-01           # first day watched
    end: 2023-12-31             # default: today (UTC)
    max_cloud: 20               # percent of the area (SCL cloud, shadow, cirrus)
    model: runs/demo/run
    areas:
      - name: imja
        bbox: [86.90, 27.87, 86.95, 27.91]
        thresholds: {max_cloud: 30, min_area_m2: 2000, min_level: orange}
        dem: data/imja_dem.tif   # optional, for the hazard criteria; also glaciers, settlements
      - name: south-lhonak
        polygon: [[88.17, 27.88], [88.23, 27.88], [88.23, 27.93], [88.17, 27.88]]
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError

AREA_KEYS = {"name", "bbox", "polygon", "model", "thresholds", "dem", "glaciers", "settlements"}
TOP_KEYS = {"out", "catalog", "collection", "start", "end", "max_cloud", "model", "areas", "backend", "device",
            "sender", "status", "timeout"}
THRESHOLD_KEYS = {"max_cloud", "min_area_m2", "min_level"}
LEVELS = ("green", "yellow", "orange", "red")


@dataclass
class Area:
    """One area of interest.

    Attributes:
        name: folder name (letters, digits, ``-``, ``_``, ``.``).
        bbox: (west, south, east, north) degrees; a polygon's bounds when a polygon is given.
        polygon: (lon, lat) vertices, or None; pixels outside it are not mapped.
        model: run folder or model file.
        max_cloud: largest cloud share of the area, percent, for a date to be used.
        min_area_m2: smallest lake kept.
        min_level: lowest alert level that gets a CAP message.
        dem: DEM for the hazard criteria, or None; ``glaciers``, ``settlements`` likewise.
    """

    name: str
    bbox: tuple[float, float, float, float]
    polygon: list[tuple[float, float]] | None
    model: Path
    max_cloud: float
    min_area_m2: float
    min_level: str
    dem: Path | None = None
    glaciers: Path | None = None
    settlements: Path | None = None


@dataclass
class WatchConfig:
    """A parsed configuration (see the module docstring)."""

    path: Path
    out: Path
    catalog: str | None
    collection: str | None
    start: dt.date
    end: dt.date | None
    areas: list[Area] = field(default_factory=list)
    backend: str = "auto"
    device: str = "auto"
    sender: str = "glofwatch"
    status: str = "Actual"
    timeout: float = 30.0

    def end_date(self) -> dt.date:
        """The last day watched: ``end``, else today (UTC)."""
        return self.end or dt.datetime.now(dt.UTC).date()


def _fail(path: Path, what: str) -> ConfigError:
    return ConfigError(f"{path}: {what}")


def _date(path: Path, key: str, value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _fail(path, f"{key}: {value!r} is not a date; write YYYY-MM-DD, e.g. 2023-06-01") from None


def _number(path: Path, key: str, value: Any, lo: float, hi: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _fail(path, f"{key}: {value!r} is not a number") from None
    if not lo <= x <= hi:
        raise _fail(path, f"{key}: {x:g} must be in {lo:g}..{hi:g}")
    return x


def _path(base: Path, value: Any) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else base / p


def _area(path: Path, k: int, raw: Any, defaults: dict[str, Any]) -> Area:
    where = f"areas[{k}]"
    if not isinstance(raw, dict):
        raise _fail(path, f"{where} is not a mapping; give name and bbox (or polygon) for each area")
    unknown = sorted(set(raw) - AREA_KEYS)
    if unknown:
        raise _fail(path, f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(AREA_KEYS))}")
    name = str(raw.get("name") or "")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise _fail(path, f"{where}: name {name!r} must be letters, digits, '-', '_' or '.' (it names a folder)")
    where = f"area {name!r}"
    polygon = None
    if "polygon" in raw:
        try:
            polygon = [(float(x), float(y)) for x, y in raw["polygon"]]
        except (TypeError, ValueError):
            raise _fail(path, f"{where}: polygon must be a list of [lon, lat] pairs") from None
        if len(polygon) < 3:
            raise _fail(path, f"{where}: polygon needs at least 3 [lon, lat] vertices")
        lons, lats = [p[0] for p in polygon], [p[1] for p in polygon]
        bbox = (min(lons), min(lats), max(lons), max(lats))
    elif "bbox" in raw:
        try:
            bbox = tuple(float(v) for v in raw["bbox"])  # type: ignore[assignment]
        except (TypeError, ValueError):
            raise _fail(path, f"{where}: bbox must be [west, south, east, north] in degrees") from None
        if len(bbox) != 4:
            raise _fail(path, f"{where}: bbox must have 4 numbers [west, south, east, north], not {len(bbox)}")
    else:
        raise _fail(path, f"{where}: give a bbox [west, south, east, north] or a polygon [[lon, lat], ...]")
    from glofwatch.scene.aoi import check_bbox

    try:
        check_bbox(*bbox)
    except Exception as exc:  # noqa: BLE001 - reworded with the file and area
        raise _fail(path, f"{where}: {exc}") from None
    model = raw.get("model") or defaults.get("model")
    if not model:
        raise _fail(path, f"{where}: no model; set model: RUN_FOLDER for the area or at the top")
    th = raw.get("thresholds") or {}
    if not isinstance(th, dict) or set(th) - THRESHOLD_KEYS:
        raise _fail(path, f"{where}: thresholds take {', '.join(sorted(THRESHOLD_KEYS))}")
    level = str(th.get("min_level", "yellow"))
    if level not in LEVELS:
        raise _fail(path, f"{where}: min_level {level!r} is not one of {', '.join(LEVELS)}")
    base = path.parent
    return Area(
        name=name, bbox=bbox, polygon=polygon, model=_path(base, model),  # type: ignore[arg-type]
        max_cloud=_number(path, f"{where} max_cloud", th.get("max_cloud", defaults.get("max_cloud", 20)), 0, 100),
        min_area_m2=_number(path, f"{where} min_area_m2", th.get("min_area_m2", 1000.0), 0, 1e9),
        min_level=level,
        dem=_path(base, raw["dem"]) if raw.get("dem") else None,
        glaciers=_path(base, raw["glaciers"]) if raw.get("glaciers") else None,
        settlements=_path(base, raw["settlements"]) if raw.get("settlements") else None,
    )


def load_config(path: str | Path) -> WatchConfig:
    """Parse and check a watch configuration file.

    Raises:
        ConfigError: the file is missing, not YAML, or has a wrong or missing value (one line each).
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: watch configuration not found; write one (see `glofwatch watch --help`)") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read as YAML ({str(exc).splitlines()[0]}); fix the file") from None
    if not isinstance(raw, dict):
        raise _fail(path, "is not a YAML mapping; give out, start, model and areas")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(TOP_KEYS))}")
    areas = raw.get("areas")
    if not isinstance(areas, list) or not areas:
        raise _fail(path, "no areas; list at least one under areas: with a name and a bbox or polygon")
    if "start" not in raw:
        raise _fail(path, "no start date; add start: YYYY-MM-DD (the first day watched)")
    parsed = [_area(path, k, a, raw) for k, a in enumerate(areas)]
    names = [a.name for a in parsed]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _fail(path, f"area name(s) {', '.join(dup)} repeat; give each area its own name")
    start = _date(path, "start", raw["start"])
    end = _date(path, "end", raw["end"]) if raw.get("end") else None
    if end is not None and end < start:
        raise _fail(path, f"end {end} is before start {start}")
    base = path.parent
    return WatchConfig(
        path=path, out=_path(base, raw["out"]) if raw.get("out") else base / path.stem,
        catalog=str(raw["catalog"]) if raw.get("catalog") else None,
        collection=str(raw["collection"]) if raw.get("collection") else None,
        start=start, end=end, areas=parsed, backend=str(raw.get("backend", "auto")),
        device=str(raw.get("device", "auto")), sender=str(raw.get("sender", "glofwatch")),
        status=str(raw.get("status", "Actual")),
        timeout=_number(path, "timeout", raw.get("timeout", 30.0), 1, 3600),
    )

"""Reading dated lake inventories: any vector file, any CRS, with a date and a pixel size for each.

An inventory is one vector file of lake outlines on one date: the ``lakes.gpkg``
of ``glofwatch map`` or a published inventory (GeoPackage, Shapefile, GeoJSON,
any CRS, 2D or 3D polygons). :func:`read_inventory` reads one and cleans it:

* the layer is ``lakes`` when the file has one, else the first polygon layer;
* 3D outlines lose their Z; empty geometries are dropped, invalid ones are
  repaired with :func:`shapely.make_valid` (both counted); points and lines are dropped;
* the date is, in this order: the one given (``--dates``), a date column
  (``date``, ``*_date``, ``date_*``, ``year``; the median when rows differ), a
  ``YYYY[-MM[-DD]]`` or ``YYYYMMDD`` in the file name, then in its folder's name
  (``glofwatch map`` writes ``OUT/<scene>/lakes.gpkg``). Missing month or day count as 1;
* the pixel size (for the area uncertainty) is the one given, else that of the
  ``probability.tif`` or ``mask.tif`` beside the file, else 10 m (Sentinel-2);
* beside a model map's ``probability.tif`` and ``summary.json``, each outline gets
  ``threshold_sigma_km2``, the area its model's threshold band leaves uncertain
  (:mod:`~glofwatch.changes.sensitivity`); NaN for other files.

Area attributes of the input are never used: areas are measured later in an
equal-area projection (:func:`equal_area_crs`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.changes.sensitivity import DEFAULT_BAND_LOGIT, TERRAIN_COLUMN, outline_margins
from glofwatch.changes.uncertainty import DEFAULT_PIXEL_SIZE_M
from glofwatch.errors import InputError

VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".kml", ".sqlite")
"""File types searched for in folders given as inventories."""

FOLDER_FILE_NAMES = ("lakes.gpkg",)
"""File names looked for under a folder given as an inventory (what ``glofwatch map`` writes)."""

PIXEL_RASTERS = ("probability.tif", "mask.tif")
"""Rasters beside a lake file whose pixel size is the outlines' pixel size."""

_DATE_IN_TEXT = re.compile(
    r"(?<!\d)((?:19|20)\d\d)(?:([-_.]?)(0[1-9]|1[0-2])(?:\2(0[1-9]|[12]\d|3[01]))?)?(?!\d)"
)
_DATE_COLUMN = re.compile(r"^(date|year|.*[_ ]date|date[_ ].*|(acq|img|image|obs|survey|scene)_?date\w*)$",
                          re.IGNORECASE)
_FIRST_YEAR = 1960
"""Years in file names before this (or after next year) are not read as dates (e.g. ``2048px``)."""

UNDATED = dt.date.min
"""The date of an inventory read with ``undated_ok`` that has none (``date_from`` is ``"none"``)."""


@dataclass
class Inventory:
    """One cleaned inventory.

    Attributes:
        path: the file.
        date: its date.
        date_from: where the date came from (``--dates``, ``column 'x'``, ``file name``, ``folder name``).
        layer: the layer read.
        crs: the input CRS (as ``authority:code`` when it has one, else WKT).
        frame: GeoDataFrame in the input CRS with ``geometry`` (2D polygons),
            ``mean_prob`` and ``unobserved_fraction`` (NaN without them; see
            :mod:`glofwatch.lakes.vectorize`), ``threshold_sigma_km2`` and ``terrain_hidden_km2``
            (NaN unless a model map; :mod:`~glofwatch.changes.sensitivity`) and ``source_row``
            (0-based row in the file).
        n_read: features in the layer.
        n_empty: empty or missing geometries dropped.
        n_repaired: invalid geometries repaired.
        n_not_polygon: points or lines dropped.
        pixel_size_m: pixel size used for the area uncertainty.
        pixel_size_from: where it came from.
        map_threshold: the threshold of the model map the outlines come from (None: not one,
            or the threshold band was not measured).
        notes: anything worth telling the user.
    """

    path: Path
    date: dt.date
    date_from: str
    layer: str
    crs: str
    frame: Any = field(repr=False)
    n_read: int = 0
    n_empty: int = 0
    n_repaired: int = 0
    n_not_polygon: int = 0
    pixel_size_m: float = DEFAULT_PIXEL_SIZE_M
    pixel_size_from: str = "default"
    map_threshold: float | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready description for ``monitor.json``."""
        return {
            "path": str(self.path), "date": None if self.date == UNDATED else self.date.isoformat(),
            "date_from": self.date_from,
            "layer": self.layer, "crs": self.crs, "features": self.n_read, "lakes": len(self.frame),
            "empty_dropped": self.n_empty, "repaired": self.n_repaired, "not_polygon_dropped": self.n_not_polygon,
            "pixel_size_m": self.pixel_size_m, "pixel_size_from": self.pixel_size_from,
            "map_threshold": self.map_threshold, "notes": list(self.notes),
        }  # fmt: skip


def parse_date(value: object) -> dt.date | None:
    """A date from a value: a date/datetime, a year number, or text holding ``YYYY[-MM[-DD]]``/``YYYYMMDD``.

    Missing month or day count as 1. Returns ``None`` when there is no date.

    Example:
        >>> parse_date("S2B_MSIL2A_20231015T045709"), parse_date("2019-10"), parse_date(2001)
        (datetime.date(2023, 10, 15), datetime.date(2019, 10, 1), datetime.date(2001, 1, 1))
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return None if value != value else value.to_pydatetime().date()  # noqa: PLR0124 - NaT check
    if isinstance(value, (int, np.integer, float, np.floating)):
        value = str(int(value))
    found = dates_in_text(str(value))
    return found[0] if found else None


def dates_in_text(text: str) -> list[dt.date]:
    """Every ``YYYY[-MM[-DD]]`` / ``YYYYMMDD`` date in a text, in order (impossible days skipped)."""
    dates = []
    for match in _DATE_IN_TEXT.finditer(text):
        year, _, month, day = match.groups()
        try:
            dates.append(dt.date(int(year), int(month or 1), int(day or 1)))
        except ValueError:  # 2023-02-30
            continue
    return dates


def parse_dates_option(text: str | None, count: int) -> list[dt.date] | None:
    """The ``--dates D1,D2,...`` option: one date per inventory, or ``None`` when not given.

    Raises:
        InputError: a date does not parse, or the count differs from the inventories'.
    """
    if not text:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    dates = []
    for p in parts:
        d = parse_date(p) if re.fullmatch(r"\d{4}([-_.]?\d{2}([-_.]?\d{2})?)?", p) else None
        if d is None:
            raise InputError(f"--dates: '{p}' is not a date; write YYYY, YYYY-MM or YYYY-MM-DD, "
                             "e.g. --dates 2019-10-15,2020-10-15")
        dates.append(d)
    if len(dates) != count:
        raise InputError(f"--dates gives {len(dates)} date(s) for {count} inventories; "
                         "give exactly one date per inventory, in order")
    return dates


def find_inventories(paths: Sequence[str | Path]) -> list[Path]:
    """Expand folders into the ``lakes.gpkg`` files under them (sorted); files stay as they are.

    A file reached twice (given, and again under a folder given) is kept once, where it came first.

    Raises:
        InputError: a path does not exist or a folder holds no lake file.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            files = sorted(q for name in FOLDER_FILE_NAMES for q in p.rglob(name))
            if not files:
                raise InputError(f"{p}: folder holds no lakes.gpkg; give inventory files (.gpkg, .shp, .geojson) "
                                 "or folders written by `glofwatch map`")
            found.extend(files)
        else:
            raise InputError(f"{p}: not found; give lake inventory files (.gpkg, .shp, .geojson) or map output folders")
    if not found:
        raise InputError("no inventories given; pass two or more lake files of different dates")
    seen: set[Path] = set()
    unique = []
    for f in found:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique


def read_inventory(path: str | Path, date: dt.date | None = None, pixel_size_m: float | None = None,
                   undated_ok: bool = False, band_logit: float | None = DEFAULT_BAND_LOGIT) -> Inventory:
    """Read and clean one inventory (see the module docs).

    Args:
        path: a vector file of lake outlines.
        date: its date (overrides any column or name).
        pixel_size_m: pixel size of the image it was mapped from (overrides any raster beside it).
        undated_ok: an inventory without any date gets :data:`UNDATED` instead of an error.
        band_logit: half-width in logits of the threshold band measured beside a model map
            (None: not measured, ``threshold_sigma_km2`` is NaN).

    Returns:
        The :class:`Inventory`.

    Raises:
        InputError: unreadable file, no CRS, no polygons, or no date.
    """
    import geopandas as gpd
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: inventory not found; check the path")
    layer = _pick_layer(path)
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise InputError(f"{path}: cannot read it as a vector file ({exc.__class__.__name__}: {str(exc)[:120]}); "
                         "give a GeoPackage, Shapefile or GeoJSON") from None
    if frame.crs is None:
        raise InputError(f"{path}: has no CRS; set it (e.g. `ogr2ogr -a_srs EPSG:32645 fixed.gpkg '{path}'`, "
                         "or add the .prj beside a shapefile) and retry")
    geoms, n_empty, n_repaired, n_not_polygon = clean_geometries(frame.geometry.to_numpy())
    keep = np.array([g is not None for g in geoms], dtype=bool)
    if len(frame) and not keep.any():
        raise InputError(f"{path}: no usable lake polygons ({n_empty} empty, {n_not_polygon} points/lines); "
                         "give a file of lake outlines")
    def numbers(column: str) -> np.ndarray:
        return (pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
                if column in frame.columns else np.full(len(frame), np.nan))

    band, hidden, threshold = np.full(int(keep.sum()), np.nan), np.full(int(keep.sum()), np.nan), None
    if band_logit is not None:
        margins = outline_margins(geoms[keep], frame.crs, path, logit=band_logit)
        band, hidden, threshold = margins.sigma_km2, margins.hidden_km2, margins.threshold
    clean = gpd.GeoDataFrame(
        {"mean_prob": numbers("mean_prob")[keep], "unobserved_fraction": numbers("unobserved_fraction")[keep],
         "threshold_sigma_km2": band, TERRAIN_COLUMN: hidden, "source_row": np.flatnonzero(keep).astype(np.int64)},
        geometry=gpd.GeoSeries(geoms[keep], crs=frame.crs), crs=frame.crs,
    )
    notes: list[str] = []
    when, date_from = _find_date(path, frame, date, notes, undated_ok)
    size, size_from = _find_pixel_size(path, pixel_size_m)
    if size_from == "default":
        notes.append(f"pixel size unknown: assuming {DEFAULT_PIXEL_SIZE_M:g} m (Sentinel-2); set it with --pixel-size")
    if threshold is not None:
        n_band = int(np.isfinite(band).sum())
        notes.append(f"threshold band of {band_logit:g} logits around the model's {threshold:g} measured on "
                     f"{n_band} outline{'' if n_band == 1 else 's'} (probability.tif beside)")
    if n_repaired:
        notes.append(f"repaired {n_repaired} invalid geometr{'y' if n_repaired == 1 else 'ies'}")
    if n_empty:
        notes.append(f"dropped {n_empty} empty geometr{'y' if n_empty == 1 else 'ies'}")
    if n_not_polygon:
        notes.append(f"dropped {n_not_polygon} point/line feature(s)")
    return Inventory(path=path, date=when, date_from=date_from, layer=layer, crs=_crs_name(frame.crs), frame=clean,
                     n_read=len(frame), n_empty=n_empty, n_repaired=n_repaired, n_not_polygon=n_not_polygon,
                     pixel_size_m=size, pixel_size_from=size_from, map_threshold=threshold, notes=notes)


def clean_geometries(geoms: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """Make outlines 2D, valid and polygonal.

    Returns:
        ``(geoms, n_empty, n_repaired, n_not_polygon)``: an object array with a
        2D Polygon/MultiPolygon or ``None`` (dropped) per input geometry.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    missing = shapely.is_missing(geoms)
    present = ~missing
    flat = geoms.copy()
    flat[present] = shapely.force_2d(geoms[present])
    empty = missing.copy()
    empty[present] = shapely.is_empty(flat[present])
    ok = ~empty
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[ok] = ~shapely.is_valid(flat[ok])
    if invalid.any():
        flat[invalid] = shapely.make_valid(flat[invalid], method="structure", keep_collapsed=False)
    n_not_polygon = n_collapsed = 0
    for i in np.flatnonzero(ok):
        poly = _polygonal(flat[i])
        if poly is None:
            if invalid[i]:  # repaired into nothing (a zero-area ring): counts as empty
                n_collapsed += 1
            else:
                n_not_polygon += 1
            continue
        out[i] = poly
    return out, int(empty.sum()) + n_collapsed, int(invalid.sum()), n_not_polygon


def _polygonal(geom):  # noqa: ANN001, ANN202 - shapely geometry
    """The polygons of a geometry (Polygon or MultiPolygon), or ``None`` when it has none."""
    import shapely

    kind = shapely.get_type_id(geom)
    if kind in (3, 6):  # Polygon, MultiPolygon
        return None if geom.is_empty else geom
    if kind == 7:  # GeometryCollection from make_valid
        polys = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6) and not p.is_empty]
        if not polys:
            return None
        return polys[0] if len(polys) == 1 else shapely.unary_union(polys)
    return None


def _pick_layer(path: Path) -> str:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot open it as a vector file ({exc.__class__.__name__}); "
                         "give a GeoPackage, Shapefile or GeoJSON") from None
    if len(layers) == 0:
        raise InputError(f"{path}: has no layers; give a file of lake outlines")
    names = [str(n) for n in layers[:, 0]]
    if "lakes" in names:
        return "lakes"
    polygonal = [str(n) for n, kind in layers if kind and "polygon" in str(kind).lower()]
    return polygonal[0] if polygonal else names[0]


def _find_date(path: Path, frame, given: dt.date | None, notes: list[str],  # noqa: ANN001
               undated_ok: bool = False) -> tuple[dt.date, str]:
    if given is not None:
        return given, "--dates"
    for col in frame.columns:
        if col == "geometry" or not _DATE_COLUMN.match(str(col)):
            continue
        values = [d for d in map(parse_date, frame[col].tolist()) if d is not None]
        if not values:
            continue
        distinct = sorted(set(values))
        if len(distinct) == 1:
            return distinct[0], f"column '{col}'"
        ordinals = sorted(d.toordinal() for d in values)
        median = dt.date.fromordinal(ordinals[len(ordinals) // 2])
        notes.append(f"column '{col}' holds {len(distinct)} dates ({distinct[0]} to {distinct[-1]}); "
                     f"using the median {median}")
        return median, f"column '{col}' (median)"
    last_year = dt.date.today().year + 1
    for text, source in ((path.stem, "file name"), (path.parent.name, "folder name")):
        found = [d for d in dates_in_text(text) if _FIRST_YEAR <= d.year <= last_year]
        if found:
            return found[0], source
    if undated_ok:
        return UNDATED, "none"
    raise InputError(f"{path}: no date found (no date column, no YYYY-MM-DD in its name or folder); "
                     "pass --dates D1,D2,... with one date per inventory")


def _find_pixel_size(path: Path, given: float | None) -> tuple[float, str]:
    if given is not None:
        if not np.isfinite(given) or given <= 0:
            raise InputError(f"--pixel-size {given} must be a positive number of metres, e.g. --pixel-size 10")
        return float(given), "--pixel-size"
    for name in PIXEL_RASTERS:
        raster = path.parent / name
        if raster.is_file():
            size = _raster_pixel_size_m(raster)
            if size is not None:
                return size, str(raster)
    return DEFAULT_PIXEL_SIZE_M, "default"


def _raster_pixel_size_m(path: Path) -> float | None:
    """Mean pixel side of a projected raster in metres; ``None`` when it cannot be told."""
    import rasterio

    try:
        with rasterio.open(path) as ds:
            if ds.crs is None or not ds.crs.is_projected:
                return None
            _, factor = ds.crs.linear_units_factor
            return float((abs(ds.res[0]) + abs(ds.res[1])) / 2.0 * factor)
    except Exception:  # noqa: BLE001 - an unreadable raster just does not tell the pixel size
        return None


def _crs_name(crs) -> str:  # noqa: ANN001 - pyproj CRS
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()


def equal_area_crs(inventories: list[Inventory]):  # noqa: ANN201 - pyproj CRS
    """A Lambert azimuthal equal-area CRS centred on all inventories together.

    Areas in it are exact on the WGS84 ellipsoid (up to the straight edges of the
    outlines); lengths, and so perimeters, are off by a few parts in 10,000 for a
    compact lake 1,000 km from the centre (scale h = 1/k).
    """
    import pyproj

    boxes = []
    for inv in inventories:
        if len(inv.frame) == 0:
            continue
        to_ll = pyproj.Transformer.from_crs(inv.frame.crs, "EPSG:4326", always_xy=True)
        west, south, east, north = inv.frame.total_bounds
        boxes.append(to_ll.transform_bounds(west, south, east, north, densify_pts=21))
    if not boxes:
        lon0, lat0 = 0.0, 0.0
    else:
        b = np.array(boxes)
        lon0 = float((b[:, 0].min() + b[:, 2].max()) / 2.0)
        lat0 = float((b[:, 1].min() + b[:, 3].max()) / 2.0)
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat0:.6f} +lon_0={lon0:.6f} +x_0=0 +y_0=0 "
                                 "+datum=WGS84 +units=m +no_defs")

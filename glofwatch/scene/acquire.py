"""Fetch Sentinel-2 L2A over a bbox: search a STAC API, rank dates by cloud inside the bbox, read only the window.

:func:`fetch` searches the catalog (:mod:`glofwatch.scene.catalogs`) for items
over the bbox and dates, reads each item's SCL window first (20 m, small) and
ranks the items of a date by their cloud inside the bbox, not the tile-wide
``eo:cloud_cover``. A date whose mosaic is clearer than ``max_cloud`` percent
gets its bands read, again only the bbox window of each cloud-optimised
GeoTIFF (HTTP range requests through GDAL's ``/vsicurl/``; no whole file is
downloaded), and is written as ``OUT/<YYYY-MM-DD>.tif``:

* a COG with bands ``B02 B03 B04 B08`` (uint16 DN as the product stores them)
  and ``SCL``, nodata 0, on the bbox's grid (:func:`glofwatch.scene.aoi.bbox_grid`:
  10 m, the UTM zone of the bbox centre; items of another zone are reprojected
  with nearest neighbour, so DN and classes keep their values);
* its radiometry recorded: tags ``PROCESSING_BASELINE``, ``BOA_ADD_OFFSET``,
  ``DATATAKE_SENSING_START``, ``STAC_ITEMS``, ``LICENSE``, and the band
  offset/scale (``reflectance = DN * 1e-4 - 0.1`` from baseline 04.00 on), which
  :func:`glofwatch.scene.read.read_scene` reads back.

Several items on one date (neighbouring tiles, two UTM zones) are mosaicked,
the clearest first. ``OUT/items.json`` lists every item seen (id, datetime,
tile and bbox cloud cover, processing baseline, offset, licence, hrefs, what
was done with it) and every date; it is rewritten only when it changes, and a
date whose file exists with the same items is kept, so a second run over the
same query writes nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.scene.aoi import BBox, bbox_grid, check_bbox, utm_crs, zones
from glofwatch.scene.catalogs import DEFAULT_TIMEOUT_S, gdal_http_options, resolve_catalog, search_items
from glofwatch.scene.fetchfiles import read_items, write_date_cog, write_items
from glofwatch.scene.products import product_info_from_stac, resolve_offset
from glofwatch.scene.scl import NOT_OBSERVED
from glofwatch.scene.stacitem import item_band_hrefs

FETCH_BANDS = ("B02", "B03", "B04", "B08")
"""Bands written per date (with the SCL)."""


@dataclass
class Candidate:
    """One item found, and what :func:`fetch` made of it.

    Attributes:
        id: item id.
        datetime: acquisition time (ISO).
        date: acquisition day ``YYYY-MM-DD`` (UTC).
        tile_cloud_pct: the item's tile-wide ``eo:cloud_cover``.
        baseline: ``s2:processing_baseline``.
        offset: DN offset of its bands; ``offset_from``: where that came from.
        license: the item's or collection's licence.
        hrefs: band name -> href (``B02 B03 B04 B08 SCL``).
        bbox_valid_pct: share of the bbox the item has data for (from its SCL).
        bbox_cloud_pct: cloud, shadow and cirrus share of the bbox pixels it has data for.
        status: ``fetched``, ``kept`` (already on disk), ``not needed`` (other items of the date
            cover the bbox), ``cloudy``, ``no data`` or ``skipped`` (date done before).
    """

    id: str
    datetime: str
    date: str
    tile_cloud_pct: float | None
    baseline: str | None
    offset: float
    offset_from: str
    license: str | None
    hrefs: dict[str, str]
    bbox_valid_pct: float | None = None
    bbox_cloud_pct: float | None = None
    status: str = "found"


@dataclass
class FetchResult:
    """What :func:`fetch` found and wrote.

    Attributes:
        out_dir: the output folder.
        grid: the bbox grid every date is on.
        dates: date -> its COG, for every date on disk for this query (fetched now or before).
        new: dates written in this run.
        rejected: date -> why it was not written (cloudy, no data).
        items: every item found.
        seconds: wall time.
        notes: one-line remarks (UTM zones crossed, missing SCL).
    """

    out_dir: Path
    grid: GeoGrid
    dates: dict[str, Path] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    items: list[Candidate] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def parse_day(text: str, what: str) -> dt.date:
    """``YYYY-MM-DD`` -> date, or one line naming the option."""
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise InputError(f"{what} {text!r} is not a date; give YYYY-MM-DD, e.g. 2023-10-05") from None


def read_window(href: str, grid: GeoGrid, timeout_s: float = DEFAULT_TIMEOUT_S) -> np.ndarray:
    """Band 1 of ``href`` on ``grid`` (H, W), reading only the blocks the grid covers.

    On the same CRS and pixel grid the window is read as it is; otherwise (another UTM
    zone, the 20 m SCL) it is resampled onto ``grid`` with nearest neighbour. 0 where
    the file has no data.

    Raises:
        InputError: the file cannot be opened or read (one line with the href).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import Window

    out = np.zeros(grid.shape, dtype=np.uint16)
    try:
        with rasterio.Env(**gdal_http_options(href, timeout_s)), rasterio.open(href) as ds:
            t, g = ds.transform, grid.transform
            col_f, row_f = (g.c - t.c) / t.a, (g.f - t.f) / t.e
            aligned = (str(ds.crs) == str(rasterio.crs.CRS.from_user_input(grid.crs)) and abs(t.a - g.a) < 1e-9
                       and abs(t.e - g.e) < 1e-9 and abs(col_f - round(col_f)) < 1e-6
                       and abs(row_f - round(row_f)) < 1e-6)
            if aligned:
                c0, r0 = int(round(col_f)), int(round(row_f))
                a0, a1 = max(r0, 0), min(r0 + grid.height, ds.height)
                b0, b1 = max(c0, 0), min(c0 + grid.width, ds.width)
                if a1 > a0 and b1 > b0:
                    out[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = ds.read(1, window=Window(b0, a0, b1 - b0, a1 - a0))
            else:
                with WarpedVRT(ds, crs=grid.crs, transform=g, width=grid.width, height=grid.height,
                               resampling=Resampling.nearest, src_nodata=ds.nodata if ds.nodata is not None else 0,
                               nodata=0) as vrt:
                    out[:] = vrt.read(1)
    except RasterioError as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"cannot read {href} ({first[:160]}); check that the file server is reachable "
                         "and honours HTTP range requests") from None
    return out


def _candidate(item: dict[str, Any], licence: str | None) -> Candidate:
    hrefs, keys = item_band_hrefs(item)
    missing = [b for b in FETCH_BANDS if b not in hrefs]
    if missing:
        raise InputError(
            f"item {item.get('id')}: no asset for {', '.join(missing)} "
            f"(assets: {', '.join(sorted(item.get('assets') or {}))}); "
            "use a Sentinel-2 L2A collection (--collection sentinel-2-l2a) whose assets are blue green red nir scl "
            "or B02 B03 B04 B08 SCL"
        )
    props = item.get("properties") or {}
    info = product_info_from_stac(item, {b: keys[b] for b in FETCH_BANDS})
    choice = resolve_offset(info, FETCH_BANDS, what=f"item {item.get('id')}")
    when = str(props.get("datetime") or "")
    links = [link.get("href") for link in item.get("links") or [] if link.get("rel") == "license"]
    return Candidate(
        id=str(item.get("id")), datetime=when, date=when[:10], tile_cloud_pct=props.get("eo:cloud_cover"),
        baseline=info.baseline, offset=choice.offset, offset_from=choice.source,
        license=props.get("license") or licence or (links[0] if links else None),
        hrefs={b: hrefs[b] for b in (*FETCH_BANDS, "SCL") if b in hrefs},
    )


def _shares(scl: np.ndarray) -> tuple[float, float]:
    """(valid %, cloud % of the valid pixels) of an SCL window."""
    valid = scl != 0
    n = int(np.count_nonzero(valid))
    cloud = float(np.isin(scl[valid], NOT_OBSERVED).sum()) / n if n else 1.0
    return round(100.0 * n / scl.size, 3), round(100.0 * cloud, 3)


def fetch(
    bbox: BBox | Iterable[float],
    start: str,
    end: str,
    out_dir: str | Path,
    catalog: str | None = None,
    collection: str | None = None,
    max_cloud: float = 20.0,
    limit: int = 200,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    skip_dates: Iterable[str] = (),
    allow_empty: bool = False,
    progress: Callable[[str], None] | None = None,
    polygon: list[tuple[float, float]] | None = None,
) -> FetchResult:
    """Search, rank and read the bbox window of every clear enough date (see the module docstring).

    Args:
        bbox: ``(west, south, east, north)`` degrees, or a checked :class:`BBox`.
        start: first day ``YYYY-MM-DD``.
        end: last day ``YYYY-MM-DD``.
        out_dir: output folder (created).
        catalog: catalog name or STAC API URL (default Earth Search).
        collection: collection (default ``sentinel-2-l2a``).
        max_cloud: largest cloud + shadow + cirrus share of the bbox, percent, for a date to be written.
        limit: most items searched.
        timeout_s: seconds before the API or a file server counts as unreachable.
        skip_dates: dates not to read (done before, e.g. by ``glofwatch watch``).
        allow_empty: no items found is a result, not an error.
        progress: called with one line per date.
        polygon: (lon, lat) vertices of the area inside the bbox; pixels outside it are
            written as nodata (and do not count in the cloud share).

    Raises:
        InputError: bad bbox or dates, no items, unreachable catalog, missing assets, unreadable files.
    """
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    box = bbox if isinstance(bbox, BBox) else check_bbox(*[float(v) for v in bbox])
    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    if last < first:
        raise InputError(f"--end {last} is before --start {first}; give the first day, then the last")
    if not 0 <= max_cloud <= 100:
        raise InputError(f"--max-cloud {max_cloud:g} must be a percentage in 0..100, e.g. 20")
    cat = resolve_catalog(catalog, collection)
    out = Path(out_dir)
    grid = bbox_grid(box)
    inside = polygon_mask(polygon, grid) if polygon else None
    result = FetchResult(out, grid)
    if len(zones(box)) > 1:
        result.notes.append(f"the bbox spans UTM zones {', '.join(map(str, zones(box)))}; every date is read onto "
                            f"{utm_crs(box)} (the zone of its centre)")
    items, licence = search_items(cat, box.as_list(), first.isoformat(), last.isoformat(), limit, timeout_s)
    if not items and not allow_empty:
        raise InputError(f"no {cat.collection} items over {box.as_list()} from {first} to {last} at {cat.url}; widen "
                         "the dates or the bbox, or check --collection")
    cands = sorted((_candidate(item, licence) for item in items), key=lambda c: (c.date, c.id))
    result.items = cands
    previous = read_items(out)
    skip = set(skip_dates)
    for day in sorted({c.date for c in cands}):
        group = [c for c in cands if c.date == day]
        if day in skip:
            for c in group:
                c.status = "skipped"
            continue
        path = out / f"{day}.tif"
        done = (previous.get("dates") or {}).get(day) or {}
        if path.is_file() and done.get("status") == "fetched" and done.get("items") == sorted(c.id for c in group):
            for c in group:
                prev = {p["id"]: p for p in previous.get("items", [])}.get(c.id, {})
                c.status, c.bbox_valid_pct, c.bbox_cloud_pct = prev.get("status", "kept"), prev.get("bbox_valid_pct"), \
                    prev.get("bbox_cloud_pct")
            result.dates[day] = path
            say(f"{day}: kept {path.name} ({len(group)} item(s))")
            continue
        _fetch_date(day, group, grid, path, max_cloud, timeout_s, result, say, inside)
        write_items(out, box, cat, first, last, max_cloud, grid, result, previous)
    write_items(out, box, cat, first, last, max_cloud, grid, result, previous)
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


def polygon_mask(polygon: list[tuple[float, float]], grid: GeoGrid) -> np.ndarray:
    """(H, W) bool: True inside the lon/lat ``polygon`` on ``grid``."""
    from rasterio.features import geometry_mask
    from rasterio.warp import transform_geom

    ring = [list(p) for p in polygon]
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    geom = transform_geom("EPSG:4326", grid.crs, {"type": "Polygon", "coordinates": [ring]})
    return geometry_mask([geom], out_shape=grid.shape, transform=grid.transform, invert=True)


def _fetch_date(day: str, group: list[Candidate], grid: GeoGrid, path: Path, max_cloud: float, timeout_s: float,
                result: FetchResult, say: Callable[[str], None], inside: np.ndarray | None = None) -> None:
    """Rank the items of one date by bbox cloud, mosaic their SCL, and write the date when clear enough."""
    scls = {}
    for c in group:
        if "SCL" in c.hrefs:
            scls[c.id] = read_window(c.hrefs["SCL"], grid, timeout_s)
            if inside is not None:
                scls[c.id][~inside] = 0
            c.bbox_valid_pct, c.bbox_cloud_pct = _shares(scls[c.id])
        else:
            c.bbox_cloud_pct = c.tile_cloud_pct
            result.notes.append(f"item {c.id} has no SCL asset: ranked by its tile-wide cloud cover")
    order = sorted(group, key=lambda c: (c.bbox_cloud_pct if c.bbox_cloud_pct is not None else 100.0,
                                         -(c.bbox_valid_pct or 0.0)))
    owner = np.full(grid.shape, -1, dtype=np.int16)
    mosaic_scl = np.zeros(grid.shape, dtype=np.uint16)
    for k, c in enumerate(order):
        has = scls[c.id] != 0 if c.id in scls else np.ones(grid.shape, dtype=bool)
        take = has & (owner < 0)
        owner[take] = k
        if c.id in scls:
            mosaic_scl[take] = scls[c.id][take]
    used = [k for k, c in enumerate(order) if (owner == k).any()]
    valid_pct, cloud_pct = _shares(mosaic_scl) if scls else (100.0, order[0].bbox_cloud_pct or 0.0)
    if not used or valid_pct == 0:
        for c in group:
            c.status = "no data"
        result.rejected[day] = "no data in the bbox"
        say(f"{day}: no data in the bbox ({len(group)} item(s))")
        return
    if cloud_pct > max_cloud:
        for c in group:
            c.status = "cloudy"
        result.rejected[day] = f"cloud {cloud_pct:.1f} % of the bbox > --max-cloud {max_cloud:g}"
        say(f"{day}: cloudy ({cloud_pct:.1f} % of the bbox), not fetched")
        return
    ref = order[used[0]].offset
    bands = np.zeros((len(FETCH_BANDS), *grid.shape), dtype=np.uint16)
    with ThreadPoolExecutor(max_workers=len(FETCH_BANDS)) as pool:
        for k in used:
            c = order[k]
            arrays = list(pool.map(lambda b, c=c: read_window(c.hrefs[b], grid, timeout_s), FETCH_BANDS))
            sel = owner == k
            if inside is not None:
                sel &= inside
            for i, a in enumerate(arrays):
                band = a[sel].astype(np.int32)
                if c.offset != ref:  # another baseline: express its DN in the reference offset
                    band = np.where(band > 0, np.clip(band + int(c.offset - ref), 1, 65535), 0)
                bands[i][sel] = band.astype(np.uint16)
            c.status = "fetched"
    for k, c in enumerate(order):
        if k not in used:
            c.status = "not needed"
    chosen = [order[k] for k in used]
    write_date_cog(path, bands, mosaic_scl, grid, FETCH_BANDS, [asdict(c) for c in chosen], ref)
    result.dates[day] = path
    result.new.append(day)
    say(f"{day}: fetched {path.name} ({', '.join(c.id for c in chosen)}; cloud {cloud_pct:.1f} % of the bbox, "
        f"data on {valid_pct:.1f} %)")

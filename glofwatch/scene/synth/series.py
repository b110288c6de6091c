"""A dated series of synthetic scenes whose lakes change on purpose: test data for ``glofwatch monitor``.

:func:`write_synthetic_series` draws one landscape (the same as
:func:`~glofwatch.scene.synth.scene.write_synthetic_scene` for the seed) and
writes it on ``n_dates`` post-monsoon dates one year apart, each a full scene
folder ``OUT/<YYYY-MM-DD>/`` (``scene.tif``, ``lakes_mask.tif``, ``dem.tif``,
``glaciers.gpkg``, ``lakes_truth.gpkg``) on the same grid and terrain. On every
date each lake's shore wobbles by about one pixel (smooth noise adds pixels
just outside or removes pixels just inside it). Between the last two dates,
on purpose:

* ``grow``: one lake grows by about 40 % (its shore moves out into free ground);
* ``split``: one lake is cut into about 40 and 60 % by a 5-pixel dry band
  across its long axis (the larger part keeps the truth id, the smaller gets a new one);
* ``merge``: one lake that was two lakes on every earlier date (cut the same
  way) becomes one, under the larger part's id;
* ``drain``: one lake loses about 63 % of its area (it shrinks to its deepest
  part, as South Lhonak did from 1.63 to 0.60 km2 in October 2023).

``OUT/series.json`` names the truth ids of every event with their areas, and
the lakes that were left alone (``stable``). The event lakes are the largest
lakes that lie wholly inside the image, away from the nodata wedge (the growing one
also at least 6 pixels from any other lake).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from glofwatch.errors import ConfigError
from glofwatch.geo import GeoGrid
from glofwatch.io.atomic import write_json_atomic
from glofwatch.scene.synth.landscape import Landscape, build_landscape
from glofwatch.scene.synth.materials import BANDS
from glofwatch.scene.synth.scene import (
    SceneFiles,
    _write_band_files,
    _write_raster,
    _write_reflectance,
    draw_scene_spec,
    scene_grid,
    swath_edge,
)

FIRST_DATE = dt.date(2019, 10, 15)
"""Date of the first scene; later ones follow a year apart (post-monsoon, like most lake inventories)."""

GROWTH = 1.4
DRAIN_KEEP = 0.37
MIN_EVENT_PX = 120
"""Smallest lake (pixels) that an event may happen to."""

CUT_HALF_WIDTH_PX = 2.0
CUT_AT = 0.4
"""Cuts cross the long axis where 40 % of the lake lies on one side."""
GAP_PX = 6


@dataclass
class SeriesFiles:
    """What :func:`write_synthetic_series` wrote.

    Attributes:
        out_dir: the series folder.
        dates: the dates, in order.
        scenes: one :class:`SceneFiles` per date (folder ``OUT/<date>``).
        series_json: ``OUT/series.json``.
        events: the content of ``series.json`` under ``events``.
        stable: truth ids of the lakes left alone.
    """

    out_dir: Path
    dates: list[dt.date]
    scenes: list[SceneFiles]
    series_json: Path
    events: dict = field(default_factory=dict)
    stable: list[int] = field(default_factory=list)


def series_dates(n: int, first: dt.date = FIRST_DATE) -> list[dt.date]:
    """``n`` dates one year apart from ``first``.

    Example:
        >>> [d.isoformat() for d in series_dates(2)]
        ['2019-10-15', '2020-10-15']
    """
    return [first.replace(year=first.year + i) for i in range(n)]


def write_synthetic_series(
    out_dir: Path,
    n_dates: int = 2,
    size: int = 2048,
    seed: int = 0,
    epsg: int = 32645,
    pixel_size_m: float = 10.0,
    bands_as_files: bool = False,
    first_date: dt.date = FIRST_DATE,
    processing_baseline: str | None = None,
    scl: bool = False,
) -> SeriesFiles:
    """Write ``n_dates`` scenes of one landscape whose lakes change on purpose (see the module docs).

    Args:
        out_dir: folder for ``<YYYY-MM-DD>/`` scene folders and ``series.json``.
        n_dates: number of dates (at least 2).
        size: scene side in pixels (at least 256, so there is room for four event lakes).
        seed: the series is a pure function of the seed.
        epsg: projected CRS.
        pixel_size_m: pixel size in metres.
        bands_as_files: write ``B02.tif`` ... instead of ``scene.tif``.
        first_date: date of the first scene.
        processing_baseline: L2A baseline to imitate (04.00 and later: DN offset +1000, recorded), None: none.
        scl: add an SCL band (``scene.tif`` band 5) of what was drawn.

    Returns:
        The :class:`SeriesFiles`.
    """
    if n_dates < 2:
        raise ConfigError(f"synthetic series: --dates {n_dates} needs at least 2 dates to show changes")
    if size < 256:
        raise ConfigError(f"synthetic series: size={size} is too small for four changing lakes; "
                          "use --size 1024 or more")
    out_dir = Path(out_dir)
    grid = scene_grid(size, epsg, pixel_size_m)
    rng = np.random.default_rng([seed, 0x5CE4E])  # the landscape of write_synthetic_scene(seed)
    spec = draw_scene_spec(rng, size)
    nodata = swath_edge((size, size), size // 8)
    land = build_landscape(rng, (size, size), spec, pixel_size_m=pixel_size_m, nodata=nodata)
    plan = _plan_events(land, np.random.default_rng([seed, 0x5E21E5]))
    dates = series_dates(n_dates, first_date)
    wobble_rng = np.random.default_rng([seed, 0x70BB1E])
    scenes, areas = [], []
    for t, date in enumerate(dates):
        ids = plan.last if t == n_dates - 1 else plan.before
        ids = wobble(ids, land.nodata, wobble_rng, beds=plan.before)
        scenes.append(_write_date(land, ids, plan.new_lakes, grid, out_dir / date.isoformat(), bands_as_files,
                                  date.isoformat(), processing_baseline, scl))
        areas.append(np.bincount(ids.ravel(), minlength=plan.max_id + 1) * grid.pixel_area_m2() / 1e6)
    events = _describe(plan, areas[-2], areas[-1], dates)
    seen = np.flatnonzero((areas[0] > 0) & (areas[-1] > 0))
    stable = sorted(int(i) for i in seen if i > 0 and i not in plan.event_ids)
    doc = {
        "dates": [d.isoformat() for d in dates], "size": size, "seed": seed, "crs": grid.crs,
        "pixel_size_m": pixel_size_m, "scenes": {d.isoformat(): d.isoformat() for d in dates},
        "truth": "lakes_truth.gpkg in each scene folder (lake_id = truth id)", "events": events, "stable": stable,
    }  # fmt: skip
    path = write_json_atomic(out_dir / "series.json", doc)
    return SeriesFiles(out_dir=out_dir, dates=dates, scenes=scenes, series_json=path, events=events, stable=stable)


@dataclass
class _Plan:
    before: np.ndarray
    last: np.ndarray
    grow: int
    split: tuple[int, int]
    merge: tuple[int, int]
    drain: int
    new_lakes: dict[int, int]  # new id -> id whose look it takes
    max_id: int

    @property
    def event_ids(self) -> set[int]:
        return {self.grow, *self.split, *self.merge, self.drain}


def _plan_events(land: Landscape, rng: np.random.Generator) -> _Plan:
    """Pick the event lakes and draw the lake-id rasters before and after the last step."""
    ids = land.lake_id.astype(np.int32)
    ids[land.nodata] = 0
    sizes = np.bincount(ids.ravel())
    whole, free = _room(ids, land.nodata, 0), _room(ids, land.nodata, GAP_PX)
    candidates = [int(i) for i in np.argsort(-sizes) if i > 0 and sizes[i] >= MIN_EVENT_PX and whole[i]]
    before, last = ids.copy(), ids.copy()
    next_id = int(ids.max()) + 1
    chosen: dict[str, object] = {}
    new_lakes: dict[int, int] = {}
    noise = ndimage.gaussian_filter(rng.standard_normal(ids.shape), 3.0)
    for lake in candidates:
        if "drain" not in chosen and _drain(last, lake):
            chosen["drain"] = lake
        elif "grow" not in chosen and free[lake] and _grow(last, lake, land.nodata, noise):
            chosen["grow"] = lake
        elif "split" not in chosen and _cut(last, lake, next_id):
            chosen["split"] = (lake, next_id)
            new_lakes[next_id] = lake
            next_id += 1
        elif "merge" not in chosen and _cut(before, lake, next_id):
            chosen["merge"] = (lake, next_id)
            new_lakes[next_id] = lake
            next_id += 1
        if len(chosen) == 4:
            break
    if len(chosen) < 4:
        missing = sorted({"drain", "grow", "split", "merge"} - set(chosen))
        raise ConfigError(f"synthetic series: no lake fit for {', '.join(missing)} (need lakes of {MIN_EVENT_PX}+ px "
                          f"well inside the image); use a larger --size or another --seed")
    return _Plan(before=before, last=last, grow=chosen["grow"], split=chosen["split"], merge=chosen["merge"],  # type: ignore[arg-type]
                 drain=chosen["drain"], new_lakes=new_lakes, max_id=next_id - 1)  # type: ignore[arg-type]


def _room(ids: np.ndarray, nodata: np.ndarray, lake_gap: int) -> np.ndarray:
    """Per lake id: True when it is :data:`GAP_PX` from the image edge and nodata and ``lake_gap`` from other lakes."""
    n = int(ids.max()) + 1
    ok = np.ones(n, dtype=bool)
    ok[0] = False
    h, w = ids.shape
    for k, box in enumerate(ndimage.find_objects(ids), start=1):
        if box is None:
            ok[k] = False
            continue
        r0, r1 = box[0].start - GAP_PX, box[0].stop + GAP_PX
        c0, c1 = box[1].start - GAP_PX, box[1].stop + GAP_PX
        if r0 < 0 or c0 < 0 or r1 > h or c1 > w:
            ok[k] = False
            continue
        window = ids[r0:r1, c0:c1]
        near = ndimage.binary_dilation(window == k, iterations=GAP_PX)
        close = ndimage.binary_dilation(window == k, iterations=lake_gap) if lake_gap > 0 else window == k
        ok[k] = not ((window[close] != k) & (window[close] > 0)).any() and not nodata[r0:r1, c0:c1][near].any()
    return ok


def _drain(ids: np.ndarray, lake: int) -> bool:
    """Shrink a lake to its deepest :data:`DRAIN_KEEP` (largest piece only) in place; False when it would not."""
    mask = ids == lake
    dist = ndimage.distance_transform_edt(mask)
    keep = mask & (dist >= np.quantile(dist[mask], 1.0 - DRAIN_KEEP))
    labels, n = ndimage.label(keep)
    if n == 0:
        return False
    keep = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    if not 0.2 <= keep.sum() / mask.sum() <= 0.45:
        return False
    ids[mask & ~keep] = 0
    return True


def _grow(ids: np.ndarray, lake: int, nodata: np.ndarray, noise: np.ndarray) -> bool:
    """Grow a lake by :data:`GROWTH` into free ground in place; False when there is no room."""
    target = int(round(GROWTH * (ids == lake).sum()))
    work = ids.copy()
    for _ in range(60):
        mask = work == lake
        missing = target - int(mask.sum())
        if missing <= 0:
            ids[:] = work
            return True
        ring = ndimage.binary_dilation(mask) & (work == 0) & ~nodata & _alone(work, lake, GAP_PX // 2)
        cells = np.flatnonzero(ring)
        if cells.size == 0:
            return False
        work.ravel()[cells[np.argsort(-noise.ravel()[cells])][:missing]] = lake
    return False


def _alone(ids: np.ndarray, lake: int, radius: int) -> np.ndarray:
    """Pixels with no lake other than ``lake`` within ``radius`` pixels (square window)."""
    others = (ids > 0) & (ids != lake)
    return ~ndimage.maximum_filter(others, size=2 * radius + 1)


def _cut(ids: np.ndarray, lake: int, new_id: int) -> bool:
    """Cut a lake in two parts of about 40 and 60 % across its long axis, in place.

    The larger part keeps the id (clearly larger, so no shore wobble swaps which
    one is); False when the smaller part would be under 20 % of the lake.
    """
    mask = ids == lake
    rows, cols = np.nonzero(mask)
    pts = np.column_stack([rows, cols]).astype(float)
    centre = pts.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((pts - centre).T))
    along = (pts - centre) @ vecs[:, -1]  # position along the long axis
    band = np.abs(along - np.quantile(along, CUT_AT)) <= CUT_HALF_WIDTH_PX
    cut = mask.copy()
    cut[rows[band], cols[band]] = False
    labels, n = ndimage.label(cut)
    if n < 2:
        return False
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    big, small = np.argsort(-sizes)[:2]
    if sizes[small] < 0.2 * mask.sum():
        return False
    ids[mask] = 0
    ids[labels == big] = lake
    ids[labels == small] = new_id
    return True


def wobble(ids: np.ndarray, nodata: np.ndarray, rng: np.random.Generator, beds: np.ndarray | None = None) -> np.ndarray:
    """Move every lake's shore by about one pixel: out where a smooth noise field is high, in where it is low.

    Pixels are added just outside a lake only where no other lake is within 2
    pixels (lakes never touch) and, with ``beds`` (lake ids of another date),
    not in the bed of another lake; pixels are removed just inside only from lakes of 50
    pixels or more, never from their 1-pixel-eroded core (nothing vanishes).
    """
    noise = ndimage.gaussian_filter(rng.standard_normal(ids.shape), 2.0)
    noise /= noise.std() + 1e-12
    out = ids.copy()
    lake = ids > 0
    cross = ndimage.generate_binary_structure(2, 1)
    near = ndimage.grey_dilation(ids, footprint=cross)
    hi = ndimage.maximum_filter(ids, size=5)
    lo = ndimage.minimum_filter(np.where(lake, ids, ids.max() + 1), size=5)
    add = ~lake & ~nodata & (near > 0) & (hi == lo) & (noise > 0.5)  # next to exactly one lake
    if beds is not None:
        add &= (beds == 0) | (beds == near)
    out[add] = near[add]
    inner = ndimage.grey_erosion(ids, footprint=cross) == ids  # all four neighbours in the lake
    core_px = np.bincount(ids[inner & lake], minlength=int(ids.max()) + 1)
    sizes = np.bincount(ids.ravel(), minlength=core_px.size)
    remove = lake & ~inner & (sizes[ids] >= 50) & (core_px[ids] > 0) & (noise < -0.5)
    out[remove] = 0
    return out


def _write_date(
    land: Landscape, ids: np.ndarray, new_lakes: dict[int, int], grid: GeoGrid, out_dir: Path, bands_as_files: bool,
    date: str, baseline: str | None = None, scl: bool = False,
) -> SceneFiles:
    """Render and write one date's scene with the lakes of ``ids``."""
    from glofwatch.scene.synth.vectors import glacier_outlines, lake_polygons, write_gpkg

    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {lake.lake_id: lake for lake in land.lakes}
    lakes = list(land.lakes) + [dataclasses.replace(by_id[src], lake_id=new) for new, src in new_lakes.items()]
    colours = np.zeros((max(int(ids.max()), *(lake.lake_id for lake in lakes)) + 1, 4), dtype=np.float32)
    for lake in lakes:
        colours[lake.lake_id] = by_id[new_lakes.get(lake.lake_id, lake.lake_id)].colour
    water = land.water.copy()
    fresh = (ids > 0) & (land.lake_id == 0)
    water[:, fresh] = colours[ids[fresh]].T
    dated = dataclasses.replace(land, lake_id=ids.astype(np.int16), water=water, lakes=lakes)
    files = SceneFiles(
        out_dir=out_dir, scene=None if bands_as_files else out_dir / "scene.tif",
        bands={b: out_dir / f"{b}.tif" for b in BANDS} if bands_as_files else {},
        lakes_mask=out_dir / "lakes_mask.tif", dem=out_dir / "dem.tif", glaciers=out_dir / "glaciers.gpkg",
        lakes_truth=out_dir / "lakes_truth.gpkg", grid=grid,
    )  # fmt: skip
    if bands_as_files:
        _write_band_files(dated, grid, files.bands, baseline, out_dir / "SCL.tif" if scl else None)
    else:
        _write_reflectance(dated, grid, files.scene, date, baseline, scl)  # type: ignore[arg-type]
    mask = dated.lake_mask()
    _write_raster(files.lakes_mask, np.where(dated.nodata, np.uint8(255), mask), grid, nodata=255)
    _write_raster(files.dem, dated.terrain.dem_m.astype(np.float32), grid, nodata=None)
    lakes_gdf = lake_polygons(dated, mask, grid)
    glaciers_gdf = glacier_outlines(dated, grid)
    write_gpkg(lakes_gdf, files.lakes_truth)
    write_gpkg(glaciers_gdf, files.glaciers)
    files.lake_count, files.glacier_count = len(lakes_gdf), len(glaciers_gdf)
    files.lake_area_km2 = float(lakes_gdf["area_km2"].sum()) if len(lakes_gdf) else 0.0
    files.files = [p for p in (files.scene, *files.bands.values(), files.lakes_mask, files.dem, files.glaciers,
                               files.lakes_truth) if p is not None]
    return files


def _describe(plan: _Plan, before: np.ndarray, after: np.ndarray, dates: list[dt.date]) -> dict:
    """The ``events`` of ``series.json``: truth ids and areas (km2) on the last two dates."""
    def km2(a: np.ndarray, *lakes: int) -> float:
        return round(float(sum(a[k] for k in lakes)), 6)

    between = [dates[-2].isoformat(), dates[-1].isoformat()]
    s, s2 = plan.split
    m, m2 = plan.merge
    return {
        "between": between,
        "grow": {"lake_id": plan.grow, "area_before_km2": km2(before, plan.grow),
                 "area_after_km2": km2(after, plan.grow),
                 "factor": round(km2(after, plan.grow) / km2(before, plan.grow), 3)},
        "split": {"lake_id": s, "into": [s, s2], "area_before_km2": km2(before, s),
                  "area_after_km2": [km2(after, s), km2(after, s2)]},
        "merge": {"lake_ids": [m, m2], "into": m, "area_before_km2": [km2(before, m), km2(before, m2)],
                  "area_after_km2": km2(after, m)},
        "drain": {"lake_id": plan.drain, "area_before_km2": km2(before, plan.drain),
                  "area_after_km2": km2(after, plan.drain),
                  "loss_pct": round(100 * (1 - km2(after, plan.drain) / km2(before, plan.drain)), 1)},
    }  # fmt: skip


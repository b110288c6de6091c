"""The files ``glofwatch fetch`` writes: one COG per date and ``items.json``."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.geo import GeoGrid

ITEMS_FILE = "items.json"


def write_date_cog(path: Path, bands: np.ndarray, scl: np.ndarray, grid: GeoGrid, band_names: tuple[str, ...],
                   items: list[dict[str, Any]], offset: float) -> Path:
    """Write one date as a band-described, offset-recorded COG (``band_names`` then SCL), atomically.

    Args:
        path: target file.
        bands: (C, H, W) uint16 DN as stored.
        scl: (H, W) SCL classes.
        grid: their grid.
        band_names: names of ``bands``.
        items: the items read (dicts with ``id``, ``datetime``, ``baseline``, ``license``), best first.
        offset: the DN offset of ``bands``.
    """
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    from glofwatch.io.atomic import atomic_path

    names = (*band_names, "SCL")
    profile = {"driver": "GTiff", "height": grid.height, "width": grid.width, "count": len(names), "dtype": "uint16",
               "crs": grid.crs, "transform": grid.transform, "nodata": 0}
    baselines = sorted({c["baseline"] for c in items if c.get("baseline")})
    tags = {"BOA_ADD_OFFSET": f"{offset:g}", "DATATAKE_SENSING_START": items[0]["datetime"],
            "STAC_ITEMS": ",".join(c["id"] for c in items), "LICENSE": items[0].get("license") or "unknown"}
    if baselines:
        tags["PROCESSING_BASELINE"] = baselines[-1]
    block = 512 if min(grid.shape) >= 512 else 256
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(bands, list(range(1, len(band_names) + 1)))
            ds.write(scl.astype(np.uint16), len(names))
            for i, name in enumerate(names, start=1):
                ds.set_band_description(i, name)
            ds.update_tags(**tags)
            if offset:
                ds.scales = (1e-4,) * len(band_names) + (1.0,)
                ds.offsets = (offset * 1e-4,) * len(band_names) + (0.0,)
        cog = cog_profiles.get("deflate")
        cog.update(blockxsize=block, blockysize=block, predictor=2)
        with mem.open() as src, atomic_path(path) as tmp:
            cog_translate(src, str(tmp), cog, in_memory=True, quiet=True)
    return path


def read_items(out: Path) -> dict[str, Any]:
    """The ``items.json`` of a fetch folder, ``{}`` when there is none."""
    from glofwatch.io.files import read_json

    return read_json(out / ITEMS_FILE)


def write_items(out: Path, box: Any, cat: Any, first: dt.date, last: dt.date, max_cloud: float, grid: GeoGrid,
                result: Any, previous: dict[str, Any]) -> None:
    """Write ``items.json`` when its content changed (a rerun of the same query writes nothing)."""
    from glofwatch.io.atomic import write_json_atomic

    dates = dict(previous.get("dates") or {})
    for day in {c.date for c in result.items}:
        group = [c for c in result.items if c.date == day]
        if all(c.status == "skipped" for c in group):
            continue
        status = "fetched" if day in result.dates else ("rejected" if day in result.rejected else "pending")
        if status == "pending":
            continue
        dates[day] = {"status": status, "file": result.dates[day].name if day in result.dates else None,
                      "items": sorted(c.id for c in group),
                      "used": sorted(c.id for c in group if c.status in ("fetched", "kept")),
                      "reason": result.rejected.get(day)}
    known = {p["id"]: p for p in previous.get("items", [])}
    known.update({c.id: asdict(c) for c in result.items if c.status != "skipped" or c.id not in known})
    doc = {
        "query": {"bbox": box.as_list(), "start": first.isoformat(), "end": last.isoformat(), "catalog": cat.url,
                  "collection": cat.collection, "max_cloud_pct": max_cloud},
        "crs": grid.crs, "transform": list(grid.transform)[:6], "width": grid.width, "height": grid.height,
        "dates": dict(sorted(dates.items())),
        "items": sorted(known.values(), key=lambda p: (p["date"], p["id"])),
    }  # fmt: skip
    if doc != previous:
        write_json_atomic(out / ITEMS_FILE, doc)
        previous.clear()
        previous.update(doc)

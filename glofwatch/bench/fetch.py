"""``glofwatch bench fetch``: bytes and seconds that ``glofwatch fetch`` needs per date, on loopback.

The benchmark writes one synthetic scene (offset baseline 05.09, with its SCL)
as ``dates`` Earth Search-like items over per-asset COGs (deflate, blocks of
``block`` pixels like Earth Search's 1024), serves them on 127.0.0.1
(:mod:`glofwatch.bench.loopback`: rustac STAC API + RangeHTTPServer), and runs
:func:`glofwatch.scene.acquire.fetch` for a square bbox of ``bbox_km`` at the
scene centre with every date accepted. It reports:

* bytes the file server sent (HTTP range responses), per date and per km2 of bbox;
* the compressed bytes of the COG blocks that the bbox window touches in the
  files read (the least a block-wise reader can fetch), and the ratio of the two
  (goal: at most 1.5: headers and GDAL's 16 KB read chunks are the overhead);
* the share of the files' bytes that was read, and the seconds per date.

Reports go to ``OUT/fetch.json`` and ``OUT/fetch.md``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GOAL_RATIO = 1.5
"""Most bytes read per compressed byte of the window that the benchmark calls good."""


def window_block_bytes(path: str | Path, bounds: tuple[float, float, float, float]) -> int:
    """Compressed bytes of the blocks of band 1 of ``path`` that a window of ``bounds`` (file CRS) touches."""
    import rasterio
    from rasterio.windows import from_bounds

    with rasterio.open(path) as ds:
        win = from_bounds(*bounds, transform=ds.transform)
        by, bx = ds.block_shapes[0]
        r0, r1 = max(0, math.floor(win.row_off)), min(ds.height, math.ceil(win.row_off + win.height))
        c0, c1 = max(0, math.floor(win.col_off)), min(ds.width, math.ceil(win.col_off + win.width))
        total = 0
        for i in range(r0 // by, (r1 - 1) // by + 1):
            for j in range(c0 // bx, (c1 - 1) // bx + 1):
                total += int(ds.block_size(1, i, j))
        return total


def centre_bbox(grid, side_km: float) -> tuple[float, float, float, float]:  # noqa: ANN001 - GeoGrid
    """Lon/lat bbox of a ``side_km`` square at the centre of ``grid`` (projected, metres)."""
    from rasterio.warp import transform_bounds

    left, bottom, right, top = grid.bounds
    cx, cy, half = (left + right) / 2, (bottom + top) / 2, side_km * 500.0
    return tuple(transform_bounds(grid.crs, "EPSG:4326", cx - half, cy - half, cx + half, cy + half))  # type: ignore[return-value]


def bench_fetch(
    out: str | Path, size: int = 2048, dates: int = 3, bbox_km: float = 5.0, block: int = 1024, seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring) and write ``fetch.json`` and ``fetch.md``."""
    from glofwatch.bench import machine_info, write_report
    from glofwatch.bench.loopback import build_catalog, serve_files, serve_stac
    from glofwatch.scene.acquire import fetch
    from glofwatch.scene.aoi import check_bbox
    from glofwatch.scene.synth import write_synthetic_scene

    say = progress or (lambda _msg: None)
    out = Path(out)
    data = out / "data"
    say(f"synthetic scene {size} px ...")
    scene = write_synthetic_scene(data / "scene", size=size, seed=seed, processing_baseline="05.09", scl=True,
                                  nodata_border_px=0)
    first = dt.datetime(2023, 10, 1, 4, 57, 9)
    when = [first + dt.timedelta(days=5 * k) for k in range(dates)]
    box = check_bbox(*centre_bbox(scene.grid, bbox_km))
    assert scene.scene is not None
    with serve_files(data) as (base, log):
        items, collection = build_catalog([(w, scene.scene) for w in when], data / "catalog", f"{base}/catalog",
                                          block=block)
        with serve_stac(items, collection) as api:
            log.clear()
            t0 = time.perf_counter()
            result = fetch(box, first.date().isoformat(), when[-1].date().isoformat(), out / "fetched",
                           catalog=api, max_cloud=100.0, progress=say, skip_dates=())
            seconds = time.perf_counter() - t0
        entries = [e for e in log.snapshot() if e["path"].endswith(".tif")]
    gets = [e for e in entries if e["method"] == "GET"]
    read = sum(e["bytes"] for e in gets)
    bounds = result.grid.bounds
    window = 0
    files = 0
    for path in sorted((data / "catalog").glob("*/*.tif")):
        window += window_block_bytes(path, bounds)
        files += path.stat().st_size
    area = box.area_km2()
    n = max(1, len(result.new))
    doc = {
        "settings": {"size_px": size, "dates": dates, "bbox_km": bbox_km, "block_px": block, "seed": seed,
                     "bbox": box.as_list(), "grid": [result.grid.height, result.grid.width]},
        "results": {
            "dates_fetched": len(result.new), "requests": len(entries), "get_requests": len(gets),
            "all_gets_ranged": all(e["range"] and e["status"] == 206 for e in gets),
            "bytes_read": read, "window_compressed_bytes": window, "files_bytes": files,
            "ratio_read_to_window": round(read / window, 3) if window else None,
            "share_of_files_read": round(read / files, 5) if files else None,
            "bbox_km2": round(area, 3), "bytes_per_km2_per_date": round(read / area / n, 1),
            "window_bytes_per_km2_per_date": round(window / area / n, 1),
            "seconds": round(seconds, 3), "seconds_per_date": round(seconds / n, 3),
            "meets_goal": bool(window) and read / window <= GOAL_RATIO,
        },
        "machine": machine_info(),
    }  # fmt: skip
    write_report(out, "fetch", doc, fetch_markdown(doc))
    return doc


def fetch_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report."""
    from glofwatch.bench import markdown_table

    s, r = doc["settings"], doc["results"]
    head = (f"`glofwatch fetch` of a {s['bbox_km']:g} km bbox ({r['bbox_km2']} km2, {s['grid'][0]}x{s['grid'][1]} px) "
            f"from {s['dates']} loopback items ({s['size_px']} px COGs, {s['block_px']} px blocks), every date kept.\n")
    rows = [[r["dates_fetched"], r["get_requests"], "yes" if r["all_gets_ranged"] else "no", r["bytes_read"],
             r["window_compressed_bytes"], r["ratio_read_to_window"], r["share_of_files_read"],
             r["bytes_per_km2_per_date"], r["seconds_per_date"]]]
    table = markdown_table(["dates", "GETs", "all ranged", "bytes read", "window bytes (compressed)",
                            "read / window", "share of files", "bytes/km2/date", "s/date"], rows)
    verdict = "meets" if r["meets_goal"] else "misses"
    return f"{head}\n{table}\n\nRead / window {r['ratio_read_to_window']} {verdict} the goal of at most {GOAL_RATIO}."

"""``glofwatch bench monitor``: how tracking lakes scales with the number of lakes.

For each size ``n`` the benchmark draws ``n`` synthetic lakes (circles on a
jittered 600 m grid, radii 20-200 m, log-normal) on ``dates`` dates: each date
every outline moves by a few metres and its radius by about 1 %, 1 % of the
lakes grow 3 % a date, 0.5 % vanish and 0.5 % appear at a random date. It then
times :func:`glofwatch.changes.tracks.track_observations` on all outlines
(same-date overlaps, overlap graph of consecutive dates, lineage, statuses,
tables), in memory, without file input/output.

The fitted exponent is the slope of log(time) against log(outlines): about 1
for the STRtree matching (n log n), 2 for comparing every pair. Reports go to
``OUT/monitor.json`` and ``OUT/monitor.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SIZES = (10_000, 30_000, 100_000)
"""Lakes per date of the default run."""

DEFAULT_DATES = 10
SPACING_M = 600.0
"""Grid spacing of the synthetic lakes (radii stay below 200 m and jitter below 50 m, so lakes never touch)."""


def synthetic_observations(n_lakes: int, n_dates: int, seed: int = 0):  # noqa: ANN201 - GeoDataFrame
    """Outlines of ``n_lakes`` jittered circles on ``n_dates`` dates (see the module docs).

    Returns:
        GeoDataFrame in a local Lambert azimuthal equal-area CRS (metres) with the
        columns :func:`~glofwatch.changes.tracks.track_observations` needs.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    rng = np.random.default_rng([seed, n_lakes, n_dates])
    side = int(np.ceil(np.sqrt(n_lakes)))
    k = np.arange(n_lakes)
    cx = (k % side) * SPACING_M + rng.uniform(-50, 50, n_lakes)
    cy = (k // side) * SPACING_M + rng.uniform(-50, 50, n_lakes)
    radius = np.clip(rng.lognormal(np.log(70.0), 0.5, n_lakes), 20.0, 150.0)
    growing = rng.random(n_lakes) < 0.01
    appears = np.where(rng.random(n_lakes) < 0.005, rng.integers(1, max(n_dates, 2), n_lakes), 0)
    vanishes = np.where(rng.random(n_lakes) < 0.005, rng.integers(1, max(n_dates, 2), n_lakes), n_dates)
    frames = []
    for t in range(n_dates):
        alive = (appears <= t) & (t < vanishes)
        r = radius[alive] * (1.0 + rng.normal(0, 0.01, int(alive.sum()))) * np.where(growing[alive], 1.03**t, 1.0)
        x = cx[alive] + rng.normal(0, 3.0, r.size)
        y = cy[alive] + rng.normal(0, 3.0, r.size)
        geoms = shapely.buffer(shapely.points(x, y), np.minimum(r, 200.0), quad_segs=8)
        frames.append(pd.DataFrame({"date": f"{2016 + t}-10-15", "date_index": t, "source": f"synthetic-{t}",
                                    "source_row": np.arange(r.size), "mean_prob": np.nan, "pixel_size_m": 10.0,
                                    "geometry": geoms}))
    table = pd.concat(frames, ignore_index=True)
    table["date"] = table["date"].astype("string")
    table["source"] = table["source"].astype("string")
    crs = "+proj=laea +lat_0=28 +lon_0=87 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    return gpd.GeoDataFrame(table, geometry="geometry", crs=crs)


def fit_exponent(n: list[float], seconds: list[float]) -> float | None:
    """Slope of log(seconds) against log(n) (least squares); ``None`` with fewer than two sizes.

    Example:
        >>> round(fit_exponent([1e4, 1e5], [1.0, 10.0]), 3)
        1.0
    """
    if len(n) < 2:
        return None
    slope, _ = np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(seconds, float)), 1)
    return float(slope)


def bench_monitor(
    out: str | Path,
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    dates: int = DEFAULT_DATES,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time lake tracking for each size and write ``OUT/monitor.json`` and ``OUT/monitor.md``.

    Args:
        out: output folder.
        sizes: lakes per date, one timing each.
        dates: dates per size.
        seed: seed of the synthetic lakes.
        progress: called with one line per size.

    Returns:
        The JSON document.
    """
    from glofwatch.bench import machine_info, write_report
    from glofwatch.changes.tracks import status_counts, track_observations
    from glofwatch.errors import ConfigError

    if not sizes or min(sizes) < 1 or dates < 2:
        raise ConfigError(f"bench monitor: sizes {list(sizes)} and dates {dates} must be >= 1 and >= 2; "
                          "e.g. --sizes 10000,30000,100000 --dates 10")
    say = progress or (lambda _msg: None)
    rows: list[dict[str, Any]] = []
    for n in sorted(sizes):
        t0 = time.perf_counter()
        frame = synthetic_observations(n, dates, seed)
        t1 = time.perf_counter()
        tracked = track_observations(frame)
        t2 = time.perf_counter()
        row = {"lakes_per_date": n, "dates": dates, "outlines": len(frame), "lakes_tracked": len(tracked.tracks),
               "generate_s": round(t1 - t0, 3), "track_s": round(t2 - t1, 3),
               "outlines_per_s": round(len(frame) / (t2 - t1), 1), "by_status": status_counts(tracked.tracks)}
        rows.append(row)
        say(f"{n} lakes x {dates} dates: {len(frame)} outlines tracked in {t2 - t1:.2f} s")
    exponent = fit_exponent([r["outlines"] for r in rows], [r["track_s"] for r in rows])
    doc = {
        "benchmark": "monitor",
        "settings": {"sizes": sorted(sizes), "dates": dates, "seed": seed, "spacing_m": SPACING_M},
        "machine": machine_info(),
        "results": rows,
        "exponent": None if exponent is None else round(exponent, 3),
        "scales_linearly": None if exponent is None else bool(exponent < 1.3),
    }
    write_report(out, "monitor", doc, monitor_markdown(doc))
    return doc


def monitor_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report: one row per size and the fitted exponent."""
    from glofwatch.bench import markdown_table

    m = doc["machine"]
    rows = [[r["lakes_per_date"], r["dates"], r["outlines"], r["lakes_tracked"], r["track_s"], r["outlines_per_s"]]
            for r in doc["results"]]
    exp = doc["exponent"]
    verdict = "–" if exp is None else f"{exp:.2f} (time ~ n^{exp:.2f}; 1 = n log n matching, 2 = all pairs)"
    head = (f"Tracking synthetic lakes (jittered circles) through {doc['settings']['dates']} dates on {m['cpu']} "
            f"({m['logical_cpus']} logical CPUs, load {m['load_avg_1min']}).\n")
    table = markdown_table(["lakes/date", "dates", "outlines", "lakes tracked", "track s", "outlines/s"], rows)
    return f"{head}\n{table}\n\nFitted exponent of time vs outlines: {verdict}"

"""``glofwatch bench serve``: a bounded loopback load test of the web map's API.

The benchmark starts ``glofwatch serve`` in its own process on 127.0.0.1 and a
free port, on a served folder (given, or synthesised in ``OUT/data``: ``n``
round lakes on a grid in UTM 45N observed on a few dates, scored by the real
``glofwatch risk`` and alerted by the real ``glofwatch alerts``). It then sends
a fixed number of requests over a fixed number of keep-alive connections
(asyncio and httpx2, one client process) in a seeded mix of the map's calls:
lakes in a box of the view, one lake's details and series, all lakes, lakes
by level and date, alerts, scenes, info. It reports the latency percentiles,
errors and requests per second, overall and per call, to ``OUT/serve.json`` and
``OUT/serve.md`` (the server's own log goes to ``OUT/serve.log``), and stops
the server. Every address is loopback; the run ends after ``requests``
requests or ``max_seconds``, whichever comes first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.io.atomic import write_json_atomic, write_text_atomic
from glofwatch.runtime import stop_process

DEFAULT_REQUESTS = 2000
DEFAULT_CONNECTIONS = 8
DEFAULT_LAKES = 5000
SPACING_M = 400.0
UTM = "EPSG:32645"
X0, Y0 = 440000.0, 3100000.0
MIX = (("lakes_bbox", 0.35), ("lake", 0.2), ("series", 0.15), ("lakes_level", 0.08), ("lakes_date", 0.07),
       ("lakes_all", 0.05), ("alerts", 0.05), ("info", 0.03), ("scenes", 0.02))  # fmt: skip
"""Calls of the mix and their shares of the requests."""

Progress = Callable[[str], None]


def synthetic_folder(folder: Path, n_lakes: int, n_dates: int = 3, seed: int = 0) -> Path:
    """A served folder of ``n_lakes`` tracked lakes: monitor, risk and alerts outputs (see the module docs)."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from glofwatch.alerts.run import issue_alerts
    from glofwatch.risk.run import assess_risk

    rng = np.random.default_rng([seed, n_lakes, n_dates])
    side = int(np.ceil(np.sqrt(n_lakes)))
    k = np.arange(n_lakes)
    x = X0 + (k % side) * SPACING_M + rng.uniform(-40, 40, n_lakes)
    y = Y0 - (k // side) * SPACING_M + rng.uniform(-40, 40, n_lakes)
    radius = np.clip(rng.lognormal(np.log(60.0), 0.5, n_lakes), 15.0, 150.0)
    growth = np.where(rng.random(n_lakes) < 0.03, 1.3, 1.0)  # 3 % of the lakes grow 30 % a year: yellow alerts
    dates = [f"{2024 - n_dates + 1 + t}-09-15" for t in range(n_dates)]
    obs = []
    for t, date in enumerate(dates):
        r = radius * growth**t
        geoms = shapely.buffer(shapely.points(x, y), r, quad_segs=8)
        area = shapely.area(geoms) / 1e6
        obs.append(gpd.GeoDataFrame({
            "lake_id": k + 1, "date": date, "area_km2": area, "perimeter_m": shapely.length(geoms),
            "area_uncertainty_km2": shapely.length(geoms) * 5.0 / 1e6, "source": f"synthetic-{date}", "mean_prob": 0.9,
        }, geometry=geoms, crs=UTM))  # fmt: skip
    first, last = obs[0], obs[-1]
    prev = obs[-2] if n_dates > 1 else obs[-1]
    years = max(n_dates - 1, 1)
    tracks = gpd.GeoDataFrame({
        "lake_id": k + 1, "first_date": dates[0], "last_date": dates[-1], "n_obs": n_dates,
        "area_first_km2": first["area_km2"], "area_last_km2": last["area_km2"], "area_prev_km2": prev["area_km2"],
        "change_km2": last["area_km2"] - prev["area_km2"],
        "change_uncertainty_km2": np.hypot(last["area_uncertainty_km2"], prev["area_uncertainty_km2"]),
        "growth_pct_per_year": ((last["area_km2"] / first["area_km2"]) ** (1 / years) - 1) * 100,
        "status": np.where(growth > 1, "growing", "stable"), "parent_id": None, "mean_prob": 0.9,
    }, geometry=last.geometry, crs=UTM)  # fmt: skip
    ll = tracks.geometry.centroid.to_crs("EPSG:4326")
    tracks["centroid_lon"], tracks["centroid_lat"] = ll.x, ll.y
    tracks["parent_id"] = tracks["parent_id"].astype("Int64")
    monitor = folder / "monitor"
    monitor.mkdir(parents=True, exist_ok=True)
    gpkg = monitor / "monitor.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    tracks.to_file(gpkg, layer="tracks", driver="GPKG", engine="pyogrio")
    observations = gpd.GeoDataFrame(pd.concat(obs, ignore_index=True), geometry="geometry", crs=UTM)
    observations.to_file(gpkg, layer="observations", driver="GPKG", engine="pyogrio")
    (monitor / "monitor.json").write_text(json.dumps({"area": "bench", "n_tracks": n_lakes}))
    assess_risk(monitor, folder / "risk")
    issue_alerts(folder / "risk", folder / "alerts", sent=dt.datetime(2024, 9, 16, 6, 0, tzinfo=dt.UTC))
    return folder


def _urls(info: dict[str, Any], n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (call, path) pairs of the seeded mix."""
    rng = np.random.default_rng(seed)
    ids = max(1, int(info.get("n_lakes") or 1))
    w, s, e, north = info.get("bounds") or [-1.0, -1.0, 1.0, 1.0]
    dates = info.get("dates") or []
    names = [m[0] for m in MIX]
    shares = np.array([m[1] for m in MIX])
    picks = rng.choice(len(MIX), size=n, p=shares / shares.sum())
    out = []
    for p in picks:
        name = names[p]
        lake = int(rng.integers(1, ids + 1))
        if name == "lakes_bbox":  # a view of a tenth of the area's width
            fw, fh = (e - w) / 10, (north - s) / 10
            x, y = rng.uniform(w, e - fw), rng.uniform(s, north - fh)
            path = f"/api/lakes?bbox={x:.6f},{y:.6f},{x + fw:.6f},{y + fh:.6f}"
        elif name == "lake":
            path = f"/api/lakes/{lake}"
        elif name == "series":
            path = f"/api/lakes/{lake}/series"
        elif name == "lakes_level":
            path = "/api/lakes?level=red,orange,yellow"
        elif name == "lakes_date":
            path = f"/api/lakes?date={dates[int(rng.integers(len(dates)))]}" if dates else "/api/lakes"
        elif name == "lakes_all":
            path = "/api/lakes"
        else:
            path = f"/api/{name}"
        out.append((name, path))
    return out


async def _load(base: str, urls: list[tuple[str, str]], connections: int, max_seconds: float) -> dict[str, Any]:
    import httpx2

    queue = list(reversed(urls))
    rows: list[tuple[str, float, int, int]] = []
    deadline = time.perf_counter() + max_seconds
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=60.0, trust_env=False) as client:

        async def worker() -> None:
            while queue and time.perf_counter() < deadline:
                name, path = queue.pop()
                t0 = time.perf_counter()
                try:
                    res = await client.get(path)
                    status, size = res.status_code, len(res.content)
                except httpx2.HTTPError:
                    status, size = 0, 0
                rows.append((name, time.perf_counter() - t0, status, size))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        wall = time.perf_counter() - t0
    return {"rows": rows, "wall_s": wall, "stopped_early": bool(queue)}


def _stats(rows: list[tuple[str, float, int, int]], wall: float | None = None) -> dict[str, Any]:
    ms = np.array([r[1] for r in rows]) * 1000 if rows else np.zeros(0)
    errors = sum(1 for r in rows if not 200 <= r[2] < 300)
    doc = {
        "requests": len(rows), "errors": errors,
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if rows else None,
        "p95_ms": round(float(np.percentile(ms, 95)), 2) if rows else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if rows else None,
        "max_ms": round(float(ms.max()), 2) if rows else None,
        "mean_kb": round(sum(r[3] for r in rows) / max(len(rows), 1) / 1024, 1),
    }  # fmt: skip
    if wall is not None:
        doc["wall_s"] = round(wall, 3)
        doc["requests_per_s"] = round(len(rows) / wall, 1) if wall > 0 else None
    return doc


def _wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> dict[str, Any]:
    import httpx2

    from glofwatch.errors import GlofwatchError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
            raise GlofwatchError(f"`glofwatch serve` exited with {proc.returncode}: {err[-1] if err else 'no output'}")
        try:
            res = httpx2.get(base + "/api/info", timeout=2.0, trust_env=False)
            if res.status_code == 200:
                return res.json()
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise GlofwatchError(f"`glofwatch serve` did not answer on {base} within {timeout_s:.0f} s")


def bench_serve(out: str | Path, folder: str | Path | None = None, requests: int = DEFAULT_REQUESTS,
                connections: int = DEFAULT_CONNECTIONS, lakes: int = DEFAULT_LAKES, dates: int = 3, seed: int = 0,
                max_seconds: float = 300.0, progress: Progress | None = None) -> dict[str, Any]:
    """Run the load test (see the module docs) and write ``OUT/serve.json`` and ``OUT/serve.md``.

    Args:
        out: output folder.
        folder: served folder (default: a synthetic one in ``OUT/data``, reused when it has as many lakes).
        requests: requests to send.
        connections: concurrent keep-alive connections.
        lakes: lakes of the synthetic folder.
        dates: observation dates of the synthetic folder.
        seed: seed of the synthetic lakes and of the request mix.
        max_seconds: stop sending after this long.
        progress: callback for one-line progress messages.

    Returns:
        The report (the content of ``serve.json``).
    """
    import psutil

    from glofwatch.errors import ConfigError
    from glofwatch.webmap.server import LOOPBACK, free_port

    if requests < 1 or connections < 1 or lakes < 1 or dates < 1:
        raise ConfigError("--requests, --connections, --lakes and --dates must be at least 1")
    say = progress or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if folder is None:
        data = out / "data"
        marker = data / "bench.json"
        wanted = {"lakes": lakes, "dates": dates, "seed": seed}
        if not marker.is_file() or json.loads(marker.read_text()) != wanted:
            say(f"synthesising {lakes} lakes on {dates} dates (monitor, risk, alerts) -> {data}")
            synthetic_folder(data, lakes, dates, seed)
            marker.write_text(json.dumps(wanted))
        folder = data
    port = free_port(LOOPBACK)
    base = f"http://{LOOPBACK}:{port}"
    cmd = [sys.executable, "-m", "glofwatch.cli.app", "serve", str(folder), "--host", LOOPBACK, "--port", str(port),
           "--log-level", "warning"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "GLOFWATCH_TOKEN"}
    say(f"starting glofwatch serve on {base}")
    t0 = time.perf_counter()
    log = out / "serve.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_file, env=env)
    try:
        info = _wait_ready(base, proc, log, timeout_s=180.0)
        startup = time.perf_counter() - t0
        urls = _urls(info, requests, seed)
        say(f"{requests} requests over {connections} connections ({info['n_lakes']} lakes)")
        asyncio.run(_load(base, urls[: min(connections * 2, len(urls))], connections, max_seconds))  # warm-up
        result = asyncio.run(_load(base, urls, connections, max_seconds))
        rss_mb = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        stop_process(proc, timeout_s=15)
    rows = result["rows"]
    doc = {
        "bench": "serve",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "server": {"lakes": info["n_lakes"], "dates": len(info.get("dates") or []), "startup_s": round(startup, 2),
                   "rss_mb": round(rss_mb, 1), "folder": str(folder)},
        "load": {"requests": requests, "connections": connections, "seed": seed, "max_seconds": max_seconds,
                 "stopped_early": result["stopped_early"]},
        "overall": _stats(rows, result["wall_s"]),
        "by_call": {name: _stats([r for r in rows if r[0] == name]) for name, _ in MIX
                    if any(r[0] == name for r in rows)},
    }  # fmt: skip
    write_json_atomic(out / "serve.json", doc)
    write_text_atomic(out / "serve.md", serve_markdown(doc))
    return doc


def serve_markdown(doc: dict[str, Any]) -> str:
    """The report as Markdown: the overall line and one row per call."""
    o, s, ld = doc["overall"], doc["server"], doc["load"]
    lines = [
        "# glofwatch bench serve",
        "",
        f"{o['requests']} requests over {ld['connections']} loopback connections to `glofwatch serve` "
        f"({s['lakes']} lakes, {s['dates']} dates; server started in {s['startup_s']} s, RSS {s['rss_mb']} MB; "
        f"{doc['machine']['cpus']} CPUs).",
        "",
        f"**{o['requests_per_s']} requests/s**, p50 {o['p50_ms']} ms, p95 {o['p95_ms']} ms, p99 {o['p99_ms']} ms, "
        f"errors {o['errors']}" + (" (stopped at the time limit)" if ld["stopped_early"] else ""),
        "",
        "| call | requests | errors | p50 ms | p95 ms | max ms | mean KiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, st in doc["by_call"].items():
        lines.append(f"| {name} | {st['requests']} | {st['errors']} | {st['p50_ms']} | {st['p95_ms']} | "
                     f"{st['max_ms']} | {st['mean_kb']} |")
    return "\n".join(lines) + "\n"

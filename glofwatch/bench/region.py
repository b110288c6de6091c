"""``glofwatch bench region``: tiles per hour of a regional run on 1, 2, ... Dask workers, and what 350 tiles take.

The region is ``tiles`` inputs made from one cached synthetic scene
(:func:`glofwatch.bench.scene.cached_scene`): ``tile-000.tif``, ``tile-001.tif``, ...
are hard links to its ``scene.tif`` (symbolic links where hard links cannot be
made, copies where neither can), so they are distinct scenes with their own
output folders but one file on disk. The operating system caches that one
file after the first read, so reading is cheaper than over a real region of
distinct files: the numbers are an upper bound on throughput where the disk
is slow.

Each worker count runs exactly what ``glofwatch map TILES_DIR --workers N``
runs (:func:`glofwatch.mapping.region.expand_region`, then
:func:`glofwatch.mapping.batch.map_scenes`: one Dask task per tile on a fresh
``LocalCluster`` of N single-threaded worker processes, each with ``threads``
inference threads and a ``worker_memory`` limit) into a fresh output folder.
One worker runs on Dask too, so the runs differ only in the number of workers.
Wall time counts starting the cluster, loading the model in every worker,
mapping and writing every output; before the first run the model is exported
and ``--backend auto`` chooses its runtime once (cached), so no run pays for that.

Numbers, for ``n`` workers, the smallest worker count measured ``b`` (1 by default),
``T_n`` the wall time and ``t`` the tile count:

* tiles per hour ``3600 t / T_n``; per worker, divided by ``n``;
* speed-up ``T_b / T_n`` and scaling efficiency ``(b T_b) / (n T_n)``
  (``T_1 / (2 T_2)`` for 1 and 2 workers; 1 means perfect scaling);
* for ``project_tiles`` (350) tiles on each measured ``n``: ``350 T_n / t`` (``ceil(350 / n)`` rounds of
  ``n T_n / t`` each at the most);
* on each of ``project_workers`` N: one tile per worker takes
  ``b T_b / (t e)`` where ``e`` is the efficiency measured at the largest ``n``,
  so 350 tiles take ``350 b T_b / (t e N)`` when they spread evenly, and
  ``ceil(350 / N)`` rounds of one tile per worker at the most. This assumes the
  efficiency measured at ``n`` workers holds at N, which is optimistic when the
  workers share a disk or a network link; on one machine with fewer cores than
  workers it cannot hold at all.

The CPU time each tile cost (``cpu_seconds`` in its ``summary.json``: the worker
process's CPU time over the tile, all threads) gives a second projection that
does not lean on an efficiency measured on a few cores:

* ``cores_busy``: the cores one tile keeps busy while it maps, ``sum(cpu) / sum(map s)``
  over a run; on ``c`` logical CPUs, ``n`` workers can speed up by ``min(n, c / cores_busy)``
  of the base run at the most, which is what a 2-core machine's efficiency measures;
* ``machine_busy``: the share of the machine's CPUs the tiles kept busy over the
  run's wall time, ``sum(cpu) / (T_n c)``;
* on each of ``project_cores`` C cores (any number of machines): 350 tiles take at
  least ``350 s_cpu / C``, ``s_cpu`` the mean CPU seconds per tile of the base run,
  when every core is kept busy and nothing else (start-up, reading a remote disk)
  takes time.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROJECT_TILES = 350
"""Tiles projected: about the Sentinel-2 tiles of the Hindu Kush-Himalaya glacier area."""
PROJECT_WORKERS = (4, 8, 16, 32, 64)
PROJECT_CORES = (16, 64, 128, 256)
"""Core counts the CPU-time projection shows (a few 8-16-core nodes up to a small cluster)."""


def make_tiles(scene: Path, folder: Path, n: int) -> str:
    """``n`` distinct names for ``scene`` in ``folder`` (``tile-000.tif`` ...); returns how they were made.

    Hard links, else symbolic links, else copies (``"hard link"``, ``"symbolic link"``, ``"copy"``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    method = "hard link"
    width = max(3, len(str(n - 1)))
    for i in range(n):
        dst = folder / f"tile-{i:0{width}d}{scene.suffix}"
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        if method == "hard link":
            try:
                os.link(scene, dst)
                continue
            except OSError:
                method = "symbolic link"
        if method == "symbolic link":
            try:
                dst.symlink_to(scene.resolve())
                continue
            except OSError:
                method = "copy"
        shutil.copyfile(scene, dst)
    return method


def scaling(runs: list[dict[str, Any]], tiles: int, cpus: int | None = None) -> None:
    """Add tiles per hour, speed-up and efficiency to each run (``workers``, ``wall_s``), against the smallest.

    Runs that also carry ``tile_cpu_s_sum`` and ``tile_map_s_sum`` get ``cores_busy`` and, given the
    machine's ``cpus``, ``machine_busy`` and ``speedup_bound`` (see the module doc).
    """
    base = min(runs, key=lambda r: r["workers"])
    for r in runs:
        r["tiles_per_hour"] = 3600.0 * tiles / r["wall_s"]
        r["tiles_per_hour_per_worker"] = r["tiles_per_hour"] / r["workers"]
        r["speedup"] = base["wall_s"] / r["wall_s"]
        r["efficiency"] = (base["workers"] * base["wall_s"]) / (r["workers"] * r["wall_s"])
        if r.get("tile_cpu_s_sum") and r.get("tile_map_s_sum"):
            r["cores_busy"] = r["tile_cpu_s_sum"] / r["tile_map_s_sum"]
            if cpus:
                r["machine_busy"] = r["tile_cpu_s_sum"] / (r["wall_s"] * cpus)
    if cpus and base.get("cores_busy"):
        for r in runs:
            r["speedup_bound"] = min(r["workers"] / base["workers"], cpus / (base["workers"] * base["cores_busy"]))


def projection(runs: list[dict[str, Any]], tiles: int, project_tiles: int = PROJECT_TILES,
               project_workers: Sequence[int] = PROJECT_WORKERS,
               project_cores: Sequence[int] = PROJECT_CORES) -> dict[str, Any]:
    """Projected wall time of ``project_tiles`` tiles on each measured and each of ``project_workers`` workers,
    and (when the base run carries ``tile_cpu_s_mean``) the CPU-time bound on each of ``project_cores`` cores."""
    base = min(runs, key=lambda r: r["workers"])
    top = max(runs, key=lambda r: r["workers"])
    eff = top["efficiency"] if top["workers"] > base["workers"] else 1.0
    per_worker_tile_s = base["workers"] * base["wall_s"] / tiles  # one tile on one worker at the base count
    tile_s = per_worker_tile_s / eff
    rows = [{"workers": r["workers"], "measured": True, "projected_s": project_tiles * r["wall_s"] / tiles,
             "rounds": math.ceil(project_tiles / r["workers"]),
             "rounds_s": math.ceil(project_tiles / r["workers"]) * r["workers"] * r["wall_s"] / tiles} for r in runs]
    measured = {r["workers"] for r in runs}
    for n in project_workers:
        if n in measured:
            continue
        rounds = math.ceil(project_tiles / n)
        rows.append({"workers": n, "measured": False, "projected_s": project_tiles * tile_s / n, "rounds": rounds,
                     "rounds_s": rounds * tile_s})
    for row in rows:
        row["projected_h"] = row["projected_s"] / 3600.0
    cpu_s = base.get("tile_cpu_s_mean")
    core_rows = [{"cores": c, "projected_s": project_tiles * cpu_s / c, "projected_h": project_tiles * cpu_s / c / 3600,
                  "tiles_per_hour": 3600.0 * c / cpu_s} for c in project_cores] if cpu_s else []
    return {"tiles": project_tiles, "base_workers": base["workers"], "efficiency_workers": top["workers"],
            "efficiency": eff, "per_worker_tile_s": per_worker_tile_s,
            "per_worker_tiles_per_hour": 3600.0 / per_worker_tile_s, "tile_s_at_efficiency": tile_s,
            "rows": sorted(rows, key=lambda r: r["workers"]), "cpu_s_per_tile": cpu_s, "core_rows": core_rows}


def _warm_backend(model_file: Path, backend: str, device: str, threads: int) -> tuple[str, float]:
    """Export the model and let ``auto`` choose once (both cached), with the workers' thread count."""
    import torch

    from glofwatch.infer.backends import build_backend

    before = torch.get_num_threads()
    t0 = time.perf_counter()
    try:
        torch.set_num_threads(threads)
        name = build_backend(backend, model_file, device=device).name
    finally:
        torch.set_num_threads(before)
    return name, time.perf_counter() - t0


def bench_region(
    model: str,
    out_dir: str | Path | None,
    tiles: int = 20,
    size: int = 10980,
    workers: Sequence[int] = (1, 2),
    project_workers: Sequence[int] = PROJECT_WORKERS,
    project_tiles: int = PROJECT_TILES,
    project_cores: Sequence[int] = PROJECT_CORES,
    backend: str = "auto",
    device: str = "cpu",
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 0,
    cache: str | Path | None = None,
    seed: int = 0,
    threads: int | None = None,
    worker_memory: str | None = None,
    processes: bool = True,
    keep_outputs: bool = False,
    dem: bool = True,
    progress: Callable[[str], None] | None = None,
    dem_grid: str = "glo30",
) -> dict[str, Any]:
    """Map ``tiles`` tiles with each worker count and write ``region.json`` and ``region.md`` (see module doc).

    Args:
        model: registry name (random weights) or run folder / model file.
        out_dir: report folder (None: write nothing).
        tiles: tiles in the region.
        size: tile side in pixels (a Sentinel-2 tile is 10980).
        workers: worker counts to measure, e.g. (1, 2).
        project_workers: worker counts to project ``project_tiles`` tiles onto.
        project_tiles: tiles of the projected region.
        project_cores: core counts for the CPU-time bound on ``project_tiles`` tiles.
        backend, device, tile, overlap, batch_size: as ``glofwatch map``.
        cache: folder for the synthetic scene (default ``<cache_dir()>/bench``).
        seed: scene seed.
        threads: inference threads per worker, the same for every worker count (default: the cores / the
            largest worker count, so the largest run does not oversubscribe the machine).
        worker_memory: memory limit per worker (``3GB``; default: the machine's memory / workers).
        processes: workers are processes (True) or threads of this process.
        keep_outputs: keep the maps under ``out_dir/maps-<n>w`` (default: each tile's outputs are deleted
            as soon as it is done, so the disk holds only the tiles in flight).
        dem: map with the scene's DEM, as ``glofwatch map --dem`` and ``bench scene`` do: its slope rule
            keeps the network off steep snow and shadow, which on the synthetic tile cuts the pixels it
            sees from 0.60 to about 0.3 of the scene; False maps without terrain rules.
        progress: called with one line per step.
        dem_grid: that DEM laid out like Copernicus GLO-30 (``glo30``, warped while mapping) or on the
            scene's grid (``scene``); see :mod:`glofwatch.bench.dem`.

    Raises:
        ConfigError: a bad count or list.
        GlofwatchError: a tile failed (the first reason).
    """
    from glofwatch.bench import machine_info, write_report
    from glofwatch.bench.dem import bench_dem, check_dem_grid
    from glofwatch.bench.infer import bench_bundle
    from glofwatch.bench.scene import cached_scene
    from glofwatch.errors import ConfigError, GlofwatchError
    from glofwatch.infer.backends import cache_dir, check_backend_name
    from glofwatch.mapping.batch import MapOptions, SceneResult, map_scenes
    from glofwatch.mapping.region import expand_region, parse_worker_memory
    from glofwatch.models.bundle import save_bundle

    say = progress or (lambda msg: None)
    check_backend_name(backend)
    counts = sorted(set(int(n) for n in workers))
    if tiles < 1:
        raise ConfigError(f"--tiles {tiles} must be at least 1")
    if dem:
        check_dem_grid(dem_grid)
    if not counts or counts[0] < 1:
        raise ConfigError(f"--workers {','.join(map(str, workers))}: give worker counts of at least 1, e.g. 1,2")
    if any(int(n) < 1 for n in (*project_workers, *project_cores)) or project_tiles < 1:
        raise ConfigError("--project-workers, --project-cores and --project-tiles must be at least 1, "
                          "e.g. --project-workers 8,32")
    for n in counts:
        parse_worker_memory(worker_memory, n)  # a bad size is one error before anything runs
    threads = threads or max(1, (os.cpu_count() or 1) // counts[-1])
    cache = Path(cache) if cache is not None else cache_dir() / "bench"
    say(f"synthetic scene {size}x{size} (cached in {cache})")
    t0 = time.perf_counter()
    scene = cached_scene(cache, size, seed)
    scene_s = time.perf_counter() - t0
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="glofwatch-bench-region-") as work:
        if Path(model).exists():
            model_file, kind = Path(model), "trained"
        else:
            bundle, kind = bench_bundle(model)
            model_file = save_bundle(Path(work) / "model.pt", bundle.net, bundle.config, bundle.metrics, bundle.meta)
        method = make_tiles(scene, Path(work) / "tiles", tiles)
        region = expand_region([Path(work) / "tiles"])
        assert len(region.scenes) == tiles, region
        backend_used, warm_s = _warm_backend(model_file, backend, device, threads)
        say(f"{tiles} tiles ({method}s to {scene}), backend {backend_used}, {threads} thread(s) per worker")
        dem_file = bench_dem(scene.parent, dem_grid) if dem else None
        options = MapOptions(tile=tile, overlap=overlap, batch_size=batch_size, device=device, backend=backend,
                             threads=threads, dem=str(dem_file) if dem_file is not None else None)
        for n in counts:
            maps = Path(out_dir) / f"maps-{n}w" if (keep_outputs and out_dir is not None) else Path(work) / f"m{n}"
            shutil.rmtree(maps, ignore_errors=True)
            tile_s: list[float] = []
            with_terrain: list[str] = []
            peaks: list[float] = []
            cpu_s: list[float] = []

            def done(res: SceneResult, maps: Path = maps, tile_s: list[float] = tile_s,
                     with_terrain: list[str] = with_terrain, peaks: list[float] = peaks,
                     cpu_s: list[float] = cpu_s) -> None:
                if res.summary:
                    tile_s.append(float(res.summary["seconds"]))
                    peaks.append(float(res.summary.get("peak_rss_mb") or 0.0))
                    cpu_s.append(float(res.summary.get("cpu_seconds") or 0.0))
                    if res.summary.get("terrain"):
                        with_terrain.append(res.name)
                if not keep_outputs and res.status == "done":
                    shutil.rmtree(maps / res.name, ignore_errors=True)

            say(f"mapping {tiles} tiles on {n} worker(s)")
            t1 = time.perf_counter()
            results = map_scenes(region.scenes, model_file, maps, options, workers=n, processes=processes,
                                 on_result=done, worker_memory=worker_memory or "auto")
            wall_s = time.perf_counter() - t1
            failed = [r for r in results if r.status != "done"]
            if failed:
                raise GlofwatchError(f"bench region: {len(failed)} of {tiles} tile(s) not mapped on {n} worker(s) "
                                     f"({failed[0].name}: {failed[0].status} {failed[0].message})")
            memory, _ = parse_worker_memory(worker_memory, n)
            runs.append({"workers": n, "wall_s": wall_s, "tiles": tiles, "worker_memory_bytes": memory,
                         "tile_map_s_mean": sum(tile_s) / len(tile_s), "tile_map_s_sum": sum(tile_s),
                         "tile_cpu_s_mean": sum(cpu_s) / len(cpu_s), "tile_cpu_s_sum": sum(cpu_s),
                         "tiles_with_terrain": len(with_terrain),
                         "worker_peak_rss_mb": max(peaks) if peaks else None})
            say(f"{n} worker(s): {wall_s:.1f} s")
    machine = machine_info()
    scaling(runs, tiles, machine["logical_cpus"])
    doc = {
        "kind": "region",
        "machine": machine,
        "settings": {"model": model, "model_kind": kind, "size": size, "tiles": tiles, "workers": counts,
                     "threads_per_worker": threads, "backend": backend, "device": device, "tile": tile,
                     "overlap": overlap, "batch_size": batch_size, "worker_memory": worker_memory or "auto",
                     "processes": processes, "seed": seed, "scene": str(scene), "inputs": method,
                     "project_tiles": project_tiles, "project_workers": [int(n) for n in project_workers],
                     "project_cores": [int(n) for n in project_cores],
                     "dem": str(dem_file) if dem_file is not None else None,
                     "dem_grid": dem_grid if dem_file is not None else None},
        "backend_used": backend_used,
        "scene_prepare_s": scene_s,
        "warmup_s": warm_s,
        "runs": runs,
        "efficiency": runs[-1]["efficiency"],
        "projection": projection(runs, tiles, project_tiles, project_workers, project_cores),
    }
    if out_dir is not None:
        write_report(out_dir, "region", doc, region_markdown(doc))
    return doc


def _dem_words(settings: dict[str, Any]) -> str:
    """How the region's tiles were mapped with respect to a DEM, for the report's first line."""
    if not settings.get("dem"):
        return "no DEM"
    if settings.get("dem_grid") == "glo30":
        return "with a GLO-30-like DEM (geographic, warped while mapping; terrain rules)"
    return "with the scene DEM on its grid (terrain rules)"


def region_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report: one row per worker count measured, then the projection."""
    from glofwatch.bench import cpu_words, markdown_table

    s, m, p = doc["settings"], doc["machine"], doc["projection"]
    head = (f"Region of {s['tiles']} synthetic {s['size']}x{s['size']} px tiles ({s['inputs']}s to one scene file, "
            f"so reads come from the page cache after the first), model {s['model']} ({s['model_kind']}), backend "
            f"{doc['backend_used']}, tile {s['tile']}, overlap {s['overlap']}, batch {s['batch_size']}; Dask "
            f"LocalCluster, {s['threads_per_worker']} thread(s) per worker, worker memory {s['worker_memory']}, "
            f"{_dem_words(s)}, on {cpu_words(m)} ({m['logical_cpus']} logical CPUs, load {m['load_avg_1min']}). "
            "Wall time includes starting the workers and loading the model in each.\n")
    rows = [[r["workers"], r["wall_s"], r["tiles_per_hour"], r["tiles_per_hour_per_worker"], r["speedup"],
             r.get("speedup_bound"), r["efficiency"], r["tile_map_s_mean"], r.get("tile_cpu_s_mean"),
             r.get("cores_busy"), r.get("machine_busy"), r.get("worker_peak_rss_mb")] for r in doc["runs"]]
    runs = markdown_table(["workers", "wall s", "tiles/h", "tiles/h per worker", "speed-up", "speed-up bound",
                           "efficiency", "mean s per tile", "CPU s per tile", "cores busy", "machine busy",
                           "worker peak MiB"], rows)
    proj_rows = [[r["workers"], "measured" if r["measured"] else "projected", r["projected_s"], r["projected_h"],
                  r["rounds"], r["rounds_s"]] for r in p["rows"]]
    proj = markdown_table(["workers", "from", f"{p['tiles']} tiles s", "h", "rounds", "whole rounds s"], proj_rows)
    basis = (f"\nProjected: {p['tiles']} tiles at {p['per_worker_tiles_per_hour']:.3g} tiles/h per worker (measured "
             f"on {p['base_workers']}) times the efficiency {p['efficiency']:.3g} (measured on "
             f"{p['efficiency_workers']}); 'whole rounds' counts ceil({p['tiles']} / N) rounds of one tile per "
             "worker. On a cluster each worker needs its own cores and about 2 GB.\n")
    text = head + "\n" + runs + "\n" + basis + "\n" + proj
    if p.get("core_rows"):
        cores = markdown_table(["cores", f"{p['tiles']} tiles s", "h", "tiles/h"],
                               [[r["cores"], r["projected_s"], r["projected_h"], r["tiles_per_hour"]]
                                for r in p["core_rows"]])
        text += (f"\n\nCPU-time bound: a tile cost {p['cpu_s_per_tile']:.3g} CPU s on {p['base_workers']} worker(s), "
                 f"so {p['tiles']} tiles take at least {p['tiles']} x {p['cpu_s_per_tile']:.3g} s / C on C cores "
                 "kept busy (no start-up, no waits on a disk or a network). 'speed-up bound' is what the "
                 "machine's CPUs allow: min(workers, CPUs / (cores busy on the base run)).\n\n" + cores)
    return text

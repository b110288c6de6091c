"""``glofwatch bench scene``: wall time and peak memory to map one whole synthetic scene.

The scene (4-band uint16 L2A GeoTIFF with an SCL band, ``size`` x ``size`` at
10 m, with lakes, a nodata wedge, ``cloud_cover`` of cloud and its DEM and truth
mask) is drawn once with :func:`glofwatch.scene.synth.write_synthetic_scene` and
cached in ``cache/scene-<size>-s<seed>-c<cloud %>``. Drawing holds the whole
scene's layers in memory (about 14 GB for 10980 x 10980), so scenes larger than
:data:`MAX_DRAW` pixels are a mosaic of one ``MAX_DRAW`` scene mirrored back and
forth over the full grid (so the DEM and the lakes stay continuous across the
joins), written strip by strip: ``scene.tif``, ``dem.tif`` and ``lakes_mask.tif``
alike. Any existing scene can
be timed instead with ``scene=PATH``. Mapping runs exactly what ``glofwatch map`` runs
(:func:`glofwatch.mapping.batch.map_scene`: windowed read, tiled prediction with
blending, probability and mask GeoTIFFs, lake polygons, summary) in a fresh
process, so the peak resident memory (``VmHWM``) is the mapping's own.

Wall time counts loading the model (and exporting it for ONNX Runtime/OpenVINO
unless the export is cached) separately from mapping. With a registry model
name the network has random weights: tile speed is representative, the
polygon step is not (the mask is not lakes).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glofwatch.mapping.screen import DEFAULT_CONTEXT, DEFAULT_NDWI_MIN

if TYPE_CHECKING:
    import numpy as np

MAX_DRAW = 4096
TARGET_WALL_S = 30.0
TARGET_PEAK_MB = 2048.0
DEFAULT_CLOUD_COVER = 0.15
MOSAIC_FILES = ("dem.tif", "lakes_mask.tif", "scene.tif")
"""Files of a mosaic scene, in the order they are written (``scene.tif`` last: it marks the folder complete)."""


def cached_scene(cache: str | Path, size: int, seed: int = 0, cloud_cover: float = DEFAULT_CLOUD_COVER) -> Path:
    """The GeoTIFF of a synthetic ``size`` x ``size`` scene, made once into ``cache`` (see module doc).

    Its folder also holds ``dem.tif`` and ``lakes_mask.tif`` (the truth) on the same grid.
    """
    from glofwatch.scene.synth import write_synthetic_scene

    folder = Path(cache) / f"scene-{size}-s{seed}-c{round(100 * cloud_cover)}"
    scene = folder / "scene.tif"
    if scene.is_file():
        return scene
    if size > MAX_DRAW:
        base = cached_scene(cache, MAX_DRAW, seed, cloud_cover).parent
        folder.mkdir(parents=True, exist_ok=True)
        for name in MOSAIC_FILES:
            _mosaic(base / name, folder / name, size)
        return scene
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".scene-{size}-", dir=folder.parent))
    try:
        write_synthetic_scene(tmp, size=size, seed=seed, cloud_cover=cloud_cover, scl=cloud_cover > 0)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # the folder appears complete or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return scene


def mirrored(n: int, period: int) -> np.ndarray:
    """Indices 0..n-1 folded back and forth into 0..period-1: 0 1 .. p-1 p-1 .. 1 0 0 1 ..

    Example:
        >>> mirrored(7, 3).tolist()
        [0, 1, 2, 2, 1, 0, 0]
    """
    import numpy as np

    j = np.arange(n) % (2 * period)
    return np.where(j < period, j, 2 * period - 1 - j)


def _mosaic(src_path: Path, dst_path: Path, size: int, strip: int = 512) -> None:
    """Mirror ``src_path`` back and forth over a ``size`` x ``size`` grid with its origin, pixel size and tags."""
    import rasterio
    from rasterio.windows import Window

    from glofwatch.io.atomic import atomic_path

    with rasterio.open(src_path) as src:
        data = src.read()
        profile = src.profile.copy()
        descriptions = src.descriptions
        tags = src.tags()
        scales, offsets = src.scales, src.offsets
    profile.update(height=size, width=size, BIGTIFF="YES", tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate")
    cols = mirrored(size, data.shape[2])
    all_rows = mirrored(size, data.shape[1])
    with atomic_path(dst_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for i, d in enumerate(descriptions):
            if d:
                dst.set_band_description(i + 1, d)
        dst.update_tags(**tags)
        dst.scales, dst.offsets = scales, offsets
        for r in range(0, size, strip):
            h = min(strip, size - r)
            rows = all_rows[r : r + h]
            dst.write(data[:, rows][:, :, cols], window=Window(0, r, size, h))


def map_job(job: dict[str, Any]) -> dict[str, Any]:
    """Load the model and map one scene (the body of the worker process)."""
    import torch

    from glofwatch.mapping.batch import cached_predictor, map_scene
    from glofwatch.mapping.screen import Screen
    from glofwatch.runtime import peak_rss_mb

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    t0 = time.perf_counter()
    predictor = cached_predictor(job["model"], job["device"], job["backend"], job["tile"], job["overlap"],
                                 precision=job.get("precision", "fp32"), threads=job.get("threads"),
                                 refine=job.get("refine", True))
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    screen = Screen.off()
    if job.get("screen", True):
        screen = Screen(ndwi_min=job.get("screen_ndwi", DEFAULT_NDWI_MIN),
                        context=job.get("trim_context", DEFAULT_CONTEXT))
    summary = map_scene(job["scene"], predictor, job["out"], tile=job["tile"], overlap=job["overlap"],
                        batch_size=job["batch_size"], dem=job.get("dem"), screen=screen)
    map_s = time.perf_counter() - t1
    return {"backend_used": predictor.backend, "load_s": load_s, "map_s": map_s, "peak_rss_mb": peak_rss_mb(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "summary": summary.to_dict()}


SCREENS = {"both": (False, True), "on": (True,), "off": (False,)}


RECALL_MIN_KM2 = 0.01
"""Smallest truth lake the scene's lake recall counts."""


def lake_scores(map_dir: Path, truth: Path) -> tuple[dict[str, Any], dict[int, tuple[float, float, bool]]]:
    """Pixel IoU, recall of lakes >= 0.01 km2 and lake area of a mapped scene against its truth mask.

    Also returns, by truth lake, the area (km2), the share covered (%) and whether it is found, for
    the lakes the recall counts: the lakes a faster run loses or gains against the reference.
    """
    from glofwatch.mapping.accuracy import score_map

    acc = score_map(map_dir, truth, per_lake=True)
    lakes = {int(lk["truth_lake"]): (lk["area_km2"], lk["covered_pct"], bool(lk["found"]))
             for lk in acc["per_lake"] if lk["area_km2"] >= RECALL_MIN_KM2}
    n_truth = len(lakes)
    found = sum(f for _, _, f in lakes.values())
    return {"pixel_iou": acc["pixel"]["iou"], "recall_ge_0.01km2": found / n_truth if n_truth else None,
            "truth_lakes_ge_0.01km2": n_truth, "found_ge_0.01km2": found,
            "predicted_area_km2": acc["lakes"]["predicted_area_km2"], "truth_area_km2": acc["lakes"]["truth_area_km2"],
            "false_lakes_per_100km2": acc["lakes"]["false_lakes_per_100km2"]}, lakes


def flipped_lakes(ref: dict[int, tuple[float, float, bool]],
                  other: dict[int, tuple[float, float, bool]]) -> dict[str, list[dict[str, Any]]]:
    """The truth lakes ``other`` loses and gains against ``ref`` (:func:`lake_scores`), with both covers."""
    out: dict[str, list[dict[str, Any]]] = {"lost": [], "gained": []}
    for lake, (area, cover, found) in ref.items():
        o_cover, o_found = other[lake][1], other[lake][2]
        if found != o_found:
            out["gained" if o_found else "lost"].append(
                {"truth_lake": lake, "area_km2": round(area, 4), "reference_covered_pct": round(cover, 2),
                 "covered_pct": round(o_cover, 2)})
    return out


def network_floor(model_file: Path, peak: dict[str, Any], processed_px: int, tile: int) -> dict[str, Any]:
    """Seconds the network alone needs for ``processed_px`` at the matmul ``peak`` (its GFLOP per pixel x pixels)."""
    from glofwatch.bench.peak import count_gflops
    from glofwatch.infer.backends import resolve_model
    from glofwatch.models.registry import get_spec

    bundle, _, _ = resolve_model(model_file)
    stride = get_spec(bundle.config.model).stride
    side = max(tile // stride, 1) * stride
    gflop_per_px = count_gflops(bundle.net, (1, bundle.spec.in_channels, side, side)) / side**2
    return {"gflop_per_px": gflop_per_px, "processed_px": processed_px, "peak_gflops": peak["gflops"],
            "floor_s": processed_px * gflop_per_px / peak["gflops"]}


def bench_scene(
    model: str,
    out_dir: str | Path | None,
    size: int = 10980,
    backend: str = "auto",
    device: str = "cpu",
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 0,
    cache: str | Path | None = None,
    seed: int = 0,
    threads: int | None = None,
    isolate: bool = True,
    keep_outputs: bool = False,
    scene: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    screen: str = "both",
    precision: str = "auto",
    dem: str | Path | None = None,
    truth: str | Path | None = None,
    cloud_cover: float = DEFAULT_CLOUD_COVER,
    matmul_n: int = 0,
    trim_context: int | None = DEFAULT_CONTEXT,
    screen_ndwi: float | None = DEFAULT_NDWI_MIN,
    refine: bool = True,
    dem_grid: str = "glo30",
) -> dict[str, Any]:
    """Map a synthetic scene and write ``scene.json`` and ``scene.md`` to ``out_dir``.

    With ``screen="both"`` the scene is mapped twice: the reference (no screening, fp32) and
    the fast path (screened, ``precision``); with a truth mask both are scored (pixel IoU,
    recall of lakes >= 0.01 km2) and the fast path's cost is reported against the reference.

    Args:
        model: registry name (random weights) or run folder / model file.
        out_dir: report folder (None: write nothing).
        size: scene side in pixels (a Sentinel-2 tile is 10980).
        backend: inference backend (see :func:`glofwatch.infer.backends.build_backend`).
        device: cpu, cuda or auto.
        tile, overlap, batch_size: as ``glofwatch map``.
        cache: folder for the synthetic scene (default ``<cache_dir()>/bench``).
        seed: scene seed.
        threads: CPU threads (default: torch's default).
        isolate: map in a fresh process (its own peak memory); False maps in this process.
        keep_outputs: keep the maps under ``out_dir/map-<run>`` (default: deleted after scoring).
        scene: time this scene file or band folder instead of a synthetic one (``size`` is ignored).
        progress: called with one line per step.
        screen: ``both`` (reference and fast path), ``on`` or ``off``.
        precision: precision of the fast path (see :mod:`glofwatch.infer.precision`).
        dem: DEM for the terrain rules and the screen (default: the synthetic scene's; none for ``scene``).
        truth: truth mask to score against (default: the synthetic scene's).
        cloud_cover: cloud share of the synthetic scene.
        matmul_n: matrix side of the matmul peak (0: the best of :data:`~glofwatch.bench.peak.ROBUST_SIZES`).
        trim_context: the fast path trims run tiles to their candidates plus this many px (None: whole tiles).
        screen_ndwi: NDWI a lake candidate of the fast path's screen exceeds (None: no spectral rule).
        refine: the fast path in bf16 or INT8 runs its uncertain inputs again in fp32 (:mod:`glofwatch.infer.refine`).
        dem_grid: the synthetic scene's DEM as users have it (``glo30``: geographic, 1 arc second, warped
            onto the scene while mapping; see :mod:`glofwatch.bench.dem`) or on the scene's own grid
            (``scene``); ignored when ``dem`` is given.
    """
    import torch

    from glofwatch.bench import machine_info, run_worker, write_report
    from glofwatch.bench.dem import bench_dem, check_dem_grid
    from glofwatch.bench.infer import bench_bundle
    from glofwatch.bench.peak import ROBUST_SIZES, matmul_peak_gflops
    from glofwatch.errors import ConfigError
    from glofwatch.infer.backends import cache_dir, check_backend_name
    from glofwatch.infer.precision import check_precision, cpu_has_bf16
    from glofwatch.models.bundle import save_bundle

    say = progress or (lambda msg: None)
    check_backend_name(backend)
    check_precision(precision)
    if screen not in SCREENS:
        raise ConfigError(f"--screen {screen!r} is unknown; use both, on or off")
    check_dem_grid(dem_grid)
    t0 = time.perf_counter()
    synthetic = scene is None
    if scene is None:
        cache = Path(cache) if cache is not None else cache_dir() / "bench"
        say(f"synthetic scene {size}x{size} with {cloud_cover:.0%} cloud, DEM and truth (cached in {cache})")
        scene = cached_scene(cache, size, seed, cloud_cover)
        if dem is None:
            say(f"DEM laid out as {dem_grid}")
            dem = bench_dem(scene.parent, dem_grid)
        truth = truth if truth is not None else scene.parent / "lakes_mask.tif"
    else:
        from glofwatch.scene.read import read_scene

        size = read_scene(scene).shape[0]
    scene_s = time.perf_counter() - t0
    threads = threads or torch.get_num_threads()
    say(f"matrix-multiply peak ({threads} threads)")
    sides = matmul_n or ROBUST_SIZES
    peaks = {"fp32": matmul_peak_gflops(sides, threads=threads)}
    if cpu_has_bf16():
        peaks["bf16"] = matmul_peak_gflops(sides, threads=threads, dtype="bfloat16")
    runs: dict[str, dict[str, Any]] = {}
    per_lake: dict[str, dict[int, tuple[float, float, bool]]] = {}
    with tempfile.TemporaryDirectory(prefix="glofwatch-bench-scene-") as work:
        if Path(model).exists():
            model_file, kind = Path(model), "trained"
        else:
            bundle, kind = bench_bundle(model)
            model_file = save_bundle(Path(work) / "model.pt", bundle.net, bundle.config, bundle.metrics, bundle.meta)
        for screened in SCREENS[screen]:
            name = "fast" if screened else "reference"
            keep = keep_outputs and out_dir is not None
            map_dir = Path(out_dir) / f"map-{name}" if keep else Path(work) / f"map-{name}"  # type: ignore[arg-type]
            job = {"scene": str(scene), "model": str(model_file), "backend": backend, "device": device, "tile": tile,
                   "overlap": overlap, "batch_size": batch_size, "threads": threads, "out": str(map_dir),
                   "dem": str(dem) if dem is not None else None, "screen": screened,
                   "precision": precision if screened else "fp32", "trim_context": trim_context,
                   "screen_ndwi": screen_ndwi, "refine": refine}
            say(f"mapping ({name}: screen {'on' if screened else 'off'}, precision {job['precision']})")
            t1 = time.perf_counter()
            res = run_worker("glofwatch.bench.scene", job) if isolate else map_job(job)
            res["wall_s"] = time.perf_counter() - t1
            res["screen"], res["precision"] = screened, job["precision"]
            s = res["summary"]
            processed = (s.get("screen") or {}).get("processed_px") or s["n_tiles_run"] * tile * tile
            peak_name = "bf16" if "bf16" in res["backend_used"] and "bf16" in peaks else "fp32"
            res["floor"] = {**network_floor(model_file, peaks[peak_name], processed, tile), "peak": peak_name}
            if truth is not None:
                say(f"scoring {name} against {truth}")
                res["accuracy"], per_lake[name] = lake_scores(map_dir, Path(truth))
            runs[name] = res
    main = runs.get("fast") or runs["reference"]
    cost = None
    if "fast" in runs and "reference" in runs and truth is not None:
        f, r = runs["fast"]["accuracy"], runs["reference"]["accuracy"]
        cost = {"recall_points": 100 * ((r["recall_ge_0.01km2"] or 0) - (f["recall_ge_0.01km2"] or 0)),
                "pixel_iou_points": 100 * (r["pixel_iou"] - f["pixel_iou"]),
                "lake_area_lost_pct": 100 * (1 - f["predicted_area_km2"] / r["predicted_area_km2"])
                if r["predicted_area_km2"] else None,
                "speedup": runs["reference"]["map_s"] / runs["fast"]["map_s"],
                "lakes": flipped_lakes(per_lake["reference"], per_lake["fast"])}
    total_s = main["load_s"] + main["map_s"]
    doc = {
        "kind": "scene",
        "machine": machine_info(),
        "settings": {"model": model, "model_kind": kind, "size": size, "synthetic": synthetic, "seed": seed,
                     "backend": backend, "device": device, "tile": tile, "overlap": overlap, "batch_size": batch_size,
                     "threads": threads, "isolate": isolate, "scene": str(scene), "screen": screen,
                     "precision": precision, "trim_context": trim_context, "screen_ndwi": screen_ndwi, "refine": refine,
                     "dem": str(dem) if dem is not None else None, "dem_grid": dem_grid if synthetic else None,
                     "truth": str(truth) if truth is not None else None, "cloud_cover": cloud_cover},
        "scene_prepare_s": scene_s,
        "matmul_peak": peaks,
        "runs": runs,
        "fast_path_cost": cost,
        "targets": {"wall_s": TARGET_WALL_S, "peak_rss_mb": TARGET_PEAK_MB, "recall_points": 0.5},
        "meets_targets": {"wall_s": total_s < TARGET_WALL_S, "peak_rss_mb": main["peak_rss_mb"] < TARGET_PEAK_MB,
                          "recall_points": cost["recall_points"] <= 0.5 if cost else None},
        # the fields of the main run at the top level, as before
        "wall_s": main["wall_s"], "load_s": main["load_s"], "map_s": main["map_s"],
        "peak_rss_mb": main["peak_rss_mb"], "backend_used": main["backend_used"],
        "megapixels_per_s": size * size / 1e6 / main["map_s"],
        "summary": main["summary"],
    }
    if out_dir is not None:
        write_report(out_dir, "scene", doc, scene_markdown(doc))
    return doc


def scene_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report: one row per run, the floor, the fast path's cost and the targets."""
    from glofwatch.bench import cpu_words, markdown_table

    s, m = doc["settings"], doc["machine"]
    grids = {"glo30": "a GLO-30-like DEM (EPSG:4326, 1 arcsec, warped while mapping)",
             "scene": "its DEM on the scene grid"}
    what = (f"synthetic tile (uint16 L2A + SCL, {grids.get(s.get('dem_grid') or 'scene')})" if s["synthetic"]
            else f"scene {s['scene']}")
    peaks = ", ".join(f"{k} {v['gflops']:.0f} GFLOP/s (best of sides {', '.join(str(n) for n in v['per_size'])})"
                      for k, v in doc["matmul_peak"].items())
    head = (f"Whole {what}, {doc['summary']['height']}x{doc['summary']['width']} px, model {s['model']} "
            f"({s['model_kind']}), tile {s['tile']}, overlap {s['overlap']}, batch {s['batch_size']}, "
            f"{s['threads']} thread(s) on {cpu_words(m)} (load {m['load_avg_1min']}). Matmul peak: {peaks}. "
            f"Targets for the fast path: < {TARGET_WALL_S:.0f} s, < {TARGET_PEAK_MB:.0f} MiB, lake recall "
            "(>= 0.01 km2) within 0.5 points of the reference.\n")
    rows = []
    for name, r in doc["runs"].items():
        sc = r["summary"].get("screen") or {}
        acc = r.get("accuracy") or {}
        fl = r["floor"]
        rows.append([name, r["backend_used"], "on" if r["screen"] else "off", r["load_s"], r["map_s"],
                     r["load_s"] + r["map_s"], fl["floor_s"], r["map_s"] / fl["floor_s"] if fl["floor_s"] else None,
                     r["peak_rss_mb"], sc.get("processed_over_scene"), r["summary"]["n_tiles_run"],
                     r["summary"]["n_tiles"], acc.get("pixel_iou"), acc.get("recall_ge_0.01km2"),
                     r["summary"]["n_lakes"]])
    table = markdown_table(["run", "backend", "screen", "load s", "map s", "total s", "network floor s",
                            "map / floor", "peak RSS MiB", "processed / scene px", "tiles run", "tiles",
                            "pixel IoU", "recall >= 0.01 km2", "lakes"], rows)
    lines = [head, table, ""]
    fast = doc["runs"].get("fast")
    if fast is not None:
        sc = fast["summary"]["screen"]
        trimmed = sc.get("trimmed_tiles")
        lines.append(f"Screen ({sc['rule']}): tiles skipped by "
                     + ", ".join(f"{k} {v}" for k, v in sc["tiles_skipped"].items())
                     + (f"; {trimmed} of the {sc['tiles_run']} run trimmed" if trimmed is not None else "")
                     + (f"; {sc['refined_tiles']} tiles run again in fp32 ({sc['refined_px'] / 1e6:.1f} Mpx)"
                        if sc.get("refined_tiles") is not None else "")
                     + f"; OpenMP wait policy {fast.get('omp_wait_policy', 'default')}.")
    for name, r in doc["runs"].items():
        stages = dict(r["summary"].get("stage_seconds") or {})
        terrain = r["summary"].get("terrain") or {}
        if stages:
            if terrain.get("seconds") is not None:  # CPU seconds of the rules, inside the predict stage
                stages["terrain rules, within predict"] = terrain["seconds"]
            lines.append(f"Stages of the {name} run (s): " + ", ".join(f"{k.replace('_', ' ')} {v:.1f}"
                                                                         for k, v in stages.items()) + ".")
    if doc["fast_path_cost"]:
        c = doc["fast_path_cost"]
        lines.append(f"Fast path against the reference: {c['speedup']:.2f}x faster, recall {c['recall_points']:+.2f} "
                     f"points lost, pixel IoU {c['pixel_iou_points']:+.2f} points lost, lake area "
                     f"{c['lake_area_lost_pct']:+.2f} % lost.")
        for what in ("lost", "gained"):
            if c["lakes"][what]:
                lines.append(f"Lakes >= 0.01 km2 the fast path {what} (reference cover -> fast cover; found at "
                             f">= 50 %): " + ", ".join(f"{lk['area_km2']:.4f} km2 {lk['reference_covered_pct']:.1f} -> "
                                                      f"{lk['covered_pct']:.1f} %" for lk in c["lakes"][what]) + ".")
    ok = doc["meets_targets"]
    lines.append("Meets targets: " + ", ".join(f"{k} {'yes' if v else ('–' if v is None else 'no')}"
                                               for k, v in ok.items()) + ".")
    lines.append("The network floor is the processed pixels x the network's GFLOP per pixel / the matmul peak of "
                 "the precision the graph ran in (fp32, or bf16); INT8 layers are held to the fp32 peak.")
    return "\n".join(lines)


if __name__ == "__main__":
    from glofwatch.runtime import passive_openmp

    _job = json.loads(sys.argv[1])
    passive_openmp(_job["backend"], _job["device"])
    print(json.dumps(map_job(_job)))

"""``glofwatch bench scene``: wall time and peak memory to map one whole synthetic scene.

The scene (4-band uint16 L2A GeoTIFF, ``size`` x ``size`` at 10 m) is drawn once
with :func:`glofwatch.scene.synth.write_synthetic_scene` and cached in
``cache/scene-<size>-s<seed>``. Drawing holds the whole scene's layers in
memory (about 14 GB for 10980 x 10980), so scenes larger than
:data:`MAX_DRAW` pixels are a mosaic of one ``MAX_DRAW`` scene repeated
(wrapping) over the full grid, written strip by strip. Any existing scene can
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
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_DRAW = 4096
TARGET_WALL_S = 90.0
TARGET_PEAK_MB = 4096.0


def cached_scene(cache: str | Path, size: int, seed: int = 0) -> Path:
    """The GeoTIFF of a synthetic ``size`` x ``size`` scene, made once into ``cache`` (see module doc)."""
    from glofwatch.scene.synth import write_synthetic_scene

    folder = Path(cache) / f"scene-{size}-s{seed}"
    scene = folder / "scene.tif"
    if scene.is_file():
        return scene
    if size > MAX_DRAW:
        base = cached_scene(cache, MAX_DRAW, seed)
        folder.mkdir(parents=True, exist_ok=True)
        _mosaic(base, scene, size)
        return scene
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".scene-{size}-", dir=folder.parent))
    try:
        write_synthetic_scene(tmp, size=size, seed=seed)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # the folder appears complete or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return scene


def _mosaic(src_path: Path, dst_path: Path, size: int, strip: int = 512) -> None:
    """Repeat the scene ``src_path`` (wrapping) over a ``size`` x ``size`` grid with its origin and pixel size."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    from glofwatch.io.atomic import atomic_path

    with rasterio.open(src_path) as src:
        data = src.read()
        profile = src.profile.copy()
        descriptions = src.descriptions
    profile.update(height=size, width=size, BIGTIFF="YES", tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate")
    cols = np.arange(size) % data.shape[2]
    with atomic_path(dst_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for i, d in enumerate(descriptions):
            if d:
                dst.set_band_description(i + 1, d)
        for r in range(0, size, strip):
            h = min(strip, size - r)
            rows = (r + np.arange(h)) % data.shape[1]
            dst.write(data[:, rows][:, :, cols], window=Window(0, r, size, h))


def map_job(job: dict[str, Any]) -> dict[str, Any]:
    """Load the model and map one scene (the body of the worker process)."""
    import torch

    from glofwatch.infer.backends import build_backend
    from glofwatch.mapping.batch import map_scene
    from glofwatch.runtime import peak_rss_mb

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    t0 = time.perf_counter()
    backend = build_backend(job["backend"], Path(job["model"]), device=job["device"], threads=job.get("threads"))
    predictor = backend.predictor(max_tile=job["tile"], overlap=job["overlap"])
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    summary = map_scene(job["scene"], predictor, job["out"], tile=job["tile"], overlap=job["overlap"],
                        batch_size=job["batch_size"])
    map_s = time.perf_counter() - t1
    return {"backend_used": backend.name, "load_s": load_s, "map_s": map_s, "peak_rss_mb": peak_rss_mb(),
            "summary": summary.to_dict()}


def bench_scene(
    model: str,
    out_dir: str | Path | None,
    size: int = 10980,
    backend: str = "auto",
    device: str = "cpu",
    tile: int = 512,
    overlap: int = 64,
    batch_size: int = 4,
    cache: str | Path | None = None,
    seed: int = 0,
    threads: int | None = None,
    isolate: bool = True,
    keep_outputs: bool = False,
    scene: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Map a synthetic scene and write ``scene.json`` and ``scene.md`` to ``out_dir``.

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
        keep_outputs: keep the maps under ``out_dir/map`` (default: deleted after timing).
        scene: time this scene file or band folder instead of a synthetic one (``size`` is ignored).
        progress: called with one line per step.
    """
    import torch

    from glofwatch.bench import machine_info, run_worker, write_report
    from glofwatch.bench.infer import bench_bundle
    from glofwatch.infer.backends import cache_dir, check_backend_name
    from glofwatch.models.bundle import save_bundle

    say = progress or (lambda msg: None)
    check_backend_name(backend)
    t0 = time.perf_counter()
    synthetic = scene is None
    if scene is None:
        cache = Path(cache) if cache is not None else cache_dir() / "bench"
        say(f"synthetic scene {size}x{size} (cached in {cache})")
        scene = cached_scene(cache, size, seed)
    else:
        from glofwatch.scene.read import read_scene

        size = read_scene(scene).shape[0]
    scene_s = time.perf_counter() - t0
    threads = threads or torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="glofwatch-bench-scene-") as work:
        if Path(model).exists():
            model_file, kind = Path(model), "trained"
        else:
            bundle, kind = bench_bundle(model)
            model_file = save_bundle(Path(work) / "model.pt", bundle.net, bundle.config, bundle.metrics, bundle.meta)
        map_dir = Path(out_dir) / "map" if (keep_outputs and out_dir is not None) else Path(work) / "map"
        job = {"scene": str(scene), "model": str(model_file), "backend": backend, "device": device, "tile": tile,
               "overlap": overlap, "batch_size": batch_size, "threads": threads, "out": str(map_dir)}
        say(f"mapping with {model} ({backend})")
        t1 = time.perf_counter()
        res = run_worker("glofwatch.bench.scene", job) if isolate else map_job(job)
        wall_s = time.perf_counter() - t1
    s = res["summary"]
    doc = {
        "kind": "scene",
        "machine": machine_info(),
        "settings": {"model": model, "model_kind": kind, "size": size, "synthetic": synthetic, "seed": seed,
                     "backend": backend,
                     "device": device, "tile": tile, "overlap": overlap, "batch_size": batch_size, "threads": threads,
                     "isolate": isolate, "scene": str(scene)},
        "scene_prepare_s": scene_s,
        "wall_s": wall_s,
        "targets": {"wall_s": TARGET_WALL_S, "peak_rss_mb": TARGET_PEAK_MB},
        "meets_targets": {"wall_s": res["load_s"] + res["map_s"] < TARGET_WALL_S,
                          "peak_rss_mb": res["peak_rss_mb"] < TARGET_PEAK_MB},
        "megapixels_per_s": res["summary"]["height"] * res["summary"]["width"] / 1e6 / res["map_s"],
        **{k: v for k, v in res.items() if k != "summary"},
        "summary": s,
    }
    if out_dir is not None:
        write_report(out_dir, "scene", doc, scene_markdown(doc))
    return doc


def scene_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report: one row, with the targets."""
    from glofwatch.bench import markdown_table

    s, m = doc["settings"], doc["machine"]
    what = "synthetic scene (uint16 L2A, 4 bands)" if s["synthetic"] else f"scene {s['scene']}"
    head = (f"Whole {what}, {doc['summary']['height']}x{doc['summary']['width']} px, model {s['model']} "
            f"({s['model_kind']}), backend {doc['backend_used']}, tile {s['tile']}, overlap {s['overlap']}, "
            f"batch {s['batch_size']}, {s['threads']} thread(s) on {m['cpu']} (load {m['load_avg_1min']}). "
            f"Targets: < {TARGET_WALL_S:.0f} s and < {TARGET_PEAK_MB:.0f} MiB.\n")
    ok = doc["meets_targets"]
    row = [doc["load_s"], doc["map_s"], doc["load_s"] + doc["map_s"], doc["megapixels_per_s"], doc["peak_rss_mb"],
           doc["summary"]["n_tiles_run"], doc["summary"]["n_lakes"],
           "yes" if ok["wall_s"] and ok["peak_rss_mb"] else "no"]
    return head + "\n" + markdown_table(["load s", "map s", "total s", "Mpx/s", "peak RSS MiB", "tiles", "lakes",
                                         "meets targets"], [row])


if __name__ == "__main__":
    print(json.dumps(map_job(json.loads(sys.argv[1]))))

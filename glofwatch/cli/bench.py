"""``glofwatch bench ...``: the numbers behind the performance, accuracy and realism claims."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

bench_app = typer.Typer(help="Benchmarks: inference backends, training steps, whole scenes (JSON + Markdown).",
                        no_args_is_help=True)


def _say(msg: str) -> None:
    typer.echo(msg, err=True)


@bench_app.command("infer")
def infer_cmd(
    models: list[str] = typer.Option(["unet-efflite0-slim", "deeplabv3plus-resnet50"], "--models", "-m",
                                     help="Model names (random weights) or run folders; comma-separated or repeated."),
    backends: list[str] = typer.Option(["torch", "onnxruntime", "openvino"], "--backends", "-b",
                                       help="torch, onnxruntime, openvino, onnxruntime-int8, openvino-int8."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for infer.json and infer.md."),
    size: int = typer.Option(320, help="Square input side in pixels."),
    batches: list[int] = typer.Option([1, 8], "--batch", help="Batch sizes (repeat the option)."),
    warmup: int = typer.Option(2, help="Untimed calls per backend and batch."),
    min_iters: int = typer.Option(5, help="Timed calls at least."),
    max_iters: int = typer.Option(50, help="Timed calls at most."),
    min_time: float = typer.Option(3.0, help="Keep timing until this many seconds (within max-iters)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for every backend (default: all cores)."),
    isolate: bool = typer.Option(True, "--isolate/--in-process", help="One fresh process per backend (own peak RSS)."),
    matmul_n: int = typer.Option(0, help="Matrix side for the torch.mm peak (0: the best of 1024-4096)."),
    int8_scope: str = typer.Option("decoder", help="Layers quantised for the -int8 backends: decoder or all."),
    interleave: bool = typer.Option(False, "--interleave",
                                    help="Time backends round-robin in one process (fair ratios on a busy machine)."),
) -> None:
    """Images/s (batch 1 and 8), latency p50/p95, peak RSS, GFLOPs and share of the matmul peak, per model x backend."""
    from glofwatch.bench.infer import bench_infer, infer_markdown, parse_list

    doc = bench_infer(parse_list(models), parse_list(backends), out, size=size, batches=tuple(batches), warmup=warmup,
                      min_iters=min_iters, max_iters=max_iters, min_time_s=min_time, threads=threads, isolate=isolate,
                      matmul_n=matmul_n, progress=_say, interleave=interleave,
                      int8_scope=int8_scope)
    typer.echo(infer_markdown(doc))
    typer.echo(f"\nwrote {out / 'infer.json'} and {out / 'infer.md'}")


@bench_app.command("train")
def train_cmd(
    presets: list[str] = typer.Option(["fast", "dlv3p-r50-bce"], "--presets", "-p",
                                      help="Preset or model names, or 'study' (the six study rows); "
                                           "comma-separated or repeated."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train.json and train.md."),
    batch: int = typer.Option(8, help="Images per step."),
    size: int = typer.Option(320, help="Square crop side in pixels."),
    steps: int = typer.Option(3, help="Timed steps (and timed validation batches)."),
    warmup: int = typer.Option(1, help="Untimed steps (at least 1 when compiled: they absorb compilation)."),
    devices: list[str] = typer.Option([], "--device", "--devices",
                                      help="cpu, cuda or auto (CUDA when visible, else CPU; the default); "
                                           "comma-separated or repeated."),
    precision: str = typer.Option("auto", help="both, bf16 (torch.autocast) or 32; auto: 32 on CPU, both on CUDA."),
    compile: str = typer.Option("auto", "--compile",
                                help="torch.compile of the network: both, on or off; auto: off on CPU, both on CUDA."),
    channels_last: str = typer.Option("both", help="both, on or off."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: all cores)."),
    epochs: int = typer.Option(50, help="Epochs of the projected protocol (the study: 50)."),
    train_crops: int = typer.Option(1000, help="Training crops per epoch of the projected protocol."),
    val_crops: int = typer.Option(200, help="Validation crops per epoch of the projected protocol (0: none)."),
) -> None:
    """Seconds per training step per preset x device x precision x compile x channels-last, and the projected
    minutes of the study protocol (goal: the six study rows in < 15 min on one H100-class GPU)."""
    from glofwatch.bench.infer import parse_list
    from glofwatch.bench.train import bench_train, train_markdown

    doc = bench_train(parse_list(presets), out, batch=batch, size=size, steps=steps, warmup=warmup,
                      devices=parse_list(devices) or None, channels_last=channels_last, precision=precision,
                      compile=compile, threads=threads, epochs=epochs, train_crops=train_crops, val_crops=val_crops,
                      progress=_say)
    typer.echo(train_markdown(doc))
    typer.echo(f"\nwrote {out / 'train.json'} and {out / 'train.md'}")


@bench_app.command("scene")
def scene_cmd(
    model: str = typer.Option("unet-efflite0-slim", "--model", "-m",
                              help="Run folder, model file, or model name (random weights)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for scene.json and scene.md."),
    size: int = typer.Option(10980, help="Scene side in pixels (a Sentinel-2 tile: 10980)."),
    backend: str = typer.Option("auto", help="auto, torch, onnxruntime or openvino."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    tile: int = typer.Option(512, help="Tile side in pixels."),
    overlap: int = typer.Option(32, help="Tile overlap in pixels."),
    batch_size: int = typer.Option(0, help="Tiles per forward pass (0: 1 on CPU, 8 on a GPU)."),
    cache: Optional[Path] = typer.Option(None,
                                         help="Folder for the synthetic scene (default ~/.cache/glofwatch/bench)."),
    screen: str = typer.Option("both", help="both: map without screening in fp32 (the reference) and with screening "
                               "at --precision (the fast path), and score both; on; off."),
    precision: str = typer.Option("auto", help="Precision of the fast path: auto, fp32, int8, int8-all or bf16."),
    dem: Optional[Path] = typer.Option(None, help="DEM for the terrain rules and the screen (default: the "
                                       "synthetic scene's own)."),
    dem_grid: str = typer.Option("glo30", "--dem-grid", help="The synthetic scene's DEM: glo30 (geographic, "
                                 "1 arcsec, warped onto the scene like Copernicus GLO-30) or scene (on its grid)."),
    truth: Optional[Path] = typer.Option(None, help="Truth lake mask on the scene grid (default: the synthetic "
                                         "scene's own)."),
    cloud_cover: float = typer.Option(0.15, help="Cloud share of the synthetic scene."),
    matmul_n: int = typer.Option(0, help="Matrix side for the matmul peak (0: the best of 1024-4096)."),
    trim_context: int = typer.Option(96, "--trim-context", help="The fast path trims run tiles to their lake "
                                     "candidates plus this many px (-1: whole tiles)."),
    screen_ndwi: float = typer.Option(0.1, "--screen-ndwi", help="NDWI (B03, B08) a lake candidate of the fast "
                                      "path's screen exceeds."),
    seed: int = typer.Option(0, help="Synthetic scene seed."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: all cores)."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="A bf16 or INT8 fast path runs its uncertain "
                                "network inputs again in fp32."),
    isolate: bool = typer.Option(True, "--isolate/--in-process", help="Map in a fresh process (own peak memory)."),
    keep_outputs: bool = typer.Option(False, "--keep-outputs", help="Keep the maps (OUT/map-reference, OUT/map-fast)."),
    scene: Optional[Path] = typer.Option(None,
                                         help="Time this scene (GeoTIFF or band folder) instead of a synthetic one."),
) -> None:
    """Wall time, peak memory, network floor and lake recall of mapping a whole tile (targets: < 30 s, < 2 GB)."""
    from glofwatch.runtime import passive_openmp

    passive_openmp(backend, device)  # as `glofwatch map` does; the mapping process inherits it
    from glofwatch.bench.scene import bench_scene, scene_markdown

    doc = bench_scene(model, out, size=size, backend=backend, device=device, tile=tile, overlap=overlap,
                      batch_size=batch_size, cache=cache, seed=seed, threads=threads, isolate=isolate,
                      keep_outputs=keep_outputs, scene=scene, progress=_say, screen=screen, precision=precision,
                      dem=dem, truth=truth, cloud_cover=cloud_cover, matmul_n=matmul_n,
                      trim_context=trim_context if trim_context >= 0 else None, screen_ndwi=screen_ndwi,
                      dem_grid=dem_grid, refine=refine)
    typer.echo(scene_markdown(doc))
    typer.echo(f"\nwrote {out / 'scene.json'} and {out / 'scene.md'}")


@bench_app.command("precision")
def precision_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="Run folder (the precisions are built from its model.pt)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for precision.json and precision.md."),
    seeds: str = typer.Option("0,1,2,3", help="Synthetic tile seeds, comma-separated."),
    precisions: Optional[str] = typer.Option(None, help="Precisions to compare with fp32, comma-separated: int8, "
                                             "int8-all, bf16 (default: int8, and bf16 where the CPU has it), each "
                                             "its graph alone, or with +fp32 (int8+fp32): refined as `map` does."),
    size: int = typer.Option(10980, help="Tile side in pixels (a Sentinel-2 tile: 10980)."),
    tile: int = typer.Option(512, help="Window side in pixels."),
    overlap: int = typer.Option(32, help="Window overlap in pixels."),
    cache: Optional[Path] = typer.Option(None,
                                         help="Folder for the synthetic tiles (default ~/.cache/glofwatch/bench)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: all cores)."),
    isolate: bool = typer.Option(True, "--isolate/--in-process", help="Map each run in a fresh process."),
    dem_grid: str = typer.Option("glo30", "--dem-grid", help="The tiles' DEM: glo30 or scene."),
) -> None:
    """The lakes each mapping precision loses and gains against fp32, pooled over synthetic tiles."""
    from glofwatch.bench import parse_ints
    from glofwatch.bench.precision import bench_precision, precision_markdown

    names = [p.strip() for p in precisions.split(",") if p.strip()] if precisions is not None else None
    doc = bench_precision(model, out, seeds=parse_ints(seeds, "--seeds"), precisions=names, size=size, tile=tile,
                          overlap=overlap, cache=cache, threads=threads, isolate=isolate, dem_grid=dem_grid,
                          progress=_say)
    typer.echo(precision_markdown(doc))
    typer.echo(f"\nwrote {out / 'precision.json'} and {out / 'precision.md'}")


@bench_app.command("region")
def region_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for region.json and region.md."),
    tiles: int = typer.Option(20, help="Tiles in the region (links to one synthetic scene)."),
    size: int = typer.Option(10980, help="Tile side in pixels (a Sentinel-2 tile: 10980)."),
    workers: str = typer.Option("1,2", help="Worker counts to measure, comma-separated."),
    project_workers: str = typer.Option("4,8,16,32,64", "--project-workers",
                                        help="Worker counts to project the region onto, comma-separated."),
    project_tiles: int = typer.Option(350, "--project-tiles", help="Tiles of the projected region."),
    project_cores: str = typer.Option("16,64,128,256", "--project-cores",
                                      help="Core counts for the CPU-time bound on the region, comma-separated."),
    model: str = typer.Option("unet-efflite0-slim", "--model", "-m",
                              help="Run folder, model file, or model name (random weights)."),
    backend: str = typer.Option("auto", help="auto, torch, onnxruntime or openvino."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    tile: int = typer.Option(512, help="Tile side in pixels of the network's windows."),
    overlap: int = typer.Option(32, help="Window overlap in pixels."),
    batch_size: int = typer.Option(0, help="Windows per forward pass (0: 1 on CPU, 8 on a GPU)."),
    cache: Optional[Path] = typer.Option(None,
                                         help="Folder for the synthetic scene (default ~/.cache/glofwatch/bench)."),
    seed: int = typer.Option(0, help="Synthetic scene seed."),
    threads: Optional[int] = typer.Option(None, help="Inference threads per worker, the same for every worker count "
                                          "(default: the cores / the largest worker count)."),
    worker_memory: Optional[str] = typer.Option(None, "--worker-memory",
                                                help="Memory limit per worker, e.g. 3GB (default: memory / workers)."),
    worker_processes: bool = typer.Option(True, "--worker-processes/--worker-threads",
                                          help="Workers as processes or threads."),
    keep_outputs: bool = typer.Option(False, "--keep-outputs", help="Keep the maps in OUT/maps-<n>w."),
    dem: bool = typer.Option(True, "--dem/--no-dem",
                             help="Map with the synthetic scene's DEM (terrain rules), as `bench scene` does."),
    dem_grid: str = typer.Option("glo30", "--dem-grid", help="That DEM: glo30 (geographic, 1 arcsec, warped onto "
                                 "the scene like Copernicus GLO-30) or scene (on its grid)."),
) -> None:
    """Tiles per hour of `glofwatch map` over a region on 1 and 2 Dask workers, scaling efficiency, 350-tile times."""
    from glofwatch.runtime import passive_openmp

    passive_openmp(backend, device)  # as `glofwatch map` does; Dask workers inherit it
    from glofwatch.bench import parse_ints
    from glofwatch.bench.region import bench_region, region_markdown

    doc = bench_region(model, out, tiles=tiles, size=size, workers=parse_ints(workers, "--workers"),
                       project_workers=parse_ints(project_workers, "--project-workers"), project_tiles=project_tiles,
                       project_cores=parse_ints(project_cores, "--project-cores"),
                       backend=backend, device=device, tile=tile, overlap=overlap, batch_size=batch_size, cache=cache,
                       seed=seed, threads=threads, worker_memory=worker_memory, processes=worker_processes,
                       keep_outputs=keep_outputs, dem=dem, dem_grid=dem_grid, progress=_say)
    typer.echo(region_markdown(doc))
    typer.echo(f"\nwrote {out / 'region.json'} and {out / 'region.md'}")


@bench_app.command("trim")
def trim_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Run folder to map the crops with."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for trim.json and trim.md."),
    real: Optional[Path] = typer.Option(None, "--real", help="Real crops in the {images,masks} layout "
                                        "(default ../shared/data/himalaya-kmeans beside the repository)."),
    contexts: str = typer.Option("32,64,96,128", "--contexts", help="Trim contexts in px, comma-separated."),
    bands: Optional[str] = typer.Option(None, "--bands", help="Band names of the crops' channels, comma-separated "
                                        "(default: the model's input bands, e.g. B08,B04,B03)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N crops."),
    precision: str = typer.Option("auto", help="auto, fp32, bf16 or int8, as for `glofwatch map`."),
    threads: Optional[int] = typer.Option(None, help="Inference threads (default: all cores)."),
    min_saving: Optional[float] = typer.Option(None, "--min-saving", help="Share of a tile the boxes must save to "
                                               "be used (default 0.2, as `glofwatch map`; 0: whenever smaller, "
                                               "to measure the context alone)."),
) -> None:
    """Lake pixels the fast path's NDWI screen and trimmed boxes lose on real crops, per trim context."""
    from glofwatch.runtime import passive_openmp

    passive_openmp("auto", "cpu")
    from glofwatch.bench.trim import bench_trim, parse_contexts, trim_markdown

    doc = bench_trim(model, out, real_root=real, contexts=parse_contexts(contexts),
                     bands=[b.strip() for b in bands.split(",") if b.strip()] if bands else None, limit=limit,
                     precision=precision, threads=threads, min_saving=min_saving, progress=_say)
    typer.echo(trim_markdown(doc))
    typer.echo(f"\nwrote {out / 'trim.json'} and {out / 'trim.md'}")


@bench_app.command("realism")
def realism_cmd(
    out: Path = typer.Option(..., "--out", "-o",
                             help="Folder for realism.json, realism.md, the synthetic data and the run."),
    real: Optional[Path] = typer.Option(None, "--real", help="Real crops in the {images,masks} layout "
                                        "(default ../shared/data/himalaya-kmeans beside the repository)."),
    n: int = typer.Option(600, help="Synthetic crops to train on."),
    size: int = typer.Option(256, help="Synthetic crop side in pixels."),
    seed: int = typer.Option(0, help="Seed for the synthetic crops and training."),
    preset: str = typer.Option("fast", help="Training preset."),
    time_budget: float = typer.Option(600.0, help="Training wall-clock budget in seconds."),
) -> None:
    """Train on synthetic crops only, score on real crops (target IoU >= 0.5); reuses OUT/run when finished."""
    from glofwatch.bench.realism import REALISM_TARGET_IOU, run_realism

    doc = run_realism(out, real_root=real, n=n, size=size, seed=seed, preset=preset, time_budget_s=time_budget,
                      progress=True)
    typer.echo((out / "realism.md").read_text())
    verdict = "meets" if doc["meets_target"] else "misses"
    typer.echo(f"real-crop IoU {doc['real']['iou']:.3f} {verdict} the target {REALISM_TARGET_IOU}; "
               f"wrote {out / 'realism.json'} and {out / 'realism.md'}")


@bench_app.command("versus")
def versus_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for versus.json, versus.md, the data and the runs."),
    seconds: float = typer.Option(300.0, "--seconds", help="Training wall-clock seconds per contender and data set."),
    seconds_for: list[str] = typer.Option([], "--seconds-for", help="NAME=SECONDS: another budget for one data set "
                                          "(both contenders alike), e.g. real-grouped=600 (repeatable)."),
    datasets: str = typer.Option("synthetic-false-colour,synthetic-true-colour,real-grouped", "--datasets",
                                 help="Comma-separated data sets (real-grouped is left out when the real crops "
                                      "are missing)."),
    contenders: str = typer.Option("dlv3p-r50-dice,fast", "--contenders",
                                   help="Comma-separated presets, each with its own settings as PRESET:KEY=VALUE "
                                        "(e.g. fast:weights=none for our recipe from random init)."),
    n: int = typer.Option(320, help="Synthetic crops per synthetic data set."),
    size: int = typer.Option(256, help="Synthetic crop side in pixels."),
    seed: int = typer.Option(0, help="Seed of the data, the split and training."),
    device: str = typer.Option("cpu", "--device", help="Training device: cpu, cuda or auto."),
    real: Optional[Path] = typer.Option(None, "--real", help="Real crops in the {images,masks} layout "
                                        "(default ../shared/data/himalaya-kmeans beside the repository)."),
    set_: list[str] = typer.Option([], "--set", help="Setting for every contender as key=value (repeatable)."),
) -> None:
    """Our default (fast) against the study's best row (DeepLabV3+ R50 Dice): same budget, crops and test split."""
    from glofwatch.bench.versus import DATASETS, run_versus
    from glofwatch.cli.train import _parse_set

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    run_versus(out, datasets=tuple(names) if names != list(DATASETS) else DATASETS, seconds=seconds, n=n,
               size=size, seed=seed, device=device, contenders=[c.strip() for c in contenders.split(",") if c.strip()],
               overrides=_parse_set(set_), real_root=real,
               seconds_for={k: float(v) for k, v in _parse_set(seconds_for).items()}, say=_say)
    typer.echo((out / "versus.md").read_text())
    typer.echo(f"wrote {out / 'versus.json'} and {out / 'versus.md'}")


@bench_app.command("monitor")
def monitor_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for monitor.json and monitor.md."),
    sizes: str = typer.Option("10000,30000,100000", "--sizes",
                              help="Lakes per date, comma-separated (one timing each)."),
    dates: int = typer.Option(10, "--dates", help="Dates per size."),
    seed: int = typer.Option(0, help="Seed of the synthetic lakes."),
) -> None:
    """Seconds to track n synthetic lakes through the dates, and the fitted exponent of time vs n (~1, not 2)."""
    from glofwatch.bench.monitor import bench_monitor, monitor_markdown
    from glofwatch.errors import ConfigError

    try:
        counts = tuple(int(s) for s in sizes.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--sizes {sizes!r}: give whole numbers separated by commas, "
                          "e.g. --sizes 10000,30000,100000") from None
    doc = bench_monitor(out, sizes=counts, dates=dates, seed=seed, progress=_say)
    typer.echo(monitor_markdown(doc))
    typer.echo(f"\nwrote {out / 'monitor.json'} and {out / 'monitor.md'}")


@bench_app.command("changes")
def changes_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="Run folder or model file to map the series with."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for changes.json, changes.md, the maps and monitors."),
    seeds: str = typer.Option("1,2,3,4,5,6", help="Synthetic series seeds, comma-separated."),
    logits: str = typer.Option("0,0.5,0.75,1", help="Threshold-band half-widths to compare, in logits "
                               "(0: the half-pixel rule alone)."),
    size: int = typer.Option(2048, help="Series side in pixels."),
    cache: Optional[Path] = typer.Option(None, help="Folder for the series (default ~/.cache/glofwatch/bench)."),
) -> None:
    """False changes of stable lakes, drains alerted and growths found, per area-uncertainty rule."""
    from glofwatch.bench import parse_ints
    from glofwatch.bench.changes import bench_changes, changes_markdown
    from glofwatch.errors import ConfigError

    try:
        widths = [float(v) for v in logits.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--logits {logits!r}: give numbers separated by commas, e.g. --logits 0,0.75") from None
    doc = bench_changes(model, out, seeds=parse_ints(seeds, "--seeds"), logits=widths, size=size, cache=cache,
                        progress=_say)
    typer.echo(changes_markdown(doc))
    typer.echo(f"\nwrote {out / 'changes.json'} and {out / 'changes.md'}")


@bench_app.command("serve")
def serve_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for serve.json and serve.md."),
    folder: Optional[Path] = typer.Option(None, "--dir", help="Served folder (default: synthetic lakes in OUT/data)."),
    requests: int = typer.Option(2000, help="Requests to send."),
    connections: int = typer.Option(8, help="Concurrent keep-alive connections."),
    lakes: int = typer.Option(5000, help="Lakes of the synthetic folder."),
    dates: int = typer.Option(3, help="Observation dates of the synthetic folder."),
    seed: int = typer.Option(0, help="Seed of the synthetic lakes and the request mix."),
    max_seconds: float = typer.Option(300.0, help="Stop sending after this many seconds."),
) -> None:
    """Loopback load test of `glofwatch serve`: latency p50/p95, errors and requests/s per API call."""
    from glofwatch.bench.serve import bench_serve, serve_markdown

    doc = bench_serve(out, folder=folder, requests=requests, connections=connections, lakes=lakes, dates=dates,
                      seed=seed, max_seconds=max_seconds, progress=_say)
    typer.echo(serve_markdown(doc))
    typer.echo(f"\nwrote {out / 'serve.json'} and {out / 'serve.md'}")


@bench_app.command("fetch")
def fetch_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for fetch.json, fetch.md and the loopback data."),
    size: int = typer.Option(2048, help="Synthetic scene side in pixels."),
    dates: int = typer.Option(3, help="Items (dates) served."),
    bbox_km: float = typer.Option(5.0, "--bbox-km", help="Side of the square bbox at the scene centre, km."),
    block: int = typer.Option(1024, help="COG block side in pixels (Earth Search: 1024)."),
    seed: int = typer.Option(0, help="Synthetic scene seed."),
) -> None:
    """Bytes read per km2 against the COG blocks' compressed bytes (goal <= 1.5x), and seconds per date, on loopback."""
    from glofwatch.bench.fetch import bench_fetch, fetch_markdown

    doc = bench_fetch(out, size=size, dates=dates, bbox_km=bbox_km, block=block, seed=seed, progress=_say)
    typer.echo(fetch_markdown(doc))
    typer.echo(f"\nwrote {out / 'fetch.json'} and {out / 'fetch.md'}")


@bench_app.command("reliability")
def reliability_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for reliability.json and reliability.md."),
    requests: int = typer.Option(2000, help="Requests of the loopback load test (0: skip it)."),
) -> None:
    """Inputs tried, faults injected, requests served, failures and data lost, from the reliability tests."""
    from glofwatch.bench.reliability import run_reliability

    doc = run_reliability(out, serve_requests=requests)
    typer.echo((out / "reliability.md").read_text())
    if doc["failures"] or doc["data_lost"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``bench`` and its benchmarks."""
    app.add_typer(bench_app, name="bench")

"""Map whole scenes: one in process (:func:`~glofwatch.mapping.single.map_scene`), many on Dask (:func:`map_scenes`).

Every scene gets its own folder ``OUT/<scene name>/``::

    probability.tif   float32 lake probability 0..1, NaN on nodata
    mask.tif          uint8 1 lake / 0 not lake / 2 not observed (SCL cloud, shadow, cirrus) / 255 nodata
    lakes.gpkg        lake polygons in the scene CRS (layer "lakes")
    lakes.geojson     the same in EPSG:4326
    summary.json      what was done; written last, so it marks the scene complete

Every file is written atomically. A scene whose ``summary.json`` says
``"status": "done"``, whose files all exist and whose resume key (a hash of
the model file and the options, :mod:`glofwatch.mapping.resume`) is this run's
is skipped on the next run (``overwrite=True`` redoes it), so an interrupted
batch resumes where it stopped and a changed model or option redoes the scene.

With a DEM (``MapOptions.dem``) lake pixels on slopes steeper than ``max_slope`` and,
when the product has sun angles, in cast shadow become not lake
(:mod:`glofwatch.mapping.terrain`); ``summary.json`` -> ``terrain`` says how many
pixels and lakes each rule removed.

``summary.json`` also records the DN offset used and where it came from
(``dn_offset``, ``dn_offset_from``, ``processing_baseline``), any note about a
guessed offset (``notes``), where nodata came from, and with an SCL its class
shares and the share of lake pixels it calls water (``scl``).

Many scenes run on a Dask distributed cluster (a ``LocalCluster`` of ``workers``
single-threaded workers, or an existing scheduler). Each worker loads the model
once and maps one scene at a time; a failing scene is reported with its one-line
reason and the others go on.

Without a model (``MapOptions.ndwi``: ``"otsu"`` or a fixed threshold) scenes are
mapped with the index baseline :class:`~glofwatch.infer.ndwi.NDWIPredictor`:
lake where NDWI ``(B03 - B08) / (B03 + B08)`` of the DN plus the DN offset
(clipped at 0) is above the threshold. ``otsu`` fixes one threshold per scene, by
Otsu's method on the NDWI of the valid pixels of a decimated read of the scene
(:data:`~glofwatch.mapping.ndwi_map.NDWI_OVERVIEW_PX` on the longer side), so all tiles share it. The
predictor is built in :func:`run_scene`, on the worker mapping the scene.
``summary.json`` -> ``model`` is ``ndwi-otsu`` (or ``ndwi-<t>``) and ``ndwi``
holds the threshold used; ``threshold`` stays the probability cut 0.5, which
``probability.tif`` (``clip((NDWI - t + 1) / 2, 0, 1)``) crosses exactly at NDWI ``t``.
The resume key is the method and threshold instead of a model file.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError, GlofwatchError, InputError
from glofwatch.infer.precision import check_precision
from glofwatch.infer.rendering import check_declared
from glofwatch.lakes.vectorize import DEFAULT_MIN_AREA_M2
from glofwatch.mapping.screen import DEFAULT_CONTEXT, DEFAULT_MIN_PATCH, DEFAULT_NDWI_MIN, Screen
from glofwatch.mapping.single import OUTPUT_FILES, SUMMARY_FILE, is_complete, map_scene
from glofwatch.mapping.terrain import DEFAULT_MAX_SLOPE_DEG
from glofwatch.runtime import FIXED_THRESHOLD_VARS
from glofwatch.scene.read import scene_name

CHANGED_NOTE = "redone: the model or options changed since it was mapped"
CONNECT_TIMEOUT_S = 30
"""How long to wait for a Dask scheduler given with ``--scheduler``."""
"""Longer side of the decimated read whose NDWI fixes a scene's Otsu threshold."""


@dataclass
class MapOptions:
    """Settings of a mapping run (the ``glofwatch map`` options).

    Attributes:
        tile: tile side in pixels.
        overlap: overlap of neighbouring tiles in pixels.
        batch_size: tiles per forward pass (0: 1 on CPU, 8 on a GPU).
        device: auto, cpu or cuda.
        backend: auto, torch, onnxruntime or openvino (auto: the fastest available).
        min_area_m2: smallest lake kept in the polygons.
        gain: 8-bit rendering gain for models trained on 8-bit images (None: the training default).
        dn_offset: added to L2A DN (-1000 for processing baseline >= 04.00); None: the product's.
        bands: band names of multi-band files in file order (None: descriptions / default order).
        scl: Scene Classification Layer file for the (one) scene (None: the scene's own, if any).
        use_scl: mark SCL cloud, shadow and cirrus "not observed".
        threads: torch threads per scene (None: torch's default).
        overwrite: redo scenes that are already complete.
        threshold: mask threshold overriding the model's own (None: the one chosen on validation).
        tta: test-time augmentation (8 flips and rotations per tile, 8x the network time).
        dem: DEM GeoTIFF for the terrain rules (made absolute; None: no terrain rules).
        max_slope: steepest slope of a lake pixel in degrees (with ``dem``).
        shadow: the cast-shadow rule (with ``dem`` and a product that records its sun angles).
        precision: CPU graph precision, auto (the fastest within 0.5 validation IoU points of fp32,
            :mod:`glofwatch.infer.precision`), fp32, int8, int8-all (encoder quantised too) or bf16.
        rendering: what 8-bit scenes show: auto (detected, checked against the model), true-colour,
            false-colour, any (no check).
        screen: skip tiles that cannot hold a lake (:mod:`glofwatch.mapping.screen`).
        screen_ndwi: NDWI threshold of the spectral screen (None: no spectral rule).
        screen_min_pixels: lake-candidate pixels a tile needs to run.
        screen_min_patch: water-looking pixels a patch needs to hold lake candidates (1: every patch).
        trim: the network sees only boxes around a run tile's lake candidates, ``trim_context`` px wide
            (with ``screen``, on CPU batches of one tile).
        trim_context: px of image kept around the candidates of a trimmed tile.
        ndwi: map without a model, with the NDWI baseline: ``"otsu"`` (one Otsu threshold per scene) or a
            fixed NDWI threshold in [-1, 1); None: map with the model.
        refine: with a bf16 or INT8 graph, run each tile whose network input the lower precision left
            uncertain again, whole, in fp32 (:mod:`glofwatch.infer.refine`).
    """

    tile: int = 512
    overlap: int = 32
    batch_size: int = 0
    device: str = "auto"
    backend: str = "auto"
    min_area_m2: float = DEFAULT_MIN_AREA_M2
    gain: float | None = None
    dn_offset: float | None = None
    bands: tuple[str, ...] | None = None
    scl: str | None = None
    use_scl: bool = True
    threads: int | None = None
    overwrite: bool = False
    threshold: float | None = None
    tta: bool = False
    dem: str | None = None
    max_slope: float = DEFAULT_MAX_SLOPE_DEG
    shadow: bool = True
    precision: str = "auto"
    rendering: str = "auto"
    screen: bool = True
    screen_ndwi: float | None = DEFAULT_NDWI_MIN
    screen_min_pixels: int = 1
    screen_min_patch: int = DEFAULT_MIN_PATCH
    trim: bool = True
    trim_context: int = DEFAULT_CONTEXT
    ndwi: str | float | None = None
    refine: bool = True

    def __post_init__(self) -> None:
        if self.dem is not None:
            self.dem = str(Path(self.dem).expanduser().resolve())
        self.window_screen()  # bad screen settings fail here, before any scene
        check_precision(self.precision)
        check_declared(self.rendering)

    def window_screen(self) -> Screen:
        """The :class:`~glofwatch.mapping.screen.Screen` of these options."""
        if not self.screen:
            return Screen.off()
        return Screen(ndwi_min=self.screen_ndwi, min_pixels=self.screen_min_pixels, min_patch=self.screen_min_patch,
                      context=self.trim_context if self.trim else None)


@dataclass
class SceneResult:
    """Outcome of one scene in a batch: ``status`` is done, skipped or failed.

    ``user_error`` marks a failure caused by the input (a one-line :class:`GlofwatchError`),
    not by the machine or a bug.
    """

    scene: str
    name: str
    status: str
    message: str = ""
    summary: dict[str, Any] | None = None
    user_error: bool = False


def one_line(exc: BaseException) -> str:
    """A one-line reason for a failed scene."""
    if isinstance(exc, GlofwatchError):
        return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


_PREDICTORS: dict[tuple[str, str, str, int, int, float | None, bool, str, bool], Any] = {}
_PREDICTORS_LOCK = threading.Lock()


def cached_predictor(model: str | Path, device: str = "auto", backend: str = "auto", tile: int = 512,
                     overlap: int = 32, threshold: float | None = None, tta: bool = False,
                     precision: str = "fp32", threads: int | None = None, refine: bool = True):  # noqa: ANN201
    """One predictor per model file, device, backend, precision, tiling, threshold, TTA and refinement in this process.

    Workers reuse it. ``precision`` follows :func:`glofwatch.infer.precision.mapping_backend`;
    its note, if any, is the predictor's ``precision_note``. With ``refine``, a bf16 or INT8
    graph's network inputs that hold a patch within its error of the threshold run again in
    fp32 (:class:`~glofwatch.infer.refine.RefinedPredictor`).
    """
    from glofwatch.infer.precision import build_candidate, mapping_backend
    from glofwatch.infer.refine import RefinedPredictor

    key = (str(Path(model).resolve()), device, backend, tile, overlap, threshold, tta, precision, refine)
    with _PREDICTORS_LOCK:
        if key not in _PREDICTORS:
            built, note = mapping_backend(model, precision, backend, device, threads)
            predictor: Any = built.predictor(max_tile=tile, overlap=overlap, threshold=threshold, tta=tta)
            if refine and built.name.startswith("openvino-") and (Path(model) / "model.pt").is_file():
                exact = build_candidate("fp32", Path(model), threads)
                predictor = RefinedPredictor(predictor, exact.predictor(max_tile=tile, overlap=overlap,
                                                                        threshold=threshold, tta=tta))
            predictor.precision_note = note  # type: ignore[attr-defined]
            _PREDICTORS[key] = predictor
        return _PREDICTORS[key]


def run_scene(
    scene_path: str | Path,
    model: str | Path | None,
    out_root: str | Path,
    options: MapOptions,
    progress: Callable[[int, int], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> SceneResult:
    """Map one scene into ``out_root/<name>``; never raises for a bad scene (the result says why).

    ``resume`` is the run's resume record (computed here when None). With ``options.ndwi`` the
    scene is mapped by NDWI (:func:`~glofwatch.mapping.ndwi_map.ndwi_predictor`, built here for this
    scene) and ``model`` is not used.
    """
    from glofwatch.mapping.resume import resume_key, resume_state

    name = scene_name(scene_path)
    out_dir = Path(out_root) / name
    note = ""
    try:
        resume = resume or resume_key(model, options)
        state = resume_state(out_dir, resume["hash"], OUTPUT_FILES, SUMMARY_FILE)
        if not options.overwrite and state == "complete":
            return SceneResult(str(scene_path), name, "skipped", "outputs complete")
        note = CHANGED_NOTE if state == "changed" and not options.overwrite else ""
        if options.threads:
            import torch

            torch.set_num_threads(options.threads)
        ndwi: dict[str, Any] | None = None
        if options.ndwi is not None:
            from glofwatch.mapping.ndwi_map import ndwi_predictor

            predictor, ndwi = ndwi_predictor(scene_path, options)
        elif model is None:
            raise ConfigError("no model to map with; pass --model RUN (a run folder or model file), "
                              "or map without a model: --method ndwi")
        else:
            predictor = cached_predictor(model, options.device, options.backend, options.tile, options.overlap,
                                         options.threshold, options.tta, options.precision, options.threads,
                                         options.refine)
        screen = options.window_screen()
        if options.ndwi is not None:  # the index is the map: no tile may be skipped for it (and no network to spare)
            screen = dataclasses.replace(screen, ndwi_min=None)
        summary = map_scene(
            scene_path, predictor, out_dir, tile=options.tile, overlap=options.overlap,
            batch_size=options.batch_size, progress=progress, min_area_m2=options.min_area_m2,
            gain=options.gain, dn_offset=options.dn_offset, bands=options.bands, scl=options.scl,
            use_scl=options.use_scl, resume=resume, dem=options.dem, max_slope=options.max_slope,
            shadow=options.shadow, screen=screen,
            rendering=options.rendering,
        )
        record = summary.to_dict()
        if ndwi is not None:
            from glofwatch.mapping.ndwi_map import record_ndwi

            record = record_ndwi(out_dir, record, predictor.model_name, ndwi)
    except Exception as exc:  # noqa: BLE001 - a failed scene is reported, the batch goes on
        return SceneResult(str(scene_path), name, "failed", one_line(exc), user_error=isinstance(exc, GlofwatchError))
    return SceneResult(str(scene_path), name, "done", "; ".join(filter(None, [note, *summary.notes])), record)


def check_scene_names(scenes: Sequence[str | Path]) -> None:
    """Raise :class:`InputError` when two scenes would write to the same output folder."""
    seen: dict[str, str] = {}
    for s in scenes:
        name = scene_name(s)
        if name in seen:
            raise InputError(f"{s}: same output name '{name}' as {seen[name]}; rename one of the scenes")
        seen[name] = str(s)


def map_scenes(
    scenes: Sequence[str | Path],
    model: str | Path | None,
    out_root: str | Path,
    options: MapOptions | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    processes: bool = True,
    on_result: Callable[[SceneResult], None] | None = None,
    tile_progress: Callable[[int, int], None] | None = None,
    worker_memory: str | int | None = None,
) -> list[SceneResult]:
    """Map many scenes; in this process when ``workers == 1``, no scheduler and no ``worker_memory``, else on Dask.

    Args:
        scenes: scene files or folders (output names must differ).
        model: run folder or model file (not used, and may be None, with ``options.ndwi``).
        out_root: outputs go to ``out_root/<scene name>/``.
        options: mapping settings (``ndwi``: map by NDWI, without a model).
        workers: Dask workers of a new LocalCluster (1 and no scheduler: no Dask).
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``).
        processes: LocalCluster workers are processes (True) or threads of this process.
        on_result: called with each :class:`SceneResult` as it arrives (for progress bars).
        tile_progress: per-tile progress for in-process runs.
        worker_memory: memory limit of each LocalCluster worker (``3GB``, bytes, ``auto``: the machine's
            memory / ``workers``, ``none``: no limit; see :func:`glofwatch.mapping.region.parse_worker_memory`).
            A worker over 95 % of it is restarted by its nanny and its scene fails (retried once). Given,
            even one worker runs on a LocalCluster, so the bound holds; None: ``auto`` when on Dask.
            Not with ``scheduler`` (the cluster's workers have their own limit).

    Returns:
        One :class:`SceneResult` per scene, in the order given.
    """
    options = options or MapOptions()
    if workers < 1:
        raise ConfigError(f"--workers {workers} must be at least 1")
    if worker_memory is not None and scheduler is not None:
        raise ConfigError(f"--worker-memory {worker_memory} sets the memory of the workers this run starts, but "
                          f"--scheduler {scheduler} has its own; set it where those workers start (`dask worker "
                          "--memory-limit 3GB`, SLURMCluster(memory=...)) and leave --worker-memory out")
    if options.scl is not None and len(scenes) > 1:
        raise ConfigError(f"--scl {options.scl} is one scene's classification layer but {len(scenes)} scenes are "
                          "given; map that scene alone, or leave --scl out (each scene's own SCL is used)")
    check_scene_names(scenes)
    from glofwatch.infer.backends import resolve_model
    from glofwatch.infer.ndwi import parse_threshold
    from glofwatch.mapping.resume import resume_key

    if options.ndwi is not None:
        options = MapOptions(**{**asdict(options), "ndwi": parse_threshold(options.ndwi)})
        if options.threshold is not None:
            raise ConfigError(f"--threshold {options.threshold:g} is a model's probability cut; with --method ndwi "
                              "set the index threshold with --ndwi-threshold (otsu or a value such as 0.1)")
        model = None
    elif model is None:
        raise ConfigError("no model to map with; pass --model RUN (a run folder or model file), "
                          "or map without a model: --method ndwi")
    else:
        resolve_model(model)  # a bad model is one error up front, not one per scene; .onnx/.xml files map too
    resume = resume_key(model, options)
    results: dict[int, SceneResult] = {}
    todo: list[int] = []
    for i, s in enumerate(scenes):
        out_dir = Path(out_root) / scene_name(s)
        if not options.overwrite and is_complete(out_dir, resume["hash"]):
            results[i] = SceneResult(str(s), scene_name(s), "skipped", "outputs complete")
            if on_result:
                on_result(results[i])
        else:
            todo.append(i)
    if todo and workers == 1 and scheduler is None and worker_memory is None:
        for i in todo:
            results[i] = run_scene(scenes[i], model, out_root, options, tile_progress, resume)
            if on_result:
                on_result(results[i])
    elif todo:
        _run_dask([(i, scenes[i]) for i in todo], model, out_root, options, workers, scheduler, processes,
                  results, on_result, resume, worker_memory)
    return [results[i] for i in range(len(scenes))]


FAST_MALLOC_MIN_BYTES = 3 * 10**9
"""Worker memory limit from which LocalCluster workers start without Dask's fixed malloc threshold (3 GB)."""


def worker_environ(memory_limit: int | None = None) -> dict[str, Any]:
    """Dask's ``distributed.nanny.pre-spawn-environ`` for a LocalCluster's workers of ``memory_limit`` bytes each.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's mmap
    threshold (:func:`glofwatch.runtime.fixed_malloc_threshold_note`). A whole tile through a one-worker
    LocalCluster mapped in 34.9 s with it and 29.9 s without (3 interleaved runs each, 2-core Xeon; 27.1 s
    in one process without Dask); over 3 tiles a worker took 35.1 s a tile with it and 23.6 s without, and
    its peak was 1802 MiB with it and 2142 MiB without. So the variable is left out when each worker may use
    at least :data:`FAST_MALLOC_MIN_BYTES` (or has no limit): 95 % of 3 GB, where a worker is restarted, is
    2718 MiB. Below that Dask's list is kept as it is, for the lower peak. A value set in the shell that
    starts ``glofwatch map`` still reaches the workers; the rest of Dask's list (one OpenMP/BLAS thread per
    worker) stays.
    """
    import dask
    import distributed  # noqa: F401 - registers Dask's distributed defaults

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    if memory_limit is None or memory_limit >= FAST_MALLOC_MIN_BYTES:
        for name in FIXED_THRESHOLD_VARS:
            environ.pop(name, None)
    return environ


def _run_dask(
    items: list[tuple[int, str | Path]],
    model: str | Path | None,
    out_root: str | Path,
    options: MapOptions,
    workers: int,
    scheduler: str | None,
    processes: bool,
    results: dict[int, SceneResult],
    on_result: Callable[[SceneResult], None] | None,
    resume: dict[str, Any] | None = None,
    worker_memory: str | int | None = None,
) -> None:
    import logging
    import os

    import dask
    from distributed import Client, KilledWorker, LocalCluster, as_completed

    from glofwatch.mapping.region import parse_worker_memory

    cluster = None
    memory_limit: int | None = None
    if scheduler is None:
        threads = options.threads or max(1, (os.cpu_count() or 1) // workers)
        options = MapOptions(**{**asdict(options), "threads": threads})
        memory_limit, _ = parse_worker_memory(worker_memory, workers)
        # A scene's memory is the worker's own (no Dask-managed data to spill): no spilling, no pausing (a worker
        # whose freed memory the allocator keeps would stay paused), a restart over 95 % of the limit, one retry.
        with dask.config.set({"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                              "distributed.worker.memory.pause": False,
                              "distributed.worker.memory.terminate": 0.95,
                              "distributed.scheduler.allowed-failures": 1,
                              "distributed.nanny.pre-spawn-environ": worker_environ(memory_limit)}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                   dashboard_address=None, silence_logs=logging.ERROR, memory_limit=memory_limit)
    try:
        client = Client(cluster if cluster is not None else scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"cannot reach the Dask scheduler {scheduler} ({one_line(exc)}); check --scheduler") from None
    try:
        model_abs = str(Path(model).resolve()) if model is not None else None  # None: NDWI, no model
        out_abs = str(Path(out_root).resolve())
        futures = {}
        for i, s in items:
            fut = client.submit(run_scene, str(Path(s).resolve()), model_abs, out_abs, options, None, resume,
                                key=f"map-{i}-{scene_name(s)}", pure=False)
            futures[fut] = (i, s)
        for fut in as_completed(list(futures)):
            i, s = futures[fut]
            try:
                res = fut.result()
                res.scene = str(s)
            except KilledWorker:
                limit = f"its {memory_limit / 2**30:.1f} GiB --worker-memory" if memory_limit else "its memory"
                res = SceneResult(str(s), scene_name(s), "failed",
                                  f"the worker mapping it died twice (over {limit}, or killed); give each worker more "
                                  "memory (--worker-memory) or run fewer workers (--workers), then run again")
            except Exception as exc:  # noqa: BLE001 - e.g. a worker died; the scene failed, the batch goes on
                res = SceneResult(str(s), scene_name(s), "failed", one_line(exc))
            results[i] = res
            if on_result:
                on_result(res)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

"""One scene -> its output folder: probability, mask, lake polygons and ``summary.json`` (written last).

The folder layout and the resume rules are described in :mod:`glofwatch.mapping.batch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.lakes.vectorize import DEFAULT_MIN_AREA_M2
from glofwatch.mapping.screen import Screen
from glofwatch.mapping.terrain import DEFAULT_MAX_SLOPE_DEG
from glofwatch.runtime import fixed_malloc_threshold_note, peak_rss_mb, release_memory

OUTPUT_FILES = ("probability.tif", "mask.tif", "lakes.gpkg", "lakes.geojson")
SUMMARY_FILE = "summary.json"


@dataclass
class SceneSummary:
    """What mapping one scene produced (the content of ``summary.json``).

    ``stage_seconds``: wall time of ``read_scene``, ``predict`` (with ``predict_network``, the main
    thread's wait on the network, and its waits on the reader and writer threads), ``polygons``,
    ``terrain_counts`` (with a DEM; counted in a thread beside the polygons, so only the wait after
    them) and ``write_lakes``. ``cpu_seconds``: the CPU time of the whole process over the same span
    (all its threads; :func:`time.process_time`), so ``cpu_seconds / seconds`` is how many cores the
    scene kept busy on average.
    """

    scene: str
    name: str
    out_dir: str
    status: str
    height: int
    width: int
    crs: str | None
    pixel_size_m: float
    date: str | None
    model: str
    backend: str
    input: str
    threshold: float
    tile: int
    overlap: int
    batch_size: int
    n_tiles: int
    n_tiles_run: int
    valid_fraction: float
    lake_pixels: int
    n_lakes: int
    lake_area_km2: float
    min_area_m2: float
    seconds: float
    megapixels_per_s: float
    peak_rss_mb: float
    cpu_seconds: float | None = None
    files: list[str] = field(default_factory=lambda: list(OUTPUT_FILES))
    dn_offset: float | None = None
    dn_offset_from: str | None = None
    processing_baseline: str | None = None
    nodata_from: str = "file"
    not_observed_fraction: float | None = None
    scl: dict[str, Any] | None = None
    terrain: dict[str, Any] | None = None
    screen: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    resume: dict[str, Any] | None = None
    stage_seconds: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)


def is_complete(out_dir: str | Path, key: str | None = None) -> bool:
    """True when ``out_dir`` holds a ``summary.json`` with status done and all its files
    (and, when ``key`` is given, that resume hash: see :mod:`glofwatch.mapping.resume`)."""
    from glofwatch.mapping.resume import resume_state

    return resume_state(out_dir, key, OUTPUT_FILES, SUMMARY_FILE) == "complete"


def map_scene(
    scene_path: str | Path,
    predictor,  # noqa: ANN001 - glofwatch.infer.predict.Predictor
    out_dir: str | Path,
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 0,
    progress: Callable[[int, int], None] | None = None,
    min_area_m2: float = DEFAULT_MIN_AREA_M2,
    gain: float | None = None,
    dn_offset: float | None = None,
    bands: Sequence[str] | None = None,
    scl: str | Path | None = None,
    use_scl: bool = True,
    resume: dict[str, Any] | None = None,
    dem: str | Path | None = None,
    max_slope: float = DEFAULT_MAX_SLOPE_DEG,
    shadow: bool = True,
    screen: Screen | None = None,
    rendering: str = "auto",
) -> SceneSummary:
    """Map one scene into ``out_dir``: probability, mask, lake polygons, summary (written last).

    Args:
        scene_path: multi-band GeoTIFF or folder of band files (see :func:`glofwatch.scene.read.read_scene`).
        predictor: a :class:`~glofwatch.infer.predict.Predictor`.
        out_dir: folder for this scene's outputs (created).
        tile: tile side in pixels.
        overlap: tile overlap in pixels.
        batch_size: tiles per forward pass (0: automatic, see :func:`~glofwatch.mapping.scene.predict_scene`).
        progress: called as ``progress(done_tiles, total_tiles)``.
        min_area_m2: smallest lake kept in the polygons.
        gain: 8-bit rendering gain (None: the training crops' default).
        dn_offset: added to DN (-1000 for L2A baseline >= 04.00); None: the product's.
        bands: band names of a multi-band file in file order.
        scl: Scene Classification Layer file (None: the scene's own, if any).
        use_scl: mark SCL cloud, shadow and cirrus "not observed" (mask value 2).
        resume: the run's resume record to store (see :func:`glofwatch.mapping.resume.resume_key`).
        dem: DEM GeoTIFF for the slope and cast-shadow rules (:mod:`glofwatch.mapping.terrain`).
        max_slope: steepest slope of a lake pixel, degrees.
        shadow: apply the cast-shadow rule when the product records its sun angles.
        screen: window screening (:mod:`glofwatch.mapping.screen`; None: its defaults).
        rendering: what an 8-bit scene shows (auto: detected and checked; see ``predict_scene``).

    Returns:
        The :class:`SceneSummary` (also written to ``out_dir/summary.json``).
    """
    import rasterio

    from glofwatch.io.atomic import write_json_atomic
    from glofwatch.io.raster import read_raster
    from glofwatch.lakes.vectorize import vectorize_mask, write_lakes
    from glofwatch.mapping.scene import GDAL_CACHE_MB, predict_scene
    from glofwatch.scene.read import read_scene

    start, cpu_start = time.perf_counter(), time.process_time()
    scene = read_scene(scene_path, tuple(bands) if bands else None)
    if scl is not None:
        scene.with_scl(scl)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).unlink(missing_ok=True)  # outputs are about to change: not complete any more
    stages: dict[str, float] = {"read_scene": time.perf_counter() - start}
    t = time.perf_counter()
    pred = predict_scene(
        scene, predictor, out / "probability.tif", out / "mask.tif", tile=tile, overlap=overlap,
        batch_size=batch_size, gain=gain, dn_offset=dn_offset, progress=progress, use_scl=use_scl,
        dem=dem, max_slope=max_slope, shadow=shadow, screen=screen, rendering=rendering,
    )
    release_memory()  # the strips' freed buffers, before the polygons need the whole mask
    stages["predict"], t = time.perf_counter() - t, time.perf_counter()
    stages.update({f"predict_{k}": v for k, v in pred.waits.items()})
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20):
        mask, grid = read_raster(out / "mask.tif")  # once, for the polygons and the terrain counts
    # the terrain counts label the lakes as they were before the rules in a second thread while the
    # polygons are traced (scipy's labelling releases the GIL): the second core is idle otherwise
    with ThreadPoolExecutor(1, thread_name_prefix="glofwatch-lakes") as pool:
        counting = pool.submit(pred.terrain.finish, mask, grid, min_area_m2) if pred.terrain is not None else None
        lakes = vectorize_mask(mask, grid, pred.lake_probability, min_area_m2=min_area_m2, date=scene.date)
        stages["polygons"], t = time.perf_counter() - t, time.perf_counter()
        terrain = counting.result() if counting is not None else None
    del mask
    release_memory()
    if terrain is not None:
        stages["terrain_counts"], t = time.perf_counter() - t, time.perf_counter()  # beyond the polygons' time
    notes = [pred.offset.note] if pred.offset and pred.offset.note else []
    if getattr(predictor, "precision_note", None):
        notes.append(str(predictor.precision_note))
    if terrain is not None and terrain.get("note"):
        notes.append(f"{scene.path}: {terrain['note']}")
    malloc_note = fixed_malloc_threshold_note()
    if malloc_note is not None:
        notes.append(malloc_note)
    # one after the other: writing them from two threads was no faster (0.6 s for both) and shared the geometries
    write_lakes(lakes, out / "lakes.gpkg")
    write_lakes(lakes, out / "lakes.geojson")
    stages["write_lakes"] = time.perf_counter() - t
    seconds = time.perf_counter() - start
    h, w = scene.shape
    bundle = getattr(predictor, "bundle", None)
    summary = SceneSummary(
        scene=str(scene.path), name=scene.name, out_dir=str(out), status="done", height=h, width=w,
        crs=scene.grid.crs, pixel_size_m=float(scene.grid.pixel_size[0]), date=scene.date,
        model=str(bundle.config.model) if bundle is not None else "",
        backend=str(getattr(predictor, "backend", "custom")), input=pred.input,
        threshold=float(predictor.threshold), tile=tile, overlap=overlap, batch_size=pred.batch_size,
        n_tiles=pred.n_tiles, n_tiles_run=pred.n_tiles_run, valid_fraction=pred.valid_pixels / (h * w),
        lake_pixels=pred.lake_pixels, n_lakes=len(lakes), lake_area_km2=float(lakes["area_km2"].sum()),
        min_area_m2=min_area_m2, seconds=round(seconds, 3), megapixels_per_s=round(h * w / 1e6 / seconds, 4),
        peak_rss_mb=round(peak_rss_mb(), 1), cpu_seconds=round(time.process_time() - cpu_start, 3),
        dn_offset=pred.offset.offset if pred.offset else None,
        dn_offset_from=pred.offset.source if pred.offset else None,
        processing_baseline=scene.product.baseline, nodata_from=scene.nodata_from,
        not_observed_fraction=pred.not_observed_pixels / pred.valid_pixels if pred.scl and pred.valid_pixels else None,
        scl=pred.scl, terrain=terrain, screen=pred.screen.to_dict() if pred.screen else None,
        notes=notes, resume=resume, stage_seconds={k: round(v, 3) for k, v in stages.items()},
    )
    write_json_atomic(out / SUMMARY_FILE, {**summary.to_dict(), "stats": pred.stats})
    return summary

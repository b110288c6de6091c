"""Whole-scene probability and mask maps, read and written window by window.

:func:`predict_scene` slides ``tile`` x ``tile`` windows with ``overlap`` over
a :class:`~glofwatch.scene.read.Scene`, one row of tiles (a strip) at a time:
the strip is read with one rasterio window, converted to the model's input,
cut into tiles that go through :meth:`Predictor.predict_batch` in batches,
blended with the cosine-squared weights of :func:`glofwatch.infer.tiles.blend_weights`,
and the rows no later strip can touch are written to the outputs. Memory is
about two strips of the scene plus one batch of tiles, whatever the scene size.

Input conversion is a property of the model (its :class:`InputSpec`):

* ``source == "reflectance"``: the L2A digital numbers (reflectance x 10000,
  plus ``dn_offset``) of ``spec.bands`` go in unchanged.
* ``source == "rgb8"``: the scene is rendered to 8-bit exactly as the training
  crops were (:func:`glofwatch.scene.render.to_rgb`):
  ``uint8(clip(reflectance * gain * 255 + 0.5, 0, 255))`` with
  ``reflectance = (DN + dn_offset) / 10000``, for the rendering whose bands are
  ``spec.bands`` (true colour B04 B03 B02, false colour B08 B04 B03). The
  default gain is the middle of the training crops' gain range. A uint8 scene is
  taken as already rendered.

Percentile-scaled models get scene-wide percentiles, computed once from a
decimated read of the valid pixels and passed as ``stats`` to every tile, so
all tiles are scaled alike and there are no seams.

Nodata and NaN pixels are never lake: probability is NaN and mask 255 there.
A tile with no valid pixel is not run through the model.

The DN offset is the product's own (:meth:`Scene.dn_offset`: ``MTD_MSIL2A.xml``,
STAC ``raster:bands``, tags, the processing baseline, else the acquisition
date) unless ``dn_offset`` is given. With a Scene Classification Layer, pixels
it calls cloud shadow, cloud or thin cirrus get mask value
:data:`~glofwatch.scene.scl.MASK_NOT_OBSERVED` (2, "not observed"); their
probability is kept. With a DEM, lake pixels on slopes steeper than ``max_slope``
or in cast shadow (:mod:`glofwatch.mapping.terrain`) become 0 in the mask, strip
by strip; the probability is kept.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glofwatch.errors import ConfigError, InputError
from glofwatch.infer.tiles import StripTiler
from glofwatch.io.raster import MASK_NODATA, PROB_NODATA
from glofwatch.lakes.vectorize import LakeProbability
from glofwatch.mapping.scene_input import SceneInput, default_gain, rendering_for
from glofwatch.mapping.screen import (
    Box,
    Screen,
    ScreenTally,
    grow_box,
    ndwi_above,
    plan_strip,
)
from glofwatch.mapping.terrain import DEFAULT_MAX_SLOPE_DEG, Sun, TerrainRules, TerrainTally
from glofwatch.scene.products import OffsetChoice
from glofwatch.scene.read import Scene
from glofwatch.scene.scl import MASK_NOT_OBSERVED, SclTally, not_observed

GDAL_CACHE_MB = 64
"""GDAL block cache while reading and writing (keeps memory bounded; 64 MB holds the block rows of both
outputs, and a whole-tile mapping peaked 150 MB lower than with 256 MB at the same speed)."""

Progress = Callable[[int, int], None]
"""``progress(done_tiles, total_tiles)``."""


@dataclass
class ScenePrediction:
    """What :func:`predict_scene` did.

    Attributes:
        n_tiles: tiles in the plan.
        n_tiles_run: tiles run through the model (the others had no valid pixel).
        valid_pixels: pixels with data.
        lake_pixels: pixels mapped as lake.
        input: description of the input conversion.
        stats: scene-wide percentile stats (C, 2) or None.
        offset: the DN offset used and where it came from (None for 8-bit scenes).
        not_observed_pixels: valid pixels the SCL calls cloud, cloud shadow or cirrus (mask value 2).
        scl: the SCL shares and the water cross-check (:meth:`SclTally.summary`), None without an SCL.
        terrain: what the DEM rules removed (:class:`~glofwatch.mapping.terrain.TerrainTally`), None without a DEM.
        screen: what the window screen skipped (:class:`~glofwatch.mapping.screen.ScreenTally`).
        batch_size: tiles per forward pass used.
        waits: seconds the main thread spent in the network (``network``), waiting for the
            reader's next strip (``wait_read``) and for the writer's last one (``wait_write``).
        lake_probability: the probability of each lake pixel of the mask written (for the lake
            polygons' ``mean_prob`` and ``max_prob`` without reading the probability GeoTIFF back).
    """

    n_tiles: int
    n_tiles_run: int
    valid_pixels: int
    lake_pixels: int
    input: str
    stats: list[list[float]] | None
    offset: OffsetChoice | None = None
    not_observed_pixels: int = 0
    scl: dict | None = None
    terrain: TerrainTally | None = None
    screen: ScreenTally | None = None
    batch_size: int = 0
    waits: dict[str, float] = field(default_factory=dict)
    lake_probability: LakeProbability | None = None


GPU_BATCH = 8
"""Tiles per forward pass on a GPU when ``batch_size`` is 0 (automatic); 1 on CPU."""

READ_AHEAD = 2
"""Strips the reader prepares ahead of the network: with one, a strip of few lakes left the network
waiting on the next strip's reading (3.7 s over a Sentinel-2 tile) while a core idled."""

PAD_MIN_TILES = 8
"""Scenes with at least this many tiles per batch pad short batches (see :func:`predict_scene`)."""

SAMPLE_MIN_PX = 2048 * 2048
"""Scenes of more pixels take their statistics from a block sample (:meth:`Scene.sample`), smaller ones from a
decimated read of the whole scene."""


def scene_stats(scene: Scene, conv: SceneInput, spec, max_side: int = 1024):  # noqa: ANN001, ANN201
    """Scene-wide percentile stats (1, C, 2), or None for fixed scaling.

    Small scenes are read decimated to ``max_side``; large ones (over :data:`SAMPLE_MIN_PX`)
    through one 256 px window in 16 (:meth:`Scene.sample`), so a Sentinel-2 tile is not
    decompressed twice (the decimated read touches every block of the file).

    Raises:
        InputError: when the sample has no valid pixel (all nodata).
    """
    import torch

    from glofwatch.data.normalize import percentile_stats

    h, w = scene.shape
    if h * w > SAMPLE_MIN_PX:
        windows = scene.sample(conv.read_bands)
        data = windows.transpose(1, 0, 2, 3).reshape(windows.shape[1], -1, windows.shape[3])
    else:
        data = scene.overview(max_side, conv.read_bands)
    valid = scene.valid_mask(data)
    if not valid.any():
        raise InputError(
            f"{scene.path}: every pixel is nodata (nodata={scene.nodata}); check the file or its nodata value "
            "(e.g. `gdal_edit.py -unsetnodata`)"
        )
    if spec.scaling != "percentile":
        return None
    x = torch.from_numpy(conv.convert(data, valid))[None]
    return percentile_stats(x, spec, torch.from_numpy(valid)[None])


@dataclass
class _Prepared:
    """One strip read and converted, with the columns the screen lets through."""

    row: int
    x: np.ndarray
    valid: np.ndarray
    scl: np.ndarray | None
    todo: list[int]
    skipped: list[str]
    observed: np.ndarray | None = None
    boxes: dict[int, list[Box]] = field(default_factory=dict)


def column_spans(starts: list[int], width: int) -> list[tuple[int, int]]:
    """The columns ``[c, c + width)`` of sorted tile ``starts``, overlapping ones merged.

    Example:
        >>> column_spans([0, 480, 1440, 1920], 512)
        [(0, 992), (1440, 2432)]
    """
    spans: list[tuple[int, int]] = []
    for c in starts:
        if spans and c <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], c + width))
        else:
            spans.append((c, c + width))
    return spans


def _water_bands(scene: Scene, conv: SceneInput) -> tuple[int, int] | None:
    """Indices of (green B03, NIR B08) in the bands read, or None when the scene read lacks one of them."""
    bands = list(conv.read_bands)
    if "B03" in bands and "B08" in bands:
        return bands.index("B03"), bands.index("B08")
    return None


def predict_scene(
    scene: Scene,
    predictor,  # noqa: ANN001 - glofwatch.infer.predict.Predictor
    probability_path: str | Path,
    mask_path: str | Path,
    tile: int = 512,
    overlap: int = 32,
    batch_size: int = 0,
    gain: float | None = None,
    dn_offset: float | None = None,
    progress: Progress | None = None,
    use_scl: bool = True,
    dem: str | Path | None = None,
    max_slope: float = DEFAULT_MAX_SLOPE_DEG,
    shadow: bool = True,
    screen: Screen | None = None,
    rendering: str = "auto",
) -> ScenePrediction:
    """Map a scene to a probability GeoTIFF and a mask GeoTIFF, strip by strip.

    Reading and converting the next strip and writing the last one run in background
    threads while the network works on the current one (GDAL and NumPy release the GIL),
    so the cores do not wait on I/O.

    Args:
        scene: the opened scene.
        predictor: a :class:`~glofwatch.infer.predict.Predictor`.
        probability_path: output float32 GeoTIFF, lake probability 0..1, NaN on nodata.
        mask_path: output uint8 GeoTIFF, 1 lake, 0 not lake, 2 not observed (SCL cloud, shadow, cirrus), 255 nodata.
        tile: tile side in pixels (rounded down to the network stride; a scene smaller
            than a tile is mapped as one tile of its own size).
        overlap: overlap between neighbouring tiles in pixels (blended).
        batch_size: tiles per forward pass (0: 1 on CPU, :data:`GPU_BATCH` on a GPU).
        gain: 8-bit rendering gain (default :func:`default_gain`).
        dn_offset: added to DN before use (-1000 for L2A processing baseline >= 04.00); None: the
            product's (see :meth:`Scene.dn_offset`).
        progress: called as ``progress(done_tiles, total_tiles)``.
        use_scl: mark the SCL's cloud, shadow and cirrus pixels "not observed" when the scene has an SCL.
        dem: DEM GeoTIFF (metres, any CRS): lake pixels steeper than ``max_slope`` become not lake.
        max_slope: steepest slope of a lake pixel in degrees (with ``dem``).
        shadow: also drop lake pixels in cast shadow steeper than 5 degrees when the product has sun angles.
        screen: window screening (:mod:`glofwatch.mapping.screen`); None: :class:`Screen` defaults,
            ``Screen.off()``: every tile with a valid pixel runs.
        rendering: for 8-bit scenes, what they show: ``auto`` (detected on a sample of windows and
            checked against the model's expected rendering, :mod:`glofwatch.infer.rendering`),
            ``true-colour`` / ``false-colour`` (declared), ``any`` (no check).

    Returns:
        A :class:`ScenePrediction`. Both files are written atomically, tiled and
        ZSTD-compressed (GDAL 2.3 or later reads them), on the scene's grid (CRS and transform).
    """
    import rasterio
    import torch
    from rasterio.windows import Window

    from glofwatch.infer.refine import RefinedPredictor
    from glofwatch.io.atomic import atomic_path
    from glofwatch.runtime import limit_malloc_arenas, single_threaded_glue

    limit_malloc_arenas()  # before the reader and writer threads start
    screen = screen if screen is not None else Screen()
    stride = int(getattr(predictor, "stride", 1) or 1)
    tile = max(stride, tile // stride * stride)
    if overlap < 0 or overlap >= tile:
        raise ConfigError(f"--overlap {overlap} must be at least 0 and smaller than --tile {tile}")
    if batch_size < 0:
        raise ConfigError(f"--batch-size {batch_size} must be at least 1 (or 0: automatic)")
    if batch_size == 0:  # one 512 px tile at a time is fastest on CPU (OpenVINO bf16: 180 vs 242 ns/px at 4)
        batch_size = GPU_BATCH if str(getattr(predictor, "device", "cpu")).startswith("cuda") else 1
    spec = predictor.spec
    offset = scene.dn_offset(spec.bands, dn_offset) if scene.kind == "dn" else None
    conv = SceneInput.plan(scene, spec, gain, offset.offset if offset is not None else 0.0)
    _check_scene_rendering(scene, conv, getattr(predictor, "bundle", None), rendering)
    with_scl = use_scl and scene.scl is not None
    tally = SclTally(str(scene.scl.path)) if with_scl and scene.scl is not None else None
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20):
        stats = scene_stats(scene, conv, spec)
    threshold = float(predictor.threshold)
    ndwi_min = screen.ndwi_min if screen.enabled else None
    water_idx = _water_bands(scene, conv) if ndwi_min is not None else None
    # trimmed tiles: networks (not the NDWI baseline, which is cheap and may threshold below 0), one tile a batch
    fit_shape = getattr(predictor, "fit_shape", None)
    trim = screen.enabled and screen.context is not None and fit_shape is not None and batch_size == 1
    plan = screen if trim else dataclasses.replace(screen, context=None)

    height, width = scene.shape
    tiler = StripTiler(height, width, tile, overlap)
    th, tw, cols, total = tiler.tile_h, tiler.tile_w, tiler.cols, tiler.n_tiles
    # On a large scene every batch gets the same shape (the last of a strip padded with empty tiles):
    # runtimes that compile per shape (OpenVINO) keep one graph and its memory instead of batch_size.
    pad_batches = batch_size > 1 and total >= PAD_MIN_TILES * batch_size
    screened = ScreenTally(screen.describe(), tiles=total, spectral=water_idx is not None, scene_px=height * width)
    grid = scene.grid
    # lossless ZSTD level 1: a 480-row strip of probabilities writes in a tenth of the time of
    # deflate level 1 (71 against 737 ms, one thread) and reads in half, for 13 % more bytes;
    # as many compression threads as the network has: Dask workers sharing a machine do not oversubscribe it
    gdal_threads = str(max(1, torch.get_num_threads()))
    fast = {"compress": "zstd", "zstd_level": 1, "num_threads": gdal_threads, "BIGTIFF": "IF_SAFER"}
    # no floating-point predictor: it doubled the compression time (0.47 against 0.22 s per 2000 rows of a
    # mapped tile) for files 7 % smaller
    prob_profile = grid.profile(dtype="float32", count=1, nodata=PROB_NODATA, **fast)
    mask_profile = grid.profile(dtype="uint8", count=1, nodata=MASK_NODATA, **fast)
    counts = {"done": 0, "run": 0, "padded": 0, "trimmed": 0, "boxes": 0, "px": 0, "valid": 0, "lake": 0, "hidden": 0}
    waits = {"network": 0.0, "wait_read": 0.0, "wait_write": 0.0}
    lake_parts: list[tuple[np.ndarray, np.ndarray]] = []  # (flat index, probability) of each strip's lake pixels
    refiner = predictor if isinstance(predictor, RefinedPredictor) else None
    net = refiner.fast if refiner is not None else predictor
    refined_before = refiner.counts() if refiner is not None else None

    def prepare(r: int) -> _Prepared:
        data, scl = scene.read_with_scl(r, 0, th, width, conv.read_bands) if with_scl else (
            scene.read_window(r, 0, th, width, conv.read_bands), None)
        valid = scene.valid_mask(data)
        observed = ~not_observed(scl) if scl is not None else None
        flat = terrain.flat(r, th) if terrain is not None and screen.enabled else None
        water = None
        if water_idx is not None and ndwi_min is not None:
            water = ndwi_above(data[water_idx[0]], data[water_idx[1]], ndwi_min)
        todo, skipped, boxes = plan_strip(plan, cols, tw, valid, observed, flat, water, stride)
        x: np.ndarray = np.zeros((len(spec.bands), data.shape[1], width), dtype=conv.dtype)
        for a, b in column_spans(todo, tw):  # only the tiles that run are converted (rendering is most of a read)
            x[:, :, a:b] = conv.convert(data[:, :, a:b], valid[:, a:b])
        return _Prepared(r, x, valid, scl, todo, skipped, observed, boxes)

    def write(r: int, final: int, prob: np.ndarray, covered: np.ndarray, valid: np.ndarray,
              scl: np.ndarray | None, observed: np.ndarray | None) -> None:
        ok = valid[:final]
        prob[ok & ~covered] = 0.0  # screened windows: not lake
        prob[~ok] = np.nan
        lake = prob > threshold  # NaN (nodata) compares False
        mask = lake.view(np.uint8)
        scl = scl[:final] if scl is not None else (scene.read_scl(r, 0, final, width) if tally is not None else None)
        if tally is not None and scl is not None:
            hidden = (~observed[:final] if observed is not None else not_observed(scl)) & ok
            mask[hidden] = MASK_NOT_OBSERVED
            counts["hidden"] += int(np.count_nonzero(hidden))
        if terrain is not None:
            terrain.apply(r, mask)
        if tally is not None and scl is not None:
            tally.add(scl, ok, mask == 1)
        np.putmask(mask, ~ok, np.uint8(MASK_NODATA))
        counts["valid"] += int(np.count_nonzero(ok))
        at = np.flatnonzero(mask == 1)
        counts["lake"] += at.size
        lake_parts.append((at + r * width, prob.reshape(-1)[at]))
        win = Window(0, r, width, final)
        prob_ds.write(prob, 1, window=win)
        mask_ds.write(mask, 1, window=win)

    with contextlib.ExitStack() as stack:
        stack.enter_context(single_threaded_glue(str(getattr(predictor, "backend", "torch")),
                                                 str(getattr(predictor, "device", "cpu"))))
        terrain = None
        if dem is not None:
            # the writer may ask for DEM rows up to READ_AHEAD + 1 strips behind the reader's
            terrain = stack.enter_context(TerrainRules(dem, grid, max_slope, Sun.of(scene.product), shadow,
                                                       str(scene.path), lag_rows=(READ_AHEAD + 1) * th + 2))
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20, GDAL_NUM_THREADS=gdal_threads))
        prob_tmp = stack.enter_context(atomic_path(probability_path))
        mask_tmp = stack.enter_context(atomic_path(mask_path))
        prob_ds = stack.enter_context(rasterio.open(prob_tmp, "w", **prob_profile))
        mask_ds = stack.enter_context(rasterio.open(mask_tmp, "w", **mask_profile))
        # one reader and one writer thread: the next READ_AHEAD strips are read while one is predicted,
        # and the one before is written (the terrain cache is used by both in order)
        reader = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="glofwatch-read"))
        writer = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="glofwatch-write"))
        pending: Future | None = None
        ahead = collections.deque(reader.submit(prepare, r) for r in tiler.rows[:READ_AHEAD])
        for i, strip in enumerate(tiler.strips()):
            t = time.perf_counter()
            prep = ahead.popleft().result()
            waits["wait_read"] += time.perf_counter() - t
            if i + READ_AHEAD < len(tiler.rows):
                ahead.append(reader.submit(prepare, tiler.rows[i + READ_AHEAD]))
            for reason in prep.skipped:
                screened.skipped[reason] += 1
            x, valid, todo = prep.x, prep.valid, prep.todo
            counts["done"] += len(cols) - len(todo)
            exact_tiles: dict[int, np.ndarray] = {}  # fp32 probabilities of this strip's whole tiles, once each
            for b in range(0, len(todo), batch_size):
                chunk = todo[b : b + batch_size]
                parts: list[Box | None] = [None]  # the whole tile
                if len(chunk) == 1 and chunk[0] in prep.boxes and fit_shape is not None:  # boxes: batches of 1
                    # each box in a shape the runtime has (or will now) compile; whole when that saves too little
                    fitted = []
                    for p in prep.boxes[chunk[0]]:
                        fh, fw = fit_shape(p[1] - p[0], p[3] - p[2], th, tw)
                        fitted.append(grow_box(p, fh, fw, th, tw))
                    if sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in fitted) <= (1.0 - screen.min_saving) * th * tw:
                        parts = list(fitted)
                for box in parts:
                    r0, r1, c0, c1 = box if box is not None else (0, th, 0, tw)
                    xs = [x[:, r0:r1, c + c0 : c + c1] for c in chunk]
                    vs = [valid[r0:r1, c + c0 : c + c1] for c in chunk]
                    if pad_batches and len(chunk) < batch_size:  # one input shape: one compiled graph, bounded memory
                        counts["padded"] += batch_size - len(chunk)
                        xs += [np.zeros_like(xs[0])] * (batch_size - len(chunk))
                        vs += [np.zeros_like(vs[0])] * (batch_size - len(chunk))
                    xb = torch.from_numpy(np.stack(xs).astype(np.float32, copy=False))
                    vb = torch.from_numpy(np.stack(vs))
                    t = time.perf_counter()
                    probs = net.predict_batch(xb, vb, stats).float().cpu().numpy()[: len(chunk)]
                    if refiner is not None:
                        refine_inputs(refiner, probs, chunk, x, valid, stats, (r0, r1, c0, c1), tw, exact_tiles)
                    waits["network"] += time.perf_counter() - t
                    for c, p in zip(chunk, probs, strict=True):
                        strip.add(c, p, r0, c0)
                    counts["px"] += xb.shape[0] * xb.shape[2] * xb.shape[3]
                if parts[0] is not None:
                    counts["trimmed"] += 1
                    counts["boxes"] += len(parts)
                counts["run"] += len(chunk)
                counts["done"] += len(chunk)
                if progress is not None:
                    progress(counts["done"], total)
            if progress is not None and not todo:
                progress(counts["done"], total)
            final = strip.final_rows
            prob, covered = strip.finish()
            if pending is not None:
                t = time.perf_counter()
                pending.result()  # writes stay in order, and an error surfaces here
                waits["wait_write"] += time.perf_counter() - t
            pending = writer.submit(write, prep.row, final, prob, covered, valid, prep.scl, prep.observed)
            del prep, x
        if pending is not None:
            t = time.perf_counter()
            pending.result()
            waits["wait_write"] += time.perf_counter() - t
        prob_ds.close()
        mask_ds.close()
    screened.run = counts["run"]
    screened.padded = counts["padded"]
    screened.trimmed = counts["trimmed"]
    screened.boxes = counts["boxes"]
    screened.processed_px = counts["px"]
    if refiner is not None and refined_before is not None:  # worker threads sharing it: theirs too
        refined_after = refiner.counts()
        screened.refined = refined_after["refined"] - refined_before["refined"]
        screened.refined_px = refined_after["refined_px"] - refined_before["refined_px"]
    stats_list = stats[0].tolist() if stats is not None else None
    return ScenePrediction(total, counts["run"], counts["valid"], counts["lake"], conv.describe(), stats_list, offset,
                           counts["hidden"], tally.summary() if tally is not None else None,
                           terrain.tally if terrain is not None else None, screened, batch_size,
                           {k: round(v, 3) for k, v in waits.items()},
                           LakeProbability.concat(lake_parts, height * width))


def refine_inputs(refiner, probs: np.ndarray, chunk: list[int], x: np.ndarray, valid: np.ndarray,  # noqa: ANN001
                  stats, box: tuple[int, int, int, int], tw: int, exact_tiles: dict[int, np.ndarray]) -> None:  # noqa: ANN001
    """Replace, in place, each of a batch's probabilities that the fast graph left uncertain by fp32's.

    fp32 runs the input's whole tile (all of its context, one compiled shape for every input: the
    boxes of trimmed tiles come in up to 9 shapes, and each fp32 graph holds 45-80 MB) and the box
    is cut from it. A tile is run once however many of its boxes need it. ``refiner`` is a
    :class:`~glofwatch.infer.refine.RefinedPredictor`.
    """
    import torch

    r0, r1, c0, c1 = box
    redo = 0
    for k, c in enumerate(chunk):
        if not refiner.uncertain(probs[k]):
            continue
        whole = exact_tiles.get(c)
        if whole is None:
            xt = torch.from_numpy(np.ascontiguousarray(x[None, :, :, c : c + tw]).astype(np.float32, copy=False))
            vt = torch.from_numpy(np.ascontiguousarray(valid[None, : x.shape[1], c : c + tw]))
            whole = exact_tiles[c] = refiner.exact.predict_batch(xt, vt, stats)[0].float().cpu().numpy()
            redo += 1
        probs[k] = whole[r0:r1, c0:c1]
    n_px = (r1 - r0) * (c1 - c0)
    refiner.record(len(chunk), len(chunk) * n_px, redo, redo * x.shape[1] * tw)


def _check_scene_rendering(scene: Scene, conv: SceneInput, bundle, rendering: str) -> None:  # noqa: ANN001
    """An 8-bit scene must show what the model expects (true colour is never read as false colour)."""
    from glofwatch.infer.rendering import check_rendering, checks_inputs, expected_rendering

    if scene.kind != "rgb8" or bundle is None or not checks_inputs(bundle):
        return
    windows = scene.sample(conv.read_bands)
    valid = [scene.valid_mask(w) for w in windows]
    check_rendering(windows.transpose(0, 2, 3, 1), expected_rendering(bundle), str(scene.path), declared=rendering,
                    valid=valid)


def whole_image_probability(scene: Scene, predictor, gain: float | None = None) -> np.ndarray:  # noqa: ANN001
    """Probabilities (H, W) float32 of a small scene in ONE forward pass (NaN on nodata).

    Uses the same input conversion and scene-wide stats as :func:`predict_scene`;
    meant for checks on small scenes (it holds the whole scene in memory).
    """
    import torch

    conv = SceneInput.plan(scene, predictor.spec, gain)
    stats = scene_stats(scene, conv, predictor.spec)
    h, w = scene.shape
    data = scene.read_window(0, 0, h, w, conv.read_bands)
    valid = scene.valid_mask(data)
    x = torch.from_numpy(conv.convert(data, valid))[None]
    prob = predictor.predict_batch(x, torch.from_numpy(valid)[None], stats)[0].float().cpu().numpy()
    return np.where(valid, prob, np.nan).astype(np.float32)


__all__ = [
    "MASK_NODATA", "MASK_NOT_OBSERVED", "PROB_NODATA", "SceneInput", "ScenePrediction", "default_gain", "predict_scene",
    "rendering_for", "scene_stats", "whole_image_probability",
]

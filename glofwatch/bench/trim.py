"""``glofwatch bench trim``: what the fast path's screen and trimmed boxes cost on real crops.

The fast path of ``glofwatch map`` skips tiles without lake candidates (the NDWI
screen, :mod:`glofwatch.mapping.screen`) and trims the tiles it runs to boxes of
``context`` px around their candidates. The synthetic tile of ``bench scene``
measures that with truth, but its lakes come from one generator; this benchmark
measures it on real Sentinel-2 crops (``../shared/data/himalaya-kmeans`` by
default, or any ``{images,masks}`` folder), never copied into the outputs.

Each crop is written as a small GeoTIFF scene (a placeholder UTM grid of 10 m
pixels, the bands named ``bands``, no nodata: a rendering's black pixels are data)
and mapped by :func:`glofwatch.mapping.scene.predict_scene` -- the code
``glofwatch map`` runs -- once without any screen (the reference), once with the
screen and whole tiles, and once per context with the screen and trimmed tiles.
Every variant is scored against the reference (lake pixels it loses and adds:
the cost of the screen alone) and against the crop's mask (dataset-level pixel
IoU: agreement with a noisy colour-clustered reference on the default crops,
not true accuracy). A crop is one tile (crops are smaller than ``tile``), so
this measures the boxes of one tile and the context the network gets, not the
blending of neighbouring tiles.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError, InputError

DEFAULT_CONTEXTS = (32, 64, 96, 128)
CROP_CRS = "EPSG:32645"
"""Placeholder CRS of a crop written as a scene (UTM 45N, the central Himalaya): the screen needs none of it."""
CROP_PIXEL_M = 10.0


def parse_contexts(text: str) -> list[int]:
    """``"32,64,96"`` -> ``[32, 64, 96]`` (whole px, at least 0, each once, in the order given)."""
    from glofwatch.bench import parse_ints

    out: list[int] = []
    for value in parse_ints(text, "--contexts", "32,64,96"):
        if value < 0:
            raise ConfigError(f"--contexts {text!r}: {value} px is negative; give 0 or more")
        if value not in out:
            out.append(value)
    if not out:
        raise ConfigError(f"--contexts {text!r}: no context given; e.g. --contexts 32,64,96")
    return out


def write_crop_scene(image: np.ndarray, path: Path, bands: Sequence[str], source: Path | None = None) -> Path:
    """Write an (H, W, C) uint8 crop as a GeoTIFF scene with band descriptions ``bands`` (``source``: for errors)."""
    import rasterio
    from rasterio.transform import from_origin

    h, w, c = image.shape
    if image.dtype != np.uint8:
        raise InputError(f"{source or path}: the crop is {image.dtype}, not 8-bit; this benchmark maps 8-bit "
                         "renderings (PNG or uint8 GeoTIFF crops)")
    if c != len(bands):
        raise InputError(f"{source or path}: the crop has {c} channel(s) but --bands names {len(bands)} "
                         f"({','.join(bands)}); name one band per channel")
    profile = {"driver": "GTiff", "height": h, "width": w, "count": c, "dtype": "uint8", "crs": CROP_CRS,
               "transform": from_origin(500000.0, 3100000.0, CROP_PIXEL_M, CROP_PIXEL_M)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(image, -1, 0))
        for i, name in enumerate(bands):
            dst.set_band_description(i + 1, name)
    return path


def _variants(contexts: Sequence[int], min_saving: float) -> list[tuple[str, Any]]:
    from glofwatch.mapping.screen import Screen

    out: list[tuple[str, Any]] = [("no screen", Screen.off()), ("screen, whole tiles", Screen(context=None))]
    out += [(f"screen, trimmed +{c} px", Screen(context=c, min_saving=min_saving)) for c in contexts]
    return out


def bench_trim(
    model: str | Path,
    out_dir: str | Path | None,
    real_root: str | Path | None = None,
    contexts: Sequence[int] = DEFAULT_CONTEXTS,
    bands: Sequence[str] | None = None,
    limit: int | None = None,
    precision: str = "auto",
    backend: str = "auto",
    threads: int | None = None,
    tile: int = 512,
    overlap: int = 32,
    min_saving: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Map every real crop with each screen variant and score it (see the module docstring).

    Args:
        model: a run folder (trimming needs a runtime that compiles box shapes: OpenVINO on CPU).
        out_dir: folder for ``trim.json`` and ``trim.md`` (None: write nothing).
        real_root: the crops (default ``../shared/data/himalaya-kmeans`` beside the repository).
        contexts: trim contexts in px to measure.
        bands: band names of the crops' channels (default: the model's input bands).
        limit: the first ``limit`` crops only (natural order).
        precision, backend, threads, tile, overlap: as for ``glofwatch map``.
        min_saving: share of a tile the boxes must save to be used (None: the screen's
            :data:`~glofwatch.mapping.screen.TRIM_MIN_SAVING`, as ``glofwatch map`` uses; 0: boxes
            whenever they are smaller than the tile, which shows what the context alone costs).
        progress: called with a line every 50 crops.

    Returns:
        The report: one row per variant (lake pixels; those lost and added against the
        reference, and how many of the lost the masks call lake; crops losing more than 1 %
        of their lake; IoU against the masks; pixels the network saw over crop pixels) and
        one record per crop.
    """
    from glofwatch.bench import machine_info, write_report
    from glofwatch.bench.realism import find_real_root
    from glofwatch.data.dataset import pair_files
    from glofwatch.data.io import read_image, read_mask
    from glofwatch.mapping.batch import cached_predictor
    from glofwatch.mapping.scene import predict_scene
    from glofwatch.mapping.screen import TRIM_MIN_SAVING
    from glofwatch.scene.read import read_scene

    root = find_real_root(real_root)
    pairing = pair_files(root / "images", root / "masks")
    if pairing.problems:
        raise InputError(pairing.problems[0])
    pairs = pairing.pairs[:limit] if limit is not None else pairing.pairs
    if not pairs:
        raise InputError(f"{root}: no image/mask pairs to measure; check the folder (or --limit)")
    predictor = cached_predictor(model, "cpu", backend, tile, overlap, precision=precision, threads=threads)
    if getattr(predictor, "fit_shape", None) is None:
        raise ConfigError(f"{model}: its runtime ({predictor.backend}) runs tiles whole, so there are no trimmed boxes "
                          "to measure; use --backend openvino (or auto) on CPU")
    bands = tuple(bands) if bands else tuple(predictor.spec.bands)
    min_saving = TRIM_MIN_SAVING if min_saving is None else float(min_saving)
    variants = _variants(contexts, min_saving)
    names = [n for n, _ in variants]
    totals = {n: {"lake_px": 0, "lost_px": 0, "lost_in_masks_px": 0, "added_px": 0, "inter": 0, "union": 0,
                  "processed_px": 0, "crops_losing_1pct": 0, "seconds": 0.0} for n in names}
    crops: list[dict[str, Any]] = []
    crop_px = 0
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="glofwatch-trim-") as tmp:
        tmpdir = Path(tmp)
        for k, (image_path, mask_path) in enumerate(pairs):
            image = read_image(image_path)
            truth = read_mask(mask_path).astype(bool)
            if truth.shape != image.shape[:2]:
                raise InputError(f"{mask_path}: mask is {truth.shape[0]}x{truth.shape[1]} px but its image is "
                                 f"{image.shape[0]}x{image.shape[1]}; give the crop's own mask")
            scene = read_scene(write_crop_scene(image, tmpdir / "crop.tif", bands, image_path))
            crop_px += truth.size
            ref: np.ndarray | None = None
            record: dict[str, Any] = {"image": image_path.name, "truth_px": int(truth.sum()), "lake_px": {},
                                      "lost_px": {}}
            for name, screen in variants:
                t0 = time.perf_counter()
                pred = predict_scene(scene, predictor, tmpdir / "p.tif", tmpdir / "m.tif", tile=tile, overlap=overlap,
                                     batch_size=1, screen=screen, rendering="any", use_scl=False)
                totals[name]["seconds"] += time.perf_counter() - t0
                lake = _lake_of(pred, truth.shape)
                if ref is None:
                    ref = lake
                t = totals[name]
                gone = ref & ~lake
                lost, added = int(gone.sum()), int((lake & ~ref).sum())
                t["lake_px"] += int(lake.sum())
                t["lost_px"] += lost
                t["lost_in_masks_px"] += int((gone & truth).sum())
                t["added_px"] += added
                t["inter"] += int((lake & truth).sum())
                t["union"] += int((lake | truth).sum())
                t["processed_px"] += int(pred.screen.processed_px) if pred.screen is not None else truth.size
                t["crops_losing_1pct"] += int(lost > 0.01 * max(int(ref.sum()), 1))
                record["lake_px"][name] = int(lake.sum())
                record["lost_px"][name] = lost
            crops.append(record)
            if progress and (k + 1) % 50 == 0:
                progress(f"{k + 1}/{len(pairs)} crops ({time.perf_counter() - t_start:.0f} s)")
    ref_px = totals[names[0]]["lake_px"]
    rows = []
    for name, _ in variants:
        t = totals[name]
        rows.append({
            "variant": name, "lake_px": t["lake_px"], "lost_px": t["lost_px"], "added_px": t["added_px"],
            "lost_pct_of_reference": 100.0 * t["lost_px"] / ref_px if ref_px else 0.0,
            "lost_in_masks_px": t["lost_in_masks_px"],
            "crops_losing_over_1pct": t["crops_losing_1pct"],
            "iou_vs_masks": t["inter"] / t["union"] if t["union"] else None,
            "processed_over_crop_px": t["processed_px"] / crop_px, "seconds": round(t["seconds"], 2),
        })
    doc = {"kind": "trim", "model": str(model), "real_root": str(root), "crops": len(pairs), "crop_px": crop_px,
           "bands": list(bands), "backend": predictor.backend,
           "precision_note": getattr(predictor, "precision_note", None), "tile": tile, "overlap": overlap,
           "contexts": list(contexts), "min_saving": min_saving, "rows": rows, "per_crop": crops,
           "machine": machine_info(), "seconds": round(time.perf_counter() - t_start, 1)}
    if out_dir is not None:
        write_report(out_dir, "trim", doc, trim_markdown(doc))
    return doc


def _lake_of(pred: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The lake pixels (mask value 1) of the mask ``predict_scene`` wrote, from the indices it kept of them."""
    lake = np.zeros(int(np.prod(shape)), dtype=bool)
    if pred.lake_probability is not None:
        lake[pred.lake_probability.index] = True
    return lake.reshape(shape)


def trim_markdown(doc: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    from glofwatch.bench import markdown_table

    header = ["variant", "lake px", "lost px", "lost % of reference", "of them lake in the masks", "added px",
              "crops losing > 1 %", "IoU vs masks", "processed / crop px", "map s"]
    rows = [[r["variant"], r["lake_px"], r["lost_px"], r["lost_pct_of_reference"], r["lost_in_masks_px"], r["added_px"],
             r["crops_losing_over_1pct"], r["iou_vs_masks"], r["processed_over_crop_px"], r["seconds"]]
            for r in doc["rows"]]
    head = (f"{doc['crops']} crops of {doc['real_root']} ({','.join(doc['bands'])}), model {doc['model']} "
            f"({doc['backend']}); boxes used when they save at least {doc['min_saving']:g} of a tile; reference: "
            "no screen. IoU is against the crops' masks.")
    return head + "\n\n" + markdown_table(header, rows)


__all__ = ["DEFAULT_CONTEXTS", "bench_trim", "parse_contexts", "trim_markdown", "write_crop_scene"]

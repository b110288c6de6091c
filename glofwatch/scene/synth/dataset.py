"""Write many synthetic crops in the study's data set layout.

Layout (the one ``glofwatch`` reads for the study data)::

    OUT/train/images/synth_00001.png   RGB image, 8 bit
    OUT/train/labels/synth_00001.png   single channel, 0 = background, 255 = lake
    OUT/test/images/synth_00801.png    ...
    OUT/synth.json                     parameters, seed, rendering and per-split counts

Crop ``i`` (1-based) is drawn from ``np.random.default_rng([seed, i])`` alone, so
the same seed gives byte-identical files and any crop can be regenerated on its
own. The first ``n - round(n * test_fraction)`` crops go to ``train``, the rest
to ``test``. Every file is written atomically; re-running overwrites.

``synth.json`` names the data set's ``rendering`` (``true-colour``, ``false-colour``
or ``mixed``); a mixed set also lists each crop's rendering in ``crop_renderings``
(file stem -> rendering) and counts them per split.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError
from glofwatch.io.atomic import write_bytes_atomic, write_json_atomic
from glofwatch.scene.render import MIXED
from glofwatch.scene.synth.crops import CropParams, SynthCrop, params_dict, synth_crop

GENERATOR_VERSION = 1
"""Bumped whenever the same seed would draw different crops."""


def crop_name(index: int) -> str:
    """File stem of crop ``index`` (1-based), e.g. ``synth_00001``."""
    return f"synth_{index:05d}"


def draw_numbered_crop(seed: int, index: int, size: int = 320, params: CropParams | None = None) -> SynthCrop:
    """Crop ``index`` (1-based) of the data set with ``seed``, independent of all others."""
    return synth_crop(np.random.default_rng([seed, index]), size=size, params=params)


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) RGB or (H, W) grey uint8 array (no timestamps: reproducible)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def has_synthetic_dataset(out: str | Path, n: int, size: int, seed: int, rendering: str | None = None) -> bool:
    """True when ``out/synth.json`` records a data set of ``n`` crops of ``size`` px drawn with ``seed``
    (and, when given, in ``rendering``: a rendering name or ``mixed``)."""
    marker = Path(out) / "synth.json"
    made = json.loads(marker.read_text()) if marker.is_file() else {}
    if rendering is not None and made.get("rendering", made.get("params", {}).get("rendering")) != rendering:
        return False
    return (made.get("n"), made.get("size"), made.get("seed")) == (n, size, seed)


def write_synthetic_dataset(
    out: Path,
    n: int,
    size: int = 320,
    seed: int = 0,
    test_fraction: float = 0.2,
    params: CropParams | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write ``n`` synthetic crops and labels in the study layout under ``out``.

    Args:
        out: output folder (created).
        n: number of crops, at least 1.
        size: crop height and width in pixels.
        seed: data set seed; crop ``i`` depends only on ``(seed, i)``.
        test_fraction: share of crops in the ``test`` split, 0 <= f < 1.
        params: crop distribution (default :class:`CropParams`).
        progress: optional callback ``progress(done, total)`` after each crop.

    Returns:
        The summary also written to ``out/synth.json``: generator, seed, size,
        rendering, parameters and, per split, the number of images, lake-free images,
        lakes, mean lake-pixel fraction, lakes per water kind and crops per rendering
        (plus ``crop_renderings`` for a mixed set).

    Raises:
        ConfigError: ``n``, ``size`` or ``test_fraction`` out of range.
    """
    if n < 1:
        raise ConfigError(f"synthetic data set: n={n}; ask for at least 1 crop, e.g. --n 100")
    if size < 16:
        raise ConfigError(f"synthetic data set: size={size} is too small; use at least 16 pixels")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"synthetic data set: test_fraction={test_fraction} is outside [0, 1); e.g. use 0.2")
    params = params or CropParams()
    params.check()
    out = Path(out)
    n_test = int(round(n * test_fraction))
    n_train = n - n_test
    stats: dict[str, dict[str, Any]] = {}
    for split in ("train", "test"):
        stats[split] = {"images": 0, "lake_free": 0, "lakes": 0, "lake_fraction_sum": 0.0, "kinds": Counter(),
                        "renderings": Counter()}
    crop_renderings: dict[str, str] = {}
    for index in range(1, n + 1):
        split = "train" if index <= n_train else "test"
        crop = draw_numbered_crop(seed, index, size, params)
        name = crop_name(index) + ".png"
        write_bytes_atomic(out / split / "images" / name, encode_png(crop.image))
        write_bytes_atomic(out / split / "labels" / name, encode_png(crop.mask * np.uint8(255)))
        s = stats[split]
        s["images"] += 1
        s["lake_free"] += int(not crop.mask.any())
        s["lakes"] += len(crop.lakes)
        s["lake_fraction_sum"] += float(crop.mask.mean())
        s["kinds"].update(lake.kind for lake in crop.lakes)
        s["renderings"][crop.rendering] += 1
        crop_renderings[crop_name(index)] = crop.rendering
        if progress is not None:
            progress(index, n)
    splits = {}
    for split, s in stats.items():
        splits[split] = {
            "images": s["images"],
            "lake_free": s["lake_free"],
            "lakes": s["lakes"],
            "mean_lake_fraction": round(s["lake_fraction_sum"] / s["images"], 5) if s["images"] else None,
            "lakes_per_kind": dict(sorted(s["kinds"].items())),
            "renderings": dict(sorted(s["renderings"].items())),
        }
    summary = {
        "generator": "glofwatch.scene.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "size": size,
        "test_fraction": test_fraction,
        "mask_values": {"background": 0, "lake": 255},
        "rendering": MIXED if params.renderings else params.rendering,
        "params": params_dict(params),
        "splits": splits,
    }
    if params.renderings:
        summary["crop_renderings"] = crop_renderings
    write_json_atomic(out / "synth.json", summary)
    return summary

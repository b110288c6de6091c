"""Evaluate a trained model on a data split: metrics JSON, a Markdown row, masks.

Outputs under ``OUT`` (default ``RUN_DIR/eval/<split>``)::

    metrics.json   dataset-level (micro), per-image and study-definition numbers
    row.md         one row in the study's table format
    masks/<id>.png predicted masks (0/255)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.io.atomic import write_json_atomic, write_text_atomic

TABLE_HEADER = (
    "| Run | Model | Loss | IoU | Dice | Acc | Prec | Rec | F1 | IoU per-image mean | IoU study-soft |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def markdown_row(name: str, model: str, loss: str, metrics: dict[str, Any]) -> str:
    """One table row; IoU..F1 are dataset-level (micro), then per-image mean and the study's soft batch IoU."""
    m = metrics["micro"]
    per = metrics["per_image"]
    soft = metrics.get("study_batch_soft", {})

    def pct(v: Any) -> str:
        return "–" if v is None else f"{100 * float(v):.1f}"

    return (
        f"| {name} | {model} | {loss} | {pct(m['iou'])} | {pct(m['dice'])} | {pct(m['accuracy'])} | "
        f"{pct(m['precision'])} | {pct(m['recall'])} | {pct(m['f1'])} | {pct(per.get('iou_mean'))} | "
        f"{pct(soft.get('iou'))} |"
    )


def pad_group(group: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack (probability, truth, valid, id) of images of different sizes, zero-padded to the largest.

    Padding is invalid, so it counts in no metric; the study's soft batch scores need one array per batch.
    """
    h = max(g[0].shape[0] for g in group)
    w = max(g[0].shape[1] for g in group)
    probs = np.zeros((len(group), h, w), np.float32)
    truths = np.zeros((len(group), h, w), np.uint8)
    valids = np.zeros((len(group), h, w), bool)
    for i, (p, t, v, _) in enumerate(group):
        probs[i, : p.shape[0], : p.shape[1]] = p
        truths[i, : t.shape[0], : t.shape[1]] = t
        valids[i, : v.shape[0], : v.shape[1]] = v
    return probs, truths, valids


def model_info(predictor: Any) -> dict[str, Any]:
    """Model name, loss, preset and study row of a :class:`Predictor` or an index predictor (NDWI)."""
    info = getattr(predictor, "info", None)
    if callable(info):
        return info()
    cfg = predictor.bundle.config
    return {"model": cfg.model, "loss": cfg.loss, "preset": cfg.preset, "study_row": cfg.study_row}


def evaluate(
    predictor: Any,
    root: str | Path,
    split: str,
    out_dir: str | Path,
    save_masks: bool = True,
    batch_images: int = 8,
    name: str | None = None,
    run: str | Path | None = None,
    rendering: str = "auto",
) -> dict[str, Any]:
    """Score ``predictor`` on ``root``/``split`` and write the outputs.

    Images are scored at their own size (any size and aspect). The study's soft
    batch metrics use groups of ``batch_images`` images (the study's batch of 8).
    Which crops are scored, and the refusal to score training crops as test,
    follow :func:`glofwatch.infer.evalset.eval_items` for the run of the model.
    Before scoring, the crops' 8-bit rendering is checked against the model's
    (:func:`glofwatch.infer.rendering.check_split`).

    Args:
        predictor: a :class:`Predictor` or any object with ``predict_image``, ``threshold`` and
            ``info()`` (e.g. :class:`glofwatch.infer.ndwi.NDWIPredictor`).
        run: the run folder (default: the one recorded in the model's meta).
        rendering: the crops' rendering: ``auto`` (declared by the data set, else detected),
            a rendering name, or ``any`` (no check).

    Returns:
        The metrics dict written to ``metrics.json``.

    Raises:
        InputError: the split would score crops the model was trained or selected on as held out;
            or the crops are in another rendering than the model expects.
    """
    from glofwatch.infer.evalset import eval_items
    from glofwatch.infer.meter import SegmentationMeter
    from glofwatch.io.image import save_png

    out_dir = Path(out_dir)
    items = eval_items(root, split, run, getattr(predictor, "bundle", None))
    ds = items.dataset
    bundle = getattr(predictor, "bundle", None)
    checked = {"images": "not checked", "model": None}
    if bundle is not None:
        from glofwatch.infer.rendering import check_split, expected_rendering

        label = str(run) if run is not None else (bundle.meta or {}).get("run_dir")
        checked = {"images": check_split(bundle, ds, items.indices, root, rendering, model=label),
                   "model": expected_rendering(bundle)}
    meter = SegmentationMeter(threshold=predictor.threshold)
    t0 = time.monotonic()
    group: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []

    def flush() -> None:
        # images in one "batch" may differ in size: the meter takes them one by one,
        # the study's soft metric needs them together, so pad to a common size.
        if not group:
            return
        probs, truths, valids = pad_group(group)
        meter.update(probs, truths, ids=[g[3] for g in group], valid=valids)
        group.clear()

    for i in items.indices:
        image, truth, valid = ds.load(i)
        res = predictor.predict_image(image.astype(np.float32), valid)
        group.append((res.probability, truth.astype(np.uint8), valid, ds.ids[i]))
        if save_masks:
            save_png(out_dir / "masks" / f"{ds.ids[i]}.png", res.mask * 255)
        if len(group) == batch_images:
            flush()
    flush()
    seconds = time.monotonic() - t0
    summary = meter.summary()
    info = model_info(predictor)
    n = len(items.indices)
    summary.update(
        {
            "split": split,
            "data_root": str(Path(root).resolve()),
            "crops": items.source,
            "n_images": n,
            "threshold": predictor.threshold,
            "temperature": getattr(predictor, "temperature", None),
            "tta": bool(getattr(predictor, "tta", False)),
            "rendering": checked,
            **info,
            "seconds": round(seconds, 2),
            "images_per_s": round(n / max(seconds, 1e-9), 2),
        }
    )
    write_json_atomic(out_dir / "metrics.json", summary)
    row = markdown_row(name or info["preset"], info["model"], info["loss"], summary)
    write_text_atomic(out_dir / "row.md", TABLE_HEADER + "\n" + row + "\n")
    return summary

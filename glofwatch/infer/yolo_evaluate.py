"""Score a YOLOv8-Seg run on the same footing as the semantic models, plus instance metrics.

Pixel metrics: the union of the instances with confidence above the run's
threshold is the predicted lake mask; it is scored with
:class:`~glofwatch.infer.metrics.SegmentationMeter` exactly as semantic
masks (``micro`` = one confusion matrix over the split, ``per_image``).
The meter is fed the *score map* (largest instance confidence per pixel, 0
elsewhere), so ``score > threshold`` is that union. ``study_batch_soft`` keeps
its keys but holds None: the study's soft metrics need per-pixel
probabilities, which instance output does not have.

Confidence threshold: chosen on the validation images (the seeded share of
the train split, never the test split) as the grid value 0.05, 0.10, ..., 0.95
with the highest micro pixel IoU (ties: nearest 0.25), and stored in the run's
``summary.json``.

Instance metrics (``metrics["instance"]``):

* ``map50`` / ``map50_95``: ultralytics mask mAP on the split (its own
  confidence floor 0.001, NMS IoU 0.7), against the converted polygon labels
  (specks dropped, holes bridged). The study's "YOLOv8 IoU 72.9 %" is this
  ``map50_95``, not a pixel IoU.
* ``recall_by_size``: truth lakes are the 8-connected components of the truth
  mask with at least ``min_area_px`` pixels. A lake is found when the predicted
  instance (above the threshold) with the highest IoU with it reaches IoU >= 0.5,
  or when the union of the predicted instances covers >= 50 % of its pixels (so
  a lake split into two instances, or two lakes merged into one, still counts).
  Bins by area in pixels (at Sentinel-2's 10 m, 1 px = 100 m2).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.connectivity import LAKE_CONNECTIVITY
from glofwatch.errors import InputError
from glofwatch.infer.evaluate import pad_group
from glofwatch.io.atomic import write_json_atomic, write_text_atomic

CONF_GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))
SIZE_BINS_PX = ((4, 25), (25, 100), (100, 1000), (1000, None))
"""Lake size bins [min, max) in pixels: < 0.0025 km2, < 0.01 km2, < 0.1 km2, larger (at 10 m pixels)."""
SOFT_NOTE = ("not defined for instance output: the study's soft metrics need per-pixel probabilities, "
             "YOLO gives instance confidences (the study reported mask mAP50-95 instead)")
FOUND_IOU = 0.5
FOUND_COVER = 0.5


def _bin_name(lo: int, hi: int | None) -> str:
    return f">={lo} px" if hi is None else f"{lo}-{hi - 1} px"


def _split_items(
    data_root: Path, split: str, val_fraction: float, seed: int, run_dir: Path | None = None
) -> tuple[Any, list[int]]:
    """The data set and item indices of ``split`` ("val" = the validation share of train), as the run's plan says."""
    from glofwatch.data.dataset import GlacialLakesDataset
    from glofwatch.data.plan import indices_of, plan_splits, read_plan

    plan = read_plan(run_dir) if run_dir is not None else None
    own = plan is not None and Path(plan.data_root) == Path(data_root).resolve()
    if not own and split == "val":
        plan, own = plan_splits(data_root, val_fraction, seed), True
    if own and plan is not None and (split in ("train", "val") or (plan.layout == "generic" and split in plan.names)):
        ds = GlacialLakesDataset(data_root, plan.folder_split)
        return ds, indices_of(ds.image_paths, plan.names[split])
    ds = GlacialLakesDataset(data_root, split)
    return ds, list(range(len(ds)))


class _LakeRecall:
    """Per-lake recall by size bin (see module docs)."""

    def __init__(self, min_area_px: int) -> None:
        self.min_area_px = min_area_px
        self.n = np.zeros(len(SIZE_BINS_PX), np.int64)
        self.found = np.zeros(len(SIZE_BINS_PX), np.int64)
        self.skipped_specks = 0

    def update(self, truth: np.ndarray, instance_masks: list[np.ndarray]) -> None:
        import cv2

        n, labels, stats, _ = cv2.connectedComponentsWithStats(truth.astype(np.uint8), connectivity=LAKE_CONNECTIVITY)
        union = np.zeros(truth.shape, bool)
        for m in instance_masks:
            union |= m
        for k in range(1, n):
            area = int(stats[k, cv2.CC_STAT_AREA])
            if area < self.min_area_px:
                self.skipped_specks += 1
                continue
            b = max([0] + [i for i, (lo, _) in enumerate(SIZE_BINS_PX) if area >= lo])
            lake = labels == k
            self.n[b] += 1
            best_iou = 0.0
            for m in instance_masks:
                inter = int(np.count_nonzero(m & lake))
                if inter:
                    best_iou = max(best_iou, inter / int(np.count_nonzero(m | lake)))
            cover = np.count_nonzero(union & lake) / area
            self.found[b] += int(best_iou >= FOUND_IOU or cover >= FOUND_COVER)

    def summary(self) -> dict[str, Any]:
        bins = {}
        for i, (lo, hi) in enumerate(SIZE_BINS_PX):
            n, f = int(self.n[i]), int(self.found[i])
            bins[_bin_name(lo, hi)] = {"min_px": lo, "max_px": None if hi is None else hi - 1, "n_lakes": n,
                                       "found": f, "recall": f / n if n else None}
        total, found = int(self.n.sum()), int(self.found.sum())
        return {"recall_by_size": bins, "lake_recall": found / total if total else None, "n_truth_lakes": total,
                "truth_specks_skipped": self.skipped_specks,
                "found_rule": f"best-matching instance IoU >= {FOUND_IOU} or >= {FOUND_COVER:.0%} of the lake covered "
                              f"by predicted instances; truth lakes = 8-connected components >= {self.min_area_px} px"}


def _score_split(seg: Any, data_root: Path, split: str, val_fraction: float, seed: int,
                 threshold: float, on_image: Any = None, run_dir: Path | None = None) -> tuple[Any, int]:
    """Run ``seg`` over a split; feed a SegmentationMeter with score maps."""
    from glofwatch.infer.meter import SegmentationMeter
    from glofwatch.infer.yolo import SCORE_FLOOR, read_grid

    ds, indices = _split_items(data_root, split, val_fraction, seed, run_dir)
    if not indices:
        raise InputError(f"{data_root}: split '{split}' has no images; pick a split with images")
    meter = SegmentationMeter(threshold=threshold, curve_bins=20)
    group: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []

    def flush() -> None:  # batches of 8 for the study's soft metrics
        if not group:
            return
        p, t, v = pad_group(group)
        meter.update(p, t, ids=[g[3] for g in group], valid=v)
        group.clear()

    for idx in indices:
        image, truth, valid = ds.load(idx)
        grid = read_grid(ds.image_paths[idx], image.shape[0], image.shape[1])
        result = seg.predict_image(image, grid, min_conf=min(SCORE_FLOOR, threshold))
        score = result.score_map()
        group.append((score, truth, valid, ds.ids[idx]))
        if on_image is not None:
            on_image(ds.ids[idx], truth, valid, result)
        if len(group) == 8:
            flush()
    flush()
    return meter, len(indices)


def select_conf_threshold(run_dir: str | Path, data_root: str | Path, cfg: Any, device: str = "auto") -> dict[str, Any]:
    """Pick the confidence threshold with the best micro pixel IoU on the validation split.

    Args:
        run_dir: YOLO run folder (uses its ``model.pt``).
        data_root: the run's data root.
        cfg: the run's TrainConfig (``val_fraction``, ``seed``).
        device: auto, cpu or cuda.

    Returns:
        ``{"conf_threshold", "val_iou", "split": "val", "n_images", "grid", "iou"}``.
    """
    from glofwatch.infer.yolo import DEFAULT_CONF, YoloSegmenter

    seg = YoloSegmenter(run_dir, device=device, conf_threshold=DEFAULT_CONF)
    meter, n = _score_split(seg, Path(data_root), "val", cfg.val_fraction, cfg.seed, DEFAULT_CONF,
                            run_dir=Path(run_dir))
    cur = meter.curve()
    cands = [(float(t), float(i)) for t, i in zip(cur.thresholds, cur.iou, strict=True)
             if any(abs(t - g) < 1e-9 for g in CONF_GRID)]
    best_iou = max(i for _, i in cands)
    t_best = min((t for t, i in cands if i == best_iou), key=lambda t: abs(t - DEFAULT_CONF))
    return {"conf_threshold": t_best, "val_iou": best_iou, "split": "val", "n_images": n,
            "grid": [t for t, _ in cands], "iou": [i for _, i in cands],
            "rule": "micro pixel IoU of the union of instances above the threshold, validation split"}


def _instance_map(model_path: Path, data_root: Path, split: str, cfg: Any, imgsz: int, out_dir: Path,
                  device: str, cache_dir: str | Path | None, run_dir: Path | None = None) -> dict[str, Any]:
    """Mask/box mAP from ultralytics val on the split's YOLO folder."""
    from glofwatch.data.plan import read_plan
    from glofwatch.data.yolo_dataset import label_options, prepare_yolo_dataset
    from glofwatch.models.yolo import offline_ultralytics

    plan = read_plan(run_dir) if run_dir is not None else None
    if plan is not None and Path(plan.data_root) != data_root.resolve():
        plan = None
    data = prepare_yolo_dataset(data_root, cache_dir, cfg.val_fraction, cfg.seed, **label_options(cfg), plan=plan)
    if split not in data.splits:  # a folder the run never saw: all of it is train + val of its YOLO copy
        split = "train"
    with offline_ultralytics():
        from ultralytics import YOLO

        model = YOLO(str(model_path), task="segment")
        m = model.val(data=str(data.split_yaml(split)), split="val", imgsz=imgsz, batch=cfg.batch_size,
                      device=device, plots=False, save_json=False, verbose=False,
                      save_dir=str(out_dir / "ultralytics-val"), exist_ok=True)
    return {"map50": float(m.seg.map50), "map50_95": float(m.seg.map), "box_map50": float(m.box.map50),
            "box_map50_95": float(m.box.map), "mask_precision": float(m.seg.mp), "mask_recall": float(m.seg.mr),
            "map_note": "ultralytics mask mAP (conf floor 0.001, NMS IoU 0.7) against the converted polygon labels; "
                        "the study's 'YOLOv8 IoU 72.9 %' is this map50_95"}


def evaluate_yolo(
    run: str | Path,
    data_root: str | Path,
    split: str,
    out_dir: str | Path,
    conf: float | None = None,
    save_masks: bool = True,
    device: str = "auto",
    name: str | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Score a YOLO run on ``data_root``/``split``; write metrics.json, row.md and masks.

    Args:
        run: YOLO run folder.
        data_root: data root (study or generic layout).
        split: "test", "train", or "val" (the validation share of train).
        out_dir: output folder.
        conf: confidence threshold (default: the run's, chosen on validation; chosen
            now and stored in the run if missing).
        save_masks: write union masks ``masks/<id>.png`` (0/255).
        device: auto, cpu or cuda.
        name: row name in ``row.md`` (default: the preset).
        cache_dir: YOLO data folder for the mAP computation (default under ``$GLOFWATCH_CACHE``).

    Returns:
        The metrics dict: SegmentationMeter keys (``micro``, ``per_image``,
        ``study_batch_soft``, ...), the keys of :func:`glofwatch.infer.evaluate.evaluate`
        (split, n_images, threshold, model, preset, ...), ``conf_threshold`` and
        ``instance`` (``map50``, ``map50_95``, ``recall_by_size``, ``lake_recall``, ...).
    """
    from glofwatch.config import load_config
    from glofwatch.data.yolo_dataset import label_options
    from glofwatch.infer.evaluate import TABLE_HEADER, markdown_row
    from glofwatch.infer.yolo import YoloSegmenter, run_conf_threshold
    from glofwatch.io.image import save_png

    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    data_root, out_dir = Path(data_root), Path(out_dir)
    cfg = load_config(run_dir / "config.yaml")
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    if conf is None:
        conf = run_conf_threshold(run_dir)
    if conf is None:  # run stopped before choosing: choose on its validation split now and store it
        choice = select_conf_threshold(run_dir, info.get("data_root", data_root), cfg, device)
        summary_path = run_dir / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        summary.update({"conf_threshold": choice["conf_threshold"], "threshold_selection": choice})
        write_json_atomic(summary_path, summary)
        conf = choice["conf_threshold"]
    folder = info.get("yolo_data", {}).get("folder")
    if cache_dir is None and folder and info.get("data_root") == str(data_root.resolve()) and Path(folder).is_dir():
        cache_dir = folder  # the run's own YOLO folder (re-checked against the masks)
    seg = YoloSegmenter(run, device=device, conf_threshold=conf)
    recall = _LakeRecall(label_options(cfg)["min_area_px"])

    def on_image(image_id: str, truth: np.ndarray, valid: np.ndarray, result: Any) -> None:
        shown = result.above(conf)
        recall.update(truth, [i.mask for i in shown])
        if save_masks:
            save_png(out_dir / "masks" / f"{image_id}.png", result.mask(conf) * 255)

    t0 = time.monotonic()
    meter, n = _score_split(seg, data_root, split, cfg.val_fraction, cfg.seed, float(conf), on_image, run_dir)
    seconds = time.monotonic() - t0
    summary = meter.summary()
    n_batches = summary["study_batch_soft"].get("n_batches")
    summary["study_batch_soft"] = {"dice": None, "iou": None, "precision": None, "recall": None, "n_batches": n_batches,
                                   "note": SOFT_NOTE}
    instance = _instance_map(seg.model_path, data_root, split, cfg, seg.imgsz, out_dir, seg.device, cache_dir, run_dir)
    instance.update(recall.summary())
    summary.update({
        "split": split, "data_root": str(data_root.resolve()), "n_images": n, "threshold": float(conf),
        "conf_threshold": float(conf), "model": cfg.model, "loss": "yolov8-seg", "preset": cfg.preset,
        "study_row": cfg.study_row, "seconds": round(seconds, 2), "images_per_s": round(n / max(seconds, 1e-9), 2),
        "instance": instance,
        "pixel_note": "pixel metrics of the union of instances with confidence > conf_threshold "
                      "(threshold chosen on the validation split)",
    })
    write_json_atomic(out_dir / "metrics.json", summary)
    row = markdown_row(name or cfg.preset, cfg.model, "yolov8-seg", summary)
    m50 = instance["map50_95"]
    write_text_atomic(out_dir / "row.md", TABLE_HEADER + "\n" + row + "\n\n"
                      f"mask mAP50-95 (instance metric, not a pixel IoU): {100 * m50:.1f}\n")
    return summary

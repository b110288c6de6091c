"""What is chosen on the validation split when training ends: the temperature and the mask threshold.

Both are fitted on the validation crops of the run's split plan
(``RUN/split.json``), never on the test split, and stored in the model's meta,
so every command that uses the model (``evaluate``, ``predict``, ``map``,
``explain``, exported ONNX/OpenVINO files) applies them:

1. temperature scaling (:func:`glofwatch.infer.calibration.calibrate`) on the
   validation logits, when ``calibrate`` is on;
2. the threshold that maximises validation IoU of the *calibrated*
   probabilities (:meth:`SegmentationMeter.best_threshold` on a 0.01 grid,
   ties to the configured threshold, kept within [0.01, 0.99]), when
   ``select_threshold`` is on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.config import TrainConfig

THRESHOLD_RANGE = (0.01, 0.99)


def _validation_pixels(bundle: Any, cfg: TrainConfig,
                       run_dir: Path) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Per validation image: logits and truth of its valid pixels, and its id."""
    from glofwatch.data.dataset import GlacialLakesDataset
    from glofwatch.data.plan import indices_of, read_plan
    from glofwatch.infer.predict import Predictor

    plan = read_plan(run_dir)
    if plan is None or not plan.names.get("val"):
        return [], [], []
    ds = GlacialLakesDataset(plan.data_root, plan.folder_split)
    predictor = Predictor(bundle, device=cfg.device, threshold=cfg.threshold)
    logits, truths, ids = [], [], []
    for i in indices_of(ds.image_paths, plan.names["val"]):
        image, truth, valid = ds.load(i)
        z = predictor.predict_logits(image.astype(np.float32), valid)
        logits.append(z[valid].astype(np.float32))
        truths.append(truth[valid].astype(np.uint8))
        ids.append(ds.ids[i])
    return logits, truths, ids


def choose_on_validation(bundle: Any, cfg: TrainConfig, run_dir: str | Path) -> dict[str, Any]:
    """Fit the temperature and choose the threshold of ``bundle`` on the run's validation crops.

    Args:
        bundle: the trained model (:class:`~glofwatch.models.bundle.ModelBundle`).
        cfg: the run's config (``threshold``, ``calibrate``, ``select_threshold``, ``device``, ``seed``).
        run_dir: the run folder (its ``split.json`` names the validation crops).

    Returns:
        ``{"threshold", "temperature", "threshold_source", "val_iou_at_threshold",
        "val_iou_at_default", "calibration": {...} | None, "n_val_images"}``.
    """
    import torch

    from glofwatch.infer.calibration import calibrate, expected_calibration_error
    from glofwatch.infer.meter import SegmentationMeter

    logits, truths, ids = _validation_pixels(bundle, cfg, Path(run_dir))
    out: dict[str, Any] = {"threshold": cfg.threshold, "temperature": 1.0, "threshold_source": "config",
                           "val_iou_at_threshold": None, "val_iou_at_default": None, "calibration": None,
                           "n_val_images": len(ids)}
    if not ids or not sum(len(z) for z in logits):
        out["threshold_source"] = "config (no validation split)"
        return out
    z_all, y_all = np.concatenate(logits), np.concatenate(truths)
    if cfg.calibrate:
        out["calibration"] = calibrate(z_all, y_all, seed=cfg.seed)
        out["temperature"] = out["calibration"]["temperature"]
    else:
        p = torch.sigmoid(torch.from_numpy(z_all))
        ece = expected_calibration_error(p, y_all)
        out["calibration"] = {"temperature": 1.0, "ece_before": ece, "ece_after": ece, "n_pixels": int(len(z_all))}
    t = out["temperature"]
    meter = SegmentationMeter(threshold=cfg.threshold)
    for z, y, name in zip(logits, truths, ids, strict=True):
        p = 1.0 / (1.0 + np.exp(-z.astype(np.float64) / t))
        meter.update(p[None, None, :], y[None, None, :].astype(bool), ids=[name])
    out["val_iou_at_default"] = meter.summary()["micro"]["iou"]
    if cfg.select_threshold:
        best, iou = meter.best_threshold("iou")
        lo, hi = THRESHOLD_RANGE
        out["threshold"] = float(min(max(best, lo), hi))
        out["threshold_source"] = "validation IoU"
        out["val_iou_at_threshold"] = iou
    else:
        out["val_iou_at_threshold"] = out["val_iou_at_default"]
    return out

"""YOLOv8-Seg, the study's instance-segmentation model, run offline through ultralytics.

One import path for the CLI and other stages::

    from glofwatch.models.yolo_seg import is_yolo_model, is_yolo_run, train_yolo, predict_yolo_images, evaluate_yolo

* :func:`train_yolo` (``glofwatch train --preset yolov8-seg``): mask data set ->
  cached YOLO polygon labels -> ultralytics training into a glofwatch run folder,
  with no network access; then the confidence threshold is chosen on the
  validation split and stored in ``summary.json``.
* :func:`predict_yolo_images` (``glofwatch predict RUN IMAGES --out DIR``):
  per image a FeatureCollection of lake instances and an overlay with confidences.
* :func:`evaluate_yolo` (``glofwatch evaluate RUN``): pixel metrics of the union of
  instances (the same meter as the semantic models) plus mask mAP50 / mAP50-95
  and per-lake recall by lake size.

The modules live in :mod:`glofwatch.models.yolo` (``labels``, ``dataset``,
``offline``, ``train``, ``predict``, ``evaluate``).
"""

from __future__ import annotations

from glofwatch.models.yolo.dataset import YoloDataset, prepare_yolo_dataset
from glofwatch.models.yolo.evaluate import evaluate_yolo, select_conf_threshold
from glofwatch.models.yolo.labels import LabelStats, mask_to_polygons, polygons_to_mask
from glofwatch.models.yolo.predict import InstanceResult, LakeInstance, YoloSegmenter, predict_yolo_images
from glofwatch.models.yolo.train import YOLO_MODELS, is_yolo_model, is_yolo_run, train_yolo

__all__ = [
    "YOLO_MODELS",
    "InstanceResult",
    "LabelStats",
    "LakeInstance",
    "YoloDataset",
    "YoloSegmenter",
    "evaluate_yolo",
    "is_yolo_model",
    "is_yolo_run",
    "mask_to_polygons",
    "polygons_to_mask",
    "predict_yolo_images",
    "prepare_yolo_dataset",
    "select_conf_threshold",
    "train_yolo",
]

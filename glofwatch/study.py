"""The study's published numbers, for side-by-side comparison tables.

Source: Murad, Mir, Shahzadi, "Advanced DL Driven Geospatial Analysis for GLOF
Risk Reduction", FIT 2024, Tables I and II (see ``shared/STUDY.md``). The
study's IoU/Dice are per-batch soft scores averaged over batches on its test
split (also used for model selection); the YOLOv8 "IoU" is mask mAP50-95.
"""

from __future__ import annotations

# row name -> published metrics (fractions). None where the paper gives no number.
PUBLISHED: dict[str, dict[str, float | None]] = {
    "DeepLabV3+ ResNet50 / CE": {"iou": 0.755, "dice": 0.85, "accuracy": 0.95, "precision": 0.88, "recall": 0.85},
    "DeepLabV3+ ResNet50 / Dice": {"iou": 0.792, "dice": 0.86, "accuracy": 0.78, "precision": 0.93, "recall": 0.82},
    "DeepLabV3+ ResNet50 / focal": {"iou": None, "dice": None, "accuracy": None, "precision": None, "recall": None},
    "U-Net EfficientNetB0 / CE": {"iou": 0.691, "dice": 0.76, "accuracy": 0.99, "precision": 0.90, "recall": 0.69},
    "U-Net (none) / CE": {"iou": 0.65, "dice": 0.56, "accuracy": 0.99, "precision": 0.69, "recall": 0.72},
    "U-Net ResNet50 / CE": {"iou": 0.59, "dice": 0.74, "accuracy": 0.99, "precision": 0.88, "recall": 0.68},
    "YOLOv8-Seg / standard": {"iou": None, "mask_map50_95": 0.7296, "dice": 0.73, "accuracy": 0.89, "precision": 0.90,
                              "recall": 0.84},
}

STATE_OF_THE_ART_IOU = 0.80  # published best on the Glacial Lakes Detection Dataset (about 80 %)

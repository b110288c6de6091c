"""Training data: reading, checking, normalising, augmenting and splitting crops and masks (and YOLO labels).

Names are imported lazily so that ``import glofwatch.data.io`` does not pull in
torch or albumentations.

- :mod:`glofwatch.data.io`: ``read_image``, ``read_mask``, ``valid_mask``.
- :mod:`glofwatch.data.dataset`: ``GlacialLakesDataset`` (study and generic layouts).
- :mod:`glofwatch.data.checks`: ``check_dataset`` -> ``DatasetReport``.
- :mod:`glofwatch.data.augment`: ``build_augmentation``, ``build_eval_transform``.
- :mod:`glofwatch.data.split`: ``split_train_val``, ``split_groups``.
- :mod:`glofwatch.data.groups`: ``GroupSpec``, ``group_labels`` (crops grouped by scene).
- :mod:`glofwatch.data.plan`: ``SplitPlan``, ``plan_splits`` (a run's train/val/test crops).
- :mod:`glofwatch.data.sampler`: ``EpochSeededSampler``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "IMAGE_SUFFIXES": "glofwatch.data.io",
    "read_image": "glofwatch.data.io",
    "read_mask": "glofwatch.data.io",
    "valid_mask": "glofwatch.data.io",
    "GlacialLakesDataset": "glofwatch.data.dataset",
    "detect_layout": "glofwatch.data.dataset",
    "check_dataset": "glofwatch.data.checks",
    "DatasetReport": "glofwatch.data.checks",
    "build_augmentation": "glofwatch.data.augment",
    "build_eval_transform": "glofwatch.data.augment",
    "AUGMENTATIONS": "glofwatch.data.augment",
    "split_train_val": "glofwatch.data.split",
    "split_groups": "glofwatch.data.split",
    "GroupSpec": "glofwatch.data.groups",
    "group_labels": "glofwatch.data.groups",
    "SplitPlan": "glofwatch.data.plan",
    "plan_splits": "glofwatch.data.plan",
    "EpochSeededSampler": "glofwatch.data.sampler",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'glofwatch.data' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)

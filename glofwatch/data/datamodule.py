"""Lightning data module: train/validation split of the training set, padded batches.

The validation images are a seeded share of the *training* split, so the test
split is never used for model selection (the study selected on its test set).
Which crops train and validate comes from a :class:`~glofwatch.data.plan.SplitPlan`
(grouped by scene when asked; a one-folder data set also loses its test share).
Batches are padded to a common size that is a multiple of the network stride;
padded pixels are marked invalid and count neither in the loss nor the metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from glofwatch.data.augment import build_augmentation
from glofwatch.data.dataset import GlacialLakesDataset
from glofwatch.data.plan import SplitPlan, indices_of, plan_splits
from glofwatch.data.sampler import EpochSeededSampler
from glofwatch.errors import InputError


def pad_collate(items: list[dict[str, Any]], stride: int = 32) -> dict[str, Any]:
    """Stack samples into a batch, padding each to a common multiple of ``stride``.

    Args:
        items: dataset samples with "image" (C,H,W float), "mask" (H,W int64),
            "valid" (H,W bool), "id" (str).
        stride: H and W of the batch are rounded up to a multiple of this.

    Returns:
        dict with "image" (N,C,H,W), "mask" (N,H,W), "valid" (N,H,W), "id" (list),
        "size" (list of the original (H, W)).
    """
    h = max(it["image"].shape[-2] for it in items)
    w = max(it["image"].shape[-1] for it in items)
    h = -(-h // stride) * stride
    w = -(-w // stride) * stride
    images, masks, valids, sizes = [], [], [], []
    for it in items:
        ih, iw = it["image"].shape[-2:]
        pad = (0, w - iw, 0, h - ih)
        images.append(F.pad(it["image"], pad))
        masks.append(F.pad(it["mask"], pad))
        valids.append(F.pad(it["valid"], pad, value=False))
        sizes.append((ih, iw))
    return {
        "image": torch.stack(images),
        "mask": torch.stack(masks),
        "valid": torch.stack(valids),
        "id": [it["id"] for it in items],
        "size": sizes,
    }


class _Collate:
    """Picklable collate (worker processes need it)."""

    def __init__(self, stride: int) -> None:
        self.stride = stride

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return pad_collate(items, self.stride)


class GlacialLakesDataModule(L.LightningDataModule):
    """Training and validation loaders over one data root.

    Args:
        root: data root (study layout ``{train,test}/{images,labels}`` or ``{images,masks}``).
        batch_size: images per batch.
        val_fraction: share of the training split used for validation.
        seed: seed of the split, the sample order and the augmentation.
        augment: augmentation set name (none, study, robust).
        image_size: random training crop size (None: whole images).
        stride: the network's stride; batches are padded to a multiple of it.
        num_workers: loader worker processes.
        group_by: grouping of the crops for the split (see :mod:`glofwatch.data.groups`).
        test_fraction: share of a one-folder (generic) data set held out for testing.
        plan: a saved split plan to follow (a resumed run); drawn from the settings above when None.
    """

    def __init__(
        self,
        root: str | Path,
        batch_size: int = 8,
        val_fraction: float = 0.1,
        seed: int = 42,
        augment: str = "none",
        image_size: int | None = None,
        stride: int = 32,
        num_workers: int = 0,
        group_by: str = "none",
        test_fraction: float = 0.2,
        plan: SplitPlan | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.seed = seed
        self.augment = augment
        self.image_size = image_size
        self.stride = stride
        self.num_workers = num_workers
        self.group_by = group_by
        self.test_fraction = test_fraction
        self.plan = plan
        self.train_set: Subset | None = None
        self.val_set: Subset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        transform = build_augmentation(self.augment, self.image_size)
        train_full = GlacialLakesDataset(self.root, "train", transform=transform)
        train_full.seed = self.seed
        eval_full = GlacialLakesDataset(self.root, "train", transform=None)
        n = len(train_full)
        if n < 2 and self.val_fraction > 0:
            raise InputError(
                f"{self.root}: the train split has {n} image(s); at least 2 are needed to hold one back for validation"
            )
        if self.plan is None:
            self.plan = plan_splits(self.root, self.val_fraction, self.seed, self.group_by, self.test_fraction)
        train_idx = indices_of(train_full.image_paths, self.plan.names["train"])
        val_idx = indices_of(train_full.image_paths, self.plan.names["val"])
        self.train_set = Subset(train_full, train_idx)
        self.val_set = Subset(eval_full, val_idx) if val_idx else None

    def set_epoch(self, epoch: int) -> None:
        """Make the augmentation of ``epoch`` a function of (seed, epoch, index)."""
        if self.train_set is not None:
            cast(GlacialLakesDataset, self.train_set.dataset).set_epoch(epoch)  # as setup() built it

    def _loader(self, subset: Subset, train: bool) -> DataLoader:
        return DataLoader(
            subset,
            batch_size=self.batch_size,
            sampler=EpochSeededSampler(len(subset), self.seed, shuffle=train) if train else None,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=_Collate(self.stride),
            drop_last=False,
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return self._loader(self.val_set, train=False)

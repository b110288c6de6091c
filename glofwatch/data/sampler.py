"""A shuffling sampler whose order depends on (seed, epoch) only.

Lightning calls ``set_epoch`` on a sampler that has it at the start of every
epoch, so a resumed run sees the same order as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler[int]):
    """Yield ``0..n-1`` in an order fixed by ``(seed, epoch)``.

    Args:
        data_source_len: number of items ``n``.
        seed: base seed; epoch ``e`` uses ``torch.Generator().manual_seed(seed + e)``.
        shuffle: False yields ``0..n-1`` in order.
        dataset: optional object with ``set_epoch`` (e.g.
            :class:`~glofwatch.data.dataset.GlacialLakesDataset`, or the dataset
            under a ``Subset``) that is told the epoch too, so augmentation follows
            the same epoch as the order.

    Example:
        >>> s = EpochSeededSampler(4, seed=0)
        >>> s.set_epoch(1)
        >>> sorted(s)
        [0, 1, 2, 3]
    """

    def __init__(self, data_source_len: int, seed: int, shuffle: bool = True, dataset: Any = None) -> None:
        self.n = int(data_source_len)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0
        self.dataset = dataset

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration (and pass it to ``dataset``)."""
        self.epoch = int(epoch)
        if self.dataset is not None:
            target = getattr(self.dataset, "dataset", self.dataset)  # unwrap Subset
            if hasattr(target, "set_epoch"):
                target.set_epoch(self.epoch)

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n

"""split_train_val and EpochSeededSampler: determinism and edge cases."""

from __future__ import annotations

import pytest
from torch.utils.data import Subset

from glofwatch.data.sampler import EpochSeededSampler
from glofwatch.data.split import split_train_val
from glofwatch.errors import ConfigError


def test_split_known_values_and_determinism() -> None:
    assert split_train_val(10, 0.2, seed=0) == ([0, 1, 2, 3, 5, 7, 8, 9], [4, 6])
    assert split_train_val(10, 0.2, seed=0) == split_train_val(10, 0.2, seed=0)
    assert split_train_val(100, 0.2, seed=0) != split_train_val(100, 0.2, seed=1)


@pytest.mark.parametrize(
    "n, fraction, n_val", [(410, 0.2, 82), (2, 0.01, 1), (5, 0.99, 4), (1, 0.5, 0), (0, 0.2, 0), (7, 0.0, 0)]
)
def test_split_sizes(n: int, fraction: float, n_val: int) -> None:
    train, val = split_train_val(n, fraction, seed=3)
    assert len(val) == n_val and len(train) == n - n_val
    assert sorted(train + val) == list(range(n))
    assert train == sorted(train) and val == sorted(val)


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, float("nan")])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"val_fraction .* is outside \[0, 1\); use e\.g\. 0\.2"):
        split_train_val(10, fraction, seed=0)


def test_sampler_depends_on_seed_and_epoch_only() -> None:
    a, b = EpochSeededSampler(50, seed=7), EpochSeededSampler(50, seed=7)
    epoch0 = list(a)
    assert sorted(epoch0) == list(range(50)) and len(a) == 50
    assert list(a) == epoch0 == list(b)  # repeated iteration, other instance
    a.set_epoch(1)
    epoch1 = list(a)
    assert epoch1 != epoch0
    b.set_epoch(3)
    b.set_epoch(1)  # resume: only the epoch matters, not the history
    assert list(b) == epoch1
    assert list(EpochSeededSampler(50, seed=8)) != epoch0
    assert list(EpochSeededSampler(5, seed=7, shuffle=False)) == [0, 1, 2, 3, 4]


def test_sampler_passes_epoch_to_dataset_under_subset() -> None:
    class Recorder:
        epoch = -1

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __len__(self) -> int:
            return 4

    base = Recorder()
    sampler = EpochSeededSampler(2, seed=0, dataset=Subset(base, [1, 3]))
    sampler.set_epoch(4)
    assert base.epoch == 4

"""Deterministic train/validation split of one folder of pairs.

The study trains on 1000 crops and validates on its 200 test crops; data sets
in the generic layout have one folder, split here by a seeded permutation.
"""

from __future__ import annotations

import math

import numpy as np

from glofwatch.errors import ConfigError


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split indices ``0..n-1`` into train and validation.

    The validation set is the first ``round(n * val_fraction)`` items of
    ``numpy.random.default_rng(seed).permutation(n)`` (at least 1 when ``n >= 2``
    and ``val_fraction > 0``, at most ``n - 1``), so the same ``(n, val_fraction,
    seed)`` always gives the same split.

    Args:
        n: number of items (>= 0).
        val_fraction: share of items for validation, in [0, 1).
        seed: permutation seed.

    Returns:
        (train indices, validation indices), each sorted ascending.

    Raises:
        ConfigError: ``val_fraction`` outside [0, 1) or ``n`` < 0.

    Example:
        >>> split_train_val(10, 0.2, seed=0)
        ([0, 1, 2, 3, 5, 7, 8, 9], [4, 6])
    """
    if not (isinstance(val_fraction, (int, float)) and 0.0 <= float(val_fraction) < 1.0) or math.isnan(
        float(val_fraction)
    ):
        raise ConfigError(
            f"val_fraction {val_fraction} is outside [0, 1); use e.g. 0.2 for 20 % validation"
        )
    if n < 0:
        raise ConfigError(f"cannot split {n} items; n must be >= 0")
    n_val = int(round(n * float(val_fraction)))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    elif n < 2:
        n_val = 0
    order = np.random.default_rng(seed).permutation(n)
    val = sorted(int(i) for i in order[:n_val])
    train = sorted(int(i) for i in order[n_val:])
    return train, val


def split_groups(groups: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split items into (kept, held out) so that no group is on both sides.

    With one group per item (no two items share a name) this is exactly
    :func:`split_train_val` ``(len(groups), fraction, seed)``, so ungrouped runs
    keep their old splits. Otherwise sklearn's ``GroupShuffleSplit`` (one
    split, ``random_state=seed``) holds out ``fraction`` of the *groups*
    (rounded up, at least one), so the share of items held out follows the
    group sizes.

    Args:
        groups: one group name per item.
        fraction: share held out, in [0, 1).
        seed: seed of the split.

    Returns:
        (kept indices, held-out indices), each sorted ascending.

    Raises:
        ConfigError: ``fraction`` outside [0, 1), or a grouped split with fewer than two groups.

    Example:
        >>> split_groups(["a", "a", "b", "b", "c", "c"], 0.3, seed=0)[1] in ([0, 1], [2, 3], [4, 5])
        True
    """
    n = len(groups)
    names = sorted(set(groups))
    if len(names) == n:
        return split_train_val(n, fraction, seed)
    split_train_val(0, fraction, seed)  # checks the fraction
    if fraction == 0 or n == 0:
        return list(range(n)), []
    if len(names) < 2:
        raise ConfigError(f"all {n} items fall in one group ('{names[0]}'), so no group can be held out; "
                          "use a finer grouping or --group-by none")
    from sklearn.model_selection import GroupShuffleSplit

    codes = np.searchsorted(names, groups)
    splitter = GroupShuffleSplit(n_splits=1, test_size=float(fraction), random_state=seed)
    kept, held = next(splitter.split(np.zeros(n), groups=codes))
    return sorted(int(i) for i in kept), sorted(int(i) for i in held)

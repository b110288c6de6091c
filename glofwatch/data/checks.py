"""Check a whole data set before training: pairs, sizes, values, statistics.

:func:`check_dataset` reads every pair of every split, keeps going after a
problem and returns a :class:`DatasetReport` with per-split statistics and one
line per problem (file + fix). ``glofwatch data check ROOT`` prints it.

Statistics are over the pairs that could be read:

- ``lake_fraction``: per image, lake pixels / all pixels; mean, min, max over images.
- ``lakes_per_image``: connected lake regions per mask (8-connectivity,
  ``scipy.ndimage.label``); mean and max, plus the number of masks without lake.
- ``nodata_fraction``: per image, share of pixels where every channel is 0 or
  a channel is NaN (see :func:`glofwatch.data.io.valid_mask`); mean and max.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.data.dataset import (
    check_size,
    detect_layout,
    pair_files,
    split_dirs,
    study_splits,
)
from glofwatch.data.io import check_channels, read_image, read_mask, valid_mask
from glofwatch.errors import InputError

_EIGHT_CONNECTED = np.ones((3, 3), dtype=int)


@dataclass
class SplitStats:
    """Statistics of one split (a folder of image/mask pairs).

    Attributes:
        name: split name ("train", "test"; "all" for the generic layout).
        image_dir: images folder ("" when the split's folders are unusable).
        mask_dir: masks folder.
        n_pairs: image/mask pairs matched by name.
        n_read: pairs read without a problem (the statistics below cover these).
        sizes: ``{"HxW": count}`` image sizes, height first.
        dtypes: ``{"uint8": count}`` image dtypes.
        channels: ``{"3": count}`` image channel counts.
        lake_fraction_mean / _min / _max: per-image share of lake pixels (0..1).
        lakes_per_image_mean / _max: connected lake regions per mask (8-connectivity).
        images_without_lake: masks with no lake pixel.
        nodata_fraction_mean / _max: per-image share of no-data pixels (0..1).
    """

    name: str
    image_dir: str = ""
    mask_dir: str = ""
    n_pairs: int = 0
    n_read: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    dtypes: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    lake_fraction_mean: float = float("nan")
    lake_fraction_min: float = float("nan")
    lake_fraction_max: float = float("nan")
    lakes_per_image_mean: float = float("nan")
    lakes_per_image_max: int = 0
    images_without_lake: int = 0
    nodata_fraction_mean: float = float("nan")
    nodata_fraction_max: float = float("nan")


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found.

    Attributes:
        root: the data folder.
        layout: "study" or "generic".
        splits: one :class:`SplitStats` per split, in natural order.
        problems: one line per problem: file, what is wrong, the fix.
    """

    root: str
    layout: str
    splits: list[SplitStats] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN statistics become null when written with ``write_json_atomic``)."""
        return {
            "root": self.root,
            "layout": self.layout,
            "ok": self.ok,
            "n_problems": len(self.problems),
            "splits": [asdict(s) for s in self.splits],
            "problems": list(self.problems),
        }


@dataclass
class _ImageInfo:
    path: Path
    dtype: str
    channels: int


def check_dataset(root: str | os.PathLike[str], layout: str = "auto") -> DatasetReport:
    """Read every pair of every split under ``root`` and report statistics and problems.

    Args:
        root: data folder in the study (``ROOT/{train,test}/{images,labels}``) or
            generic (``ROOT/{images,masks}``) layout.
        layout: "auto", "study" or "generic".

    Returns:
        the report; problems cover unpaired and duplicate files, unreadable or
        corrupt files, size mismatches, non-binary masks, grayscale images,
        channel counts or dtypes that differ from the rest, and empty splits.

    Raises:
        InputError: ``root`` is missing or in no known layout.
    """
    root = Path(root)
    layout = detect_layout(root) if layout == "auto" else layout
    report = DatasetReport(root=str(root), layout=layout)
    names = ["all"] if layout == "generic" else study_splits(root)
    infos: list[_ImageInfo] = []
    for name in names:
        report.splits.append(_check_split(root, name, layout, report.problems, infos))
    report.problems.extend(_consistency_problems(infos))
    return report


def _check_split(
    root: Path, name: str, layout: str, problems: list[str], infos: list[_ImageInfo]
) -> SplitStats:
    stats = SplitStats(name=name)
    try:
        image_dir, mask_dir = split_dirs(root, name, layout)
    except InputError as exc:
        problems.append(str(exc))
        return stats
    stats.image_dir, stats.mask_dir = str(image_dir), str(mask_dir)
    pairing = pair_files(image_dir, mask_dir)
    problems.extend(pairing.problems)
    stats.n_pairs = len(pairing.pairs)

    sizes: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    lake_fractions: list[float] = []
    lake_counts: list[int] = []
    nodata_fractions: list[float] = []
    for image_path, mask_path in pairing.pairs:
        image = mask = None
        try:
            image = read_image(image_path, allow_gray=True)
            check_channels(image, image_path)
        except InputError as exc:
            problems.append(str(exc))
        try:
            mask = read_mask(mask_path)
        except InputError as exc:
            problems.append(str(exc))
        if image is not None:
            infos.append(_ImageInfo(image_path, str(image.dtype), int(image.shape[2])))
        if image is None or mask is None:
            continue
        try:
            check_size(image, mask, mask_path)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if image.shape[2] == 1:
            continue  # already reported; keep the statistics to usable pairs
        h, w = mask.shape
        sizes[f"{h}x{w}"] += 1
        dtypes[str(image.dtype)] += 1
        channels[str(image.shape[2])] += 1
        lake_fractions.append(float(mask.mean()))
        lake_counts.append(_count_lakes(mask))
        nodata_fractions.append(1.0 - float(valid_mask(image).mean()))

    stats.n_read = len(lake_fractions)
    stats.sizes, stats.dtypes, stats.channels = dict(sizes), dict(dtypes), dict(channels)
    if lake_fractions:
        stats.lake_fraction_mean = float(np.mean(lake_fractions))
        stats.lake_fraction_min = float(np.min(lake_fractions))
        stats.lake_fraction_max = float(np.max(lake_fractions))
        stats.lakes_per_image_mean = float(np.mean(lake_counts))
        stats.lakes_per_image_max = int(np.max(lake_counts))
        stats.images_without_lake = int(sum(c == 0 for c in lake_counts))
        stats.nodata_fraction_mean = float(np.mean(nodata_fractions))
        stats.nodata_fraction_max = float(np.max(nodata_fractions))
    return stats


def _count_lakes(mask: np.ndarray) -> int:
    """Connected lake regions in a {0, 1} mask (8-connectivity)."""
    from scipy import ndimage

    _, n = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    return int(n)


def _consistency_problems(infos: list[_ImageInfo]) -> list[str]:
    """Images whose channel count or dtype differs from most images (grayscale excluded)."""
    colour = [i for i in infos if i.channels > 1]
    problems: list[str] = []
    if not colour:
        return problems
    main_channels = Counter(i.channels for i in colour).most_common(1)[0][0]
    main_dtype = Counter(i.dtype for i in colour).most_common(1)[0][0]
    for info in colour:
        if info.channels != main_channels:
            problems.append(
                f"{info.path}: image has {info.channels} channels but most images have "
                f"{main_channels}; re-export it like the others or remove it"
            )
        elif info.dtype != main_dtype:
            problems.append(
                f"{info.path}: image is {info.dtype} but most images are {main_dtype}; "
                f"re-export it like the others or remove it"
            )
    return problems

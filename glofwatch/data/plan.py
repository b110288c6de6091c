"""Which crops a run trains, validates and is tested on: the split plan saved as ``RUN/split.json``.

Study layout (``ROOT/{train,test}``): validation is a seeded share of
``train``; ``test`` is the data set's own test folder.

Generic layout (``ROOT/{images,masks}``, one folder): a seeded
``test_fraction`` of the crops is held out as the test split first, then
``val_fraction`` of the rest is held back for validation; the rest trains.
Both draws keep groups whole (:mod:`glofwatch.data.groups`), so crops cut
from one scene never sit on both sides.

The plan lists every file by name and the content digest of every training
and validation image, so an evaluation can prove it never scores a crop the
model learnt from or was selected on (:func:`overlap`), whatever the folder,
link or copy it comes from.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.data.dataset import detect_layout, pair_files, split_dirs, study_splits
from glofwatch.data.groups import GroupSpec, group_labels
from glofwatch.data.split import split_groups
from glofwatch.errors import InputError
from glofwatch.io.atomic import write_json_atomic
from glofwatch.io.files import read_json

PLAN_FILE = "split.json"
PLAN_VERSION = 1
_DIGEST_CHUNK = 1 << 20


def file_digest(path: str | Path) -> str:
    """First 16 hex digits of the SHA-1 of a file's bytes (links are followed)."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while chunk := fh.read(_DIGEST_CHUNK):
            h.update(chunk)
    return h.hexdigest()[:16]


@dataclass
class SplitPlan:
    """The crops of each split of one run.

    Attributes:
        data_root: the data root (resolved).
        layout: "study" or "generic".
        group_by: the grouping (:class:`~glofwatch.data.groups.GroupSpec` string).
        seed: seed of the draws.
        val_fraction: share of the training crops held back for validation.
        test_fraction: share of a generic folder held out for testing (None for the study layout).
        names: image file names per split ("train", "val", and "test").
        groups: number of groups per split.
        digests: image file name -> content digest, for the train and val crops.
    """

    data_root: str
    layout: str
    group_by: str
    seed: int
    val_fraction: float
    test_fraction: float | None
    names: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def folder_split(self) -> str:
        """The dataset split (sub-folder) the train and val crops come from."""
        return "train" if self.layout == "study" else "all"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``split.json``)."""
        return {"version": PLAN_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitPlan:
        """Inverse of :meth:`to_dict`."""
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})

    def describe(self) -> str:
        """One line: counts per split and the grouping."""
        parts = [f"{len(v)} {k}" for k, v in self.names.items()]
        counts = ", ".join(f"{v} {k}" for k, v in self.groups.items())
        g = "" if self.group_by == "none" else f", grouped by {self.group_by} ({counts} groups)"
        return f"{' / '.join(parts)} crops{g}"


def _pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    image_dir, mask_dir = split_dirs(root, split)
    pairing = pair_files(image_dir, mask_dir)
    if pairing.problems:
        raise InputError(f"{pairing.problems[0]} ({len(pairing.problems)} problem(s); "
                         f"`glofwatch data check {root}` lists all)")
    return pairing.pairs


def plan_splits(root: str | Path, val_fraction: float, seed: int, group_by: str = "none",
                test_fraction: float = 0.2) -> SplitPlan:
    """Draw the split plan of ``root`` (see the module docstring).

    Args:
        root: data root, study or generic layout.
        val_fraction: share of the training crops (their groups) held back for validation.
        seed: seed of both draws.
        group_by: grouping string (``none``, ``regex:...``, ``csv:...``, ``footprint``).
        test_fraction: generic layout only: share of the crops (their groups) held out for testing.

    Raises:
        InputError: unpaired files, or a grouping that cannot place a file.
        ConfigError: fractions outside [0, 1), or too few groups to split.
    """
    root = Path(root)
    spec = GroupSpec.parse(group_by)
    layout = detect_layout(root)
    pairs = _pairs(root, "train" if layout == "study" else "all")
    images = [img for img, _ in pairs]
    groups = group_labels(spec, images)
    names: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    pool = list(range(len(images)))
    if layout == "generic":
        kept, held = split_groups(groups, test_fraction, seed)
        names["test"] = [images[i].name for i in held]
        counts["test"] = len({groups[i] for i in held})
        pool = kept
    sub = [groups[i] for i in pool]
    tr, va = split_groups(sub, val_fraction, seed)
    names["train"] = [images[pool[i]].name for i in tr]
    names["val"] = [images[pool[i]].name for i in va]
    counts["train"] = len({sub[i] for i in tr})
    counts["val"] = len({sub[i] for i in va})
    if layout == "study" and "test" in study_splits(root):
        names["test"] = [img.name for img, _ in _pairs(root, "test")]  # the data set's own test folder, as it is
    by_name = {img.name: img for img in images}
    digests = {n: file_digest(by_name[n]) for n in names["train"] + names["val"]}
    order = ("train", "val", "test")
    return SplitPlan(str(root.resolve()), layout, str(spec), int(seed), float(val_fraction),
                     float(test_fraction) if layout == "generic" else None,
                     {k: names[k] for k in order if k in names}, {k: counts[k] for k in order if k in counts}, digests)


def write_plan(run_dir: str | Path, plan: SplitPlan) -> Path:
    """Write ``RUN/split.json`` atomically."""
    return write_json_atomic(Path(run_dir) / PLAN_FILE, plan.to_dict())


def read_plan(run_dir: str | Path) -> SplitPlan | None:
    """The plan saved in ``run_dir``, or None for runs that saved none."""
    d = read_json(Path(run_dir) / PLAN_FILE)
    return SplitPlan.from_dict(d) if d else None


def indices_of(ids_or_paths: list[Path], names: list[str]) -> list[int]:
    """Positions of the files named ``names`` among ``ids_or_paths`` (data set order).

    Raises:
        InputError: a planned file is no longer in the folder.
    """
    pos = {Path(p).name: i for i, p in enumerate(ids_or_paths)}
    missing = [n for n in names if n not in pos]
    if missing:
        raise InputError(f"{missing[0]}: listed in the run's split.json but not in the data folder "
                         f"({len(missing)} missing); restore the files or start a new run")
    return sorted(pos[n] for n in names)


def overlap(plan: SplitPlan, images: list[Path]) -> dict[str, list[str]]:
    """Which of ``images`` (by content) the plan trained or validated on.

    Returns:
        ``{"train": [file names], "val": [file names]}``.
    """
    digest_split = {}
    for split in ("train", "val"):
        for name in plan.names.get(split, []):
            d = plan.digests.get(name)
            if d:
                digest_split[d] = split
    out: dict[str, list[str]] = {"train": [], "val": []}
    if not digest_split:
        return out
    for p in images:
        hit = digest_split.get(file_digest(p))
        if hit:
            out[hit].append(Path(p).name)
    return out

"""Turn one folder of image/mask pairs into the study layout with a held-out test split.

Real data sets often come as one folder (``ROOT/{images,masks}``); scoring a
model trained on them needs crops it never saw. :func:`make_holdout` draws a
seeded test share and writes ``OUT/{train,test}/{images,labels}`` as symbolic
links (no copy of data that may not be redistributed) or as copies, plus
``OUT/split.json`` listing every file, so the split is reproducible and
auditable.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from glofwatch.data.dataset import IMAGE_DIR, pair_files, split_dirs
from glofwatch.data.groups import GroupSpec, group_labels
from glofwatch.data.split import split_groups
from glofwatch.errors import InputError
from glofwatch.io.atomic import write_json_atomic

LABEL_DIR = "labels"


def make_holdout(root: str | Path, out: str | Path, test_fraction: float = 0.2, seed: int = 0,
                 split: str = "all", copy: bool = False, group_by: str = "none") -> dict[str, Any]:
    """Split the pairs of ``root`` (``split`` for study-layout roots) into ``out/train`` and ``out/test``.

    The test set is :func:`~glofwatch.data.split.split_groups` of the
    natural-sorted pairs with ``(test_fraction, seed)``: the same inputs always
    give the same split. With a grouping (``group_by``, see
    :mod:`glofwatch.data.groups`) every group lies wholly in train or in test,
    and ``test_fraction`` is the share of groups held out.

    Returns:
        The summary written to ``out/split.json`` (counts, seed, file names per split).

    Raises:
        InputError: unpaired files in ``root``, or ``out`` already holds data.
        ConfigError: ``test_fraction`` outside [0, 1).
    """
    root, out = Path(root), Path(out)
    image_dir, mask_dir = split_dirs(root, split)
    pairing = pair_files(image_dir, mask_dir)
    if pairing.problems:
        raise InputError(
            f"{pairing.problems[0]} ({len(pairing.problems)} problem(s); `glofwatch data check {root}` lists all)"
        )
    if any((out / s).exists() for s in ("train", "test")):
        raise InputError(f"{out}: already holds train/ or test/; choose a new folder or delete it")
    spec = GroupSpec.parse(group_by)
    groups = group_labels(spec, [img for img, _ in pairing.pairs])
    train_idx, test_idx = split_groups(groups, test_fraction, seed)
    names: dict[str, list[str]] = {}
    for split_name, idx in (("train", train_idx), ("test", test_idx)):
        names[split_name] = []
        for i in idx:
            image, mask = pairing.pairs[i]
            for src, sub in ((image, IMAGE_DIR), (mask, LABEL_DIR)):
                dst = out / split_name / sub / src.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if copy:
                    shutil.copy2(src, dst)
                else:
                    os.symlink(src.resolve(), dst)
            names[split_name].append(image.name)
    summary = {"source": str(root.resolve()), "test_fraction": test_fraction, "seed": seed, "group_by": str(spec),
               "groups": {"train": len({groups[i] for i in train_idx}), "test": len({groups[i] for i in test_idx})},
               "mode": "copy" if copy else "symlink", "train": len(train_idx), "test": len(test_idx),
               "files": names}
    write_json_atomic(out / "split.json", summary)
    return summary

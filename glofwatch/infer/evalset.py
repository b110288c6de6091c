"""Which crops an evaluation scores, and the guard that never reports training crops as test.

:func:`eval_items` turns ``(data root, split name, run)`` into a data set and
the indices to score:

- the run's own one-folder (generic) data root: ``test``, ``val`` and ``train``
  are the crops of the run's saved split plan (``RUN/split.json``), ``all`` the
  whole folder;
- a study-layout root: the split's folder (``val``: the run's validation crops of
  ``train`` when it is the run's root);
- any other generic folder: the whole folder, whatever the split name.

Then the guard: unless the split is called ``train`` or ``val``, no scored crop
may be one the run trained or was selected on. Crops are compared by content
(:func:`glofwatch.data.plan.overlap`), so links, copies and renamed files are
caught too. Runs from before split plans were saved cannot be checked by
content; for them the run's own one-folder root is refused for ``test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError

SELF_SPLITS = ("train", "val")
"""Split names that announce the crops were seen in training (scores are labelled so)."""


@dataclass
class EvalItems:
    """The crops of one evaluation.

    Attributes:
        dataset: the :class:`~glofwatch.data.dataset.GlacialLakesDataset` they come from.
        indices: positions in ``dataset`` to score, in order.
        split: the split name the scores are reported under.
        source: how the crops were chosen (one line, kept in ``metrics.json``).
    """

    dataset: Any
    indices: list[int]
    split: str
    source: str


def run_dir_of(run: str | Path | None, bundle: Any = None) -> Path | None:
    """The run folder of ``run`` (a folder or a file in one), else the one recorded in the bundle's meta."""
    from glofwatch.models.bundle import run_folder

    if run is not None and Path(run).exists():
        folder = run_folder(run)
        if (folder / "config.yaml").is_file() or (folder / "split.json").is_file():
            return folder
    recorded = (getattr(bundle, "meta", None) or {}).get("run_dir")
    return Path(recorded) if recorded and Path(recorded).is_dir() else None


def eval_items(root: str | Path, split: str, run: str | Path | None = None, bundle: Any = None) -> EvalItems:
    """The crops to score for ``split`` of ``root`` on behalf of ``run`` (see the module docstring).

    Raises:
        InputError: the crops include ones the run trained or was validated on while the split
            claims they are held out; or a planned file is missing.
    """
    from glofwatch.data.dataset import GlacialLakesDataset, detect_layout
    from glofwatch.data.plan import PLAN_FILE, indices_of, overlap, read_plan
    from glofwatch.models.bundle import read_run_info

    root = Path(root)
    run_dir = run_dir_of(run, bundle)
    plan = read_plan(run_dir) if run_dir is not None else None
    layout = detect_layout(root)
    own = plan if plan is not None and Path(plan.data_root) == root.resolve() else None  # the run's plan of root
    plan_path = run_dir / PLAN_FILE if run_dir is not None else None  # set whenever plan is
    if layout == "generic" and own is not None and split in own.names:
        ds = GlacialLakesDataset(root, "all")
        items = EvalItems(ds, indices_of(ds.image_paths, own.names[split]), split,
                          f"the run's held-out '{split}' crops of a one-folder data set ({plan_path})")
    elif layout == "generic" and own is not None and split != "all":
        raise InputError(f"{root}: the run's split plan has no '{split}' crops (it has {', '.join(own.names)}); "
                         "use --split test, or train again with --set test_fraction=0.2")
    elif layout == "study" and own is not None and split == "val":
        ds = GlacialLakesDataset(root, "train")
        items = EvalItems(ds, indices_of(ds.image_paths, own.names["val"]), split,
                          f"the run's validation crops of {root}/train ({plan_path})")
    else:
        ds = GlacialLakesDataset(root, split)
        what = "the whole folder" if layout == "generic" else f"the '{split}' folder"
        items = EvalItems(ds, list(range(len(ds))), split, f"{what} of {root}")
    if split in SELF_SPLITS:
        return items
    target = f"`glofwatch evaluate {run_dir} --split test`" if run_dir else "the run's held-out test split"
    if plan is not None:
        seen = overlap(plan, [ds.image_paths[i] for i in items.indices])
        n_seen = len(seen["train"]) + len(seen["val"])
        if n_seen:
            first = (seen["train"] or seen["val"])[0]
            raise InputError(
                f"{root}: {n_seen} of the {len(items.indices)} crops to score as '{split}' were used to train or "
                f"select the model ({len(seen['train'])} train, {len(seen['val'])} validation, e.g. {first}); "
                f"score held-out crops with {target}, or pass --split train/val to label them as seen"
            )
        return items
    info = read_run_info(run_dir) if run_dir is not None else {}
    if layout == "generic" and info.get("data_root") and Path(info["data_root"]) == root.resolve():
        raise InputError(
            f"{root}: the run trained on this one-folder data set and saved no split plan, so its test crops are "
            f"unknown; hold out a test split with `glofwatch data split {root} OUT` and train on OUT/, "
            "or pass --split train"
        )
    return items

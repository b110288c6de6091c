"""A glofwatch mask data set as an ultralytics YOLO segmentation folder, cached.

Layout written (``CACHE`` = :func:`yolo_cache_dir`)::

    CACHE/data.yaml                  path, train/val/test folders, nc: 1, names: [lake]
    CACHE/images/{train,val,test}/   symlinks to the original crops (8-bit RGB PNG/JPEG),
                                     or 8-bit RGB PNG renderings of other images (TIFF, 16-bit)
    CACHE/labels/{train,val,test}/   one ``<id>.txt`` per image (empty: no lake)
    CACHE/manifest.json              fingerprint, settings, label statistics per split

``train``/``val`` split the data set's training images with
:func:`glofwatch.data.split.split_train_val` and the run's seed, exactly as the
semantic models do, so the validation images are never test images.
``test`` holds the study layout's test split when there is one.

The folder is rebuilt when the fingerprint changes: the SHA-256 of every
image and mask file name, size and modification time, plus the conversion
settings. A rebuild is written beside the old folder and swapped in by renames.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.data.yolo_labels import LabelStats, format_label_lines, mask_to_polygons
from glofwatch.errors import ConfigError, InputError
from glofwatch.io.atomic import write_json_atomic, write_text_atomic
from glofwatch.io.files import cache_root

FORMAT_VERSION = 1
CLASS_NAMES = ("lake",)
SYMLINK_SUFFIXES = (".png", ".jpg", ".jpeg")
YOLO_OPTIONS = ("min_area_px", "holes")
"""Label-conversion settings a YOLO run takes in its ``loss_params``."""


def label_options(cfg: Any) -> dict[str, Any]:
    """``min_area_px`` and ``holes`` of the label conversion, from a config's ``loss_params``."""
    return {"min_area_px": int(cfg.loss_params.get("min_area_px", 4)),
            "holes": str(cfg.loss_params.get("holes", "bridge"))}


@dataclass
class YoloDataset:
    """A prepared YOLO folder.

    Attributes:
        root: the folder.
        yaml: its ``data.yaml``.
        fingerprint: hash of the inputs and settings it was built from.
        rebuilt: True when this call (re)wrote it, False when the cache was reused.
        splits: image ids per YOLO split ("train", "val", and "test" when present).
        stats: label statistics per split (see :class:`LabelStats`).
    """

    root: Path
    yaml: Path
    fingerprint: str
    rebuilt: bool
    splits: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def split_yaml(self, split: str) -> Path:
        """A ``data.yaml`` whose ``val`` entry is ``split`` ("train" = train + val, "val", "test")."""
        folders = {"train": ["images/train", "images/val"], "val": ["images/val"], "test": ["images/test"]}
        if split not in folders or (split == "test" and "test" not in self.splits):
            raise InputError(f"{self.root}: no YOLO split '{split}'; use one of {', '.join(self.splits)}")
        path = self.root / f"data-{split}.yaml"
        write_text_atomic(path, _yaml_text(self.root, "images/train", folders[split], None))
        return path


def yolo_cache_dir(
    data_root: str | os.PathLike[str], val_fraction: float, seed: int, min_area_px: int, holes: str
) -> Path:
    """Default cache folder of one data root and conversion setting (under :func:`cache_root`)."""
    root = Path(data_root).resolve()
    key = hashlib.sha1(f"{root}|{val_fraction}|{seed}|{min_area_px}|{holes}".encode()).hexdigest()[:12]
    return cache_root() / "yolo-data" / f"{root.name}-{key}"


def _yaml_text(root: Path, train: str | list[str], val: str | list[str], test: str | None) -> str:
    import yaml

    data: dict[str, Any] = {"path": str(root), "train": train, "val": val}
    if test:
        data["test"] = test
    data.update({"nc": len(CLASS_NAMES), "names": list(CLASS_NAMES)})
    return yaml.safe_dump(data, sort_keys=False)


def _source_splits(
    data_root: Path, val_fraction: float, seed: int, plan: Any = None
) -> dict[str, list[tuple[Path, Path]]]:
    """(image, mask) pairs per YOLO split, as the run's split plan says (drawn ungrouped when not given)."""
    from glofwatch.data.dataset import GlacialLakesDataset
    from glofwatch.data.plan import indices_of, plan_splits

    if val_fraction <= 0:
        raise ConfigError(
            f"{data_root}: YOLO training needs validation images from the train split "
            f"(val_fraction={val_fraction}); use val_fraction > 0 and at least 2 images"
        )
    plan = plan or plan_splits(data_root, val_fraction, seed)
    train = GlacialLakesDataset(data_root, plan.folder_split)
    pairs = list(zip(train.image_paths, train.mask_paths, strict=True))
    if len(pairs) < 2 or not plan.names.get("val"):
        raise ConfigError(
            f"{data_root}: YOLO training needs validation images from the train split "
            f"({len(pairs)} image(s), val_fraction={val_fraction}); use val_fraction > 0 and at least 2 images"
        )
    out = {s: [pairs[i] for i in indices_of(train.image_paths, plan.names[s])] for s in ("train", "val")}
    if plan.layout == "generic" and plan.names.get("test"):
        out["test"] = [pairs[i] for i in indices_of(train.image_paths, plan.names["test"])]
    elif plan.layout == "study" and plan.names.get("test"):
        test = GlacialLakesDataset(data_root, "test")
        out["test"] = list(zip(test.image_paths, test.mask_paths, strict=True))
    return out


def fingerprint(splits: dict[str, list[tuple[Path, Path]]], settings: dict[str, Any]) -> str:
    """SHA-256 of file names, sizes and modification times of every pair, and ``settings``."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for split in sorted(splits):
        for image, mask in splits[split]:
            for p in (image, mask):
                st = p.stat()
                h.update(f"{split}|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _needs_render(path: Path) -> bool:
    """True unless ``path`` is an 8-bit RGB PNG/JPEG that ultralytics reads as it is."""
    if path.suffix.lower() not in SYMLINK_SUFFIXES:
        return True
    from PIL import Image

    with Image.open(path) as im:
        return im.mode != "RGB"


def _write_split(folder: Path, split: str, pairs: list[tuple[Path, Path]], min_area_px: int, holes: str) -> LabelStats:
    from glofwatch.data.io import read_image, read_mask
    from glofwatch.io.image import save_png, to_display_rgb

    img_dir, lbl_dir = folder / "images" / split, folder / "labels" / split
    img_dir.mkdir(parents=True)
    lbl_dir.mkdir(parents=True)
    total = LabelStats()
    for image_path, mask_path in pairs:
        mask = read_mask(mask_path)
        h, w = mask.shape
        if _needs_render(image_path):
            image = read_image(image_path)
            if image.shape[:2] != (h, w):
                raise InputError(f"{mask_path}: mask is {w}x{h}, image {image.shape[1]}x{image.shape[0]}; "
                                 "re-export the mask at image size")
            save_png(img_dir / f"{image_path.stem}.png", to_display_rgb(image))
        else:
            os.symlink(image_path.resolve(), img_dir / image_path.name)
        polygons, stats = mask_to_polygons(mask, min_area_px=min_area_px, holes=holes)
        total.add(stats)
        (lbl_dir / f"{image_path.stem}.txt").write_text(format_label_lines(polygons, h, w))
    return total


def prepare_yolo_dataset(
    data_root: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 42,
    min_area_px: int = 4,
    holes: str = "bridge",
    plan: Any = None,
) -> YoloDataset:
    """Convert (or reuse) the YOLO folder of ``data_root``.

    Args:
        data_root: glofwatch data root (study or generic layout).
        cache_dir: where to write; default :func:`yolo_cache_dir`.
        val_fraction: share of the train split held back for validation.
        seed: seed of the train/validation split (the run's seed).
        min_area_px: connected lakes below this many pixels are dropped.
        holes: "bridge" or "fill" (see :mod:`glofwatch.data.yolo_labels`).
        plan: the run's :class:`~glofwatch.data.plan.SplitPlan` (grouped splits, a one-folder data
            set's held-out test crops); drawn ungrouped from ``val_fraction`` and ``seed`` when None.

    Returns:
        The :class:`YoloDataset`.
    """
    data_root = Path(data_root)
    folder = Path(cache_dir) if cache_dir else yolo_cache_dir(data_root, val_fraction, seed, min_area_px, holes)
    splits = _source_splits(data_root, val_fraction, seed, plan)
    settings = {"format": FORMAT_VERSION, "val_fraction": val_fraction, "seed": seed,
                "min_area_px": min_area_px, "holes": holes, "data_root": str(data_root.resolve())}
    fp = fingerprint(splits, settings)
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError:
            manifest = {}
        if manifest.get("fingerprint") == fp and (folder / "data.yaml").is_file():
            return YoloDataset(folder, folder / "data.yaml", fp, False, manifest["splits"], manifest["stats"])

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    tmp.chmod(0o755)
    try:
        stats = {s: _write_split(tmp, s, pairs, min_area_px, holes).to_dict() for s, pairs in splits.items()}
        ids = {s: [img.stem for img, _ in pairs] for s, pairs in splits.items()}
        # ultralytics reads paths relative to `path`, which must be the final folder
        test_dir = "images/test" if "test" in splits else None
        (tmp / "data.yaml").write_text(_yaml_text(folder, "images/train", "images/val", test_dir))
        write_json_atomic(tmp / "manifest.json",
                          {"fingerprint": fp, "settings": settings, "splits": ids, "stats": stats})
        old = None
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return YoloDataset(folder, folder / "data.yaml", fp, True, ids, stats)

"""Mask -> YOLO polygon labels: round trip, holes, specks, and the cached YOLO folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from glof_yolo_helpers import write_lake_crops
from PIL import Image
from typer.testing import CliRunner

from glofwatch.data.split import split_train_val
from glofwatch.data.yolo_dataset import prepare_yolo_dataset
from glofwatch.data.yolo_labels import (
    format_label_lines,
    mask_to_polygons,
    parse_label_lines,
    polygons_to_mask,
)
from glofwatch.errors import ConfigError


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def shapes_mask() -> np.ndarray:
    """64x64: a lake with an island, an elongated lake, a lake on the border, two specks (1 px and 2 px)."""
    m = np.zeros((64, 64), np.uint8)
    cv2.circle(m, (20, 20), 12, 1, -1)
    cv2.circle(m, (20, 20), 4, 0, -1)  # island: 49 px hole
    cv2.ellipse(m, (45, 45), (16, 3), 30, 0, 360, 1, -1)  # elongated, 33 x 7 px
    m[0:5, 30:40] = 1  # touches the top border
    m[2, 60] = 1  # 1 px speck
    m[60, 2:4] = 1  # 2 px speck
    return m


def test_round_trip_bridges_holes_and_drops_specks() -> None:
    m = shapes_mask()
    polys, stats = mask_to_polygons(m, min_area_px=4)
    assert (stats.lakes, stats.specks_dropped, stats.speck_pixels, stats.holes_bridged) == (3, 2, 3, 1)
    text = format_label_lines(polys, 64, 64)
    lines = text.splitlines()
    assert len(lines) == 3 and all(line.startswith("0 ") for line in lines)
    coords = np.array([float(v) for line in lines for v in line.split()[1:]])
    assert coords.min() >= 0.0 and coords.max() <= 1.0
    back = polygons_to_mask(parse_label_lines(text), 64, 64, normalized=True)
    expected = m.copy()
    expected[2, 60] = 0
    expected[60, 2:4] = 0
    assert back[20, 20] == 0  # the island stays out of the lake
    assert iou(back, expected) > 0.98
    assert int((back != expected).sum()) == 0  # cv2 fill of pixel-centre rings is exact here


@pytest.mark.parametrize("name", ["hole", "elongated", "border"])
def test_each_shape_round_trips(name: str) -> None:
    m = np.zeros((64, 64), np.uint8)
    if name == "hole":
        cv2.rectangle(m, (10, 10), (50, 40), 1, -1)
        cv2.rectangle(m, (20, 20), (25, 30), 0, -1)
        cv2.circle(m, (40, 25), 3, 0, -1)  # two holes
    elif name == "elongated":
        cv2.line(m, (3, 60), (60, 8), 1, 2)
    else:
        m[40:64, 0:20] = 1
    polys, stats = mask_to_polygons(m)
    assert stats.lakes == 1
    back = polygons_to_mask(polys, 64, 64)
    assert iou(back, m) > 0.98


def test_fill_mode_drops_holes_and_counts_them() -> None:
    m = shapes_mask()
    polys, stats = mask_to_polygons(m, min_area_px=4, holes="fill")
    assert (stats.holes_filled, stats.holes_bridged) == (1, 0)
    back = polygons_to_mask(polys, 64, 64)
    assert back[20, 20] == 1  # island became lake
    assert int(back.sum() - m.sum()) == 49 - 3  # + island pixels - dropped specks


def test_min_area_and_empty_mask() -> None:
    m = shapes_mask()
    _, stats = mask_to_polygons(m, min_area_px=200)  # only the ring lake (~400 px) is kept
    assert (stats.lakes, stats.specks_dropped) == (1, 4)
    polys, stats = mask_to_polygons(np.zeros((8, 8), np.uint8))
    assert polys == [] and stats.empty_images == 1 and format_label_lines(polys, 8, 8) == ""


def test_bad_hole_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"holes='keep' is not allowed; use one of bridge, fill"):
        mask_to_polygons(np.zeros((4, 4), np.uint8), holes="keep")


def test_yolo_folder_layout_and_split(tmp_path: Path) -> None:
    root = write_lake_crops(tmp_path / "data", n_train=8, n_test=4)
    data = prepare_yolo_dataset(root, tmp_path / "cache", val_fraction=0.25, seed=42)
    assert data.rebuilt
    spec = yaml.safe_load(data.yaml.read_text())
    assert spec["nc"] == 1 and spec["names"] == ["lake"] and spec["path"] == str(tmp_path / "cache")
    assert (spec["train"], spec["val"], spec["test"]) == ("images/train", "images/val", "images/test")
    _, val_idx = split_train_val(8, 0.25, 42)
    assert data.splits["val"] == [f"img_{i}" for i in val_idx]  # the semantic models' validation images
    assert set(data.splits["test"]) == {f"img_{i}" for i in range(4)}
    img = data.root / "images" / "train" / f"{data.splits['train'][0]}.png"
    assert img.is_symlink() and img.resolve() == (root / "train" / "images" / img.name).resolve()
    for split, ids in data.splits.items():
        for i in ids:
            assert (data.root / "labels" / split / f"{i}.txt").is_file()
    assert (data.root / "labels" / "test" / "img_0.txt").read_text() == ""  # background image
    assert data.stats["test"]["empty_images"] >= 1
    # the split YAML for scoring one split
    assert yaml.safe_load(data.split_yaml("test").read_text())["val"] == ["images/test"]


def test_cache_is_reused_and_redone_when_a_mask_changes(tmp_path: Path) -> None:
    root = write_lake_crops(tmp_path / "data", n_train=6, n_test=2)
    first = prepare_yolo_dataset(root, tmp_path / "cache", val_fraction=0.25, seed=1)
    again = prepare_yolo_dataset(root, tmp_path / "cache", val_fraction=0.25, seed=1)
    assert first.rebuilt and not again.rebuilt and again.fingerprint == first.fingerprint

    mask_path = root / "test" / "labels" / "img_0.png"  # had no lake
    m = np.zeros((64, 64), np.uint8)
    m[10:20, 10:30] = 255
    Image.fromarray(m).save(mask_path)
    st = mask_path.stat()
    os.utime(mask_path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    changed = prepare_yolo_dataset(root, tmp_path / "cache", val_fraction=0.25, seed=1)
    assert changed.rebuilt and changed.fingerprint != first.fingerprint
    polys = parse_label_lines((changed.root / "labels" / "test" / "img_0.txt").read_text())
    assert len(polys) == 1
    assert iou(polygons_to_mask(polys, 64, 64, normalized=True), m > 0) > 0.98

    other = prepare_yolo_dataset(root, tmp_path / "cache", val_fraction=0.25, seed=1, min_area_px=9)
    assert other.rebuilt  # settings are part of the fingerprint
    assert not any(p.name.startswith(".") for p in (tmp_path).iterdir())  # no temp folders left


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_non_rgb_images_are_rendered_and_no_validation_is_refused(tmp_path: Path) -> None:
    import rasterio

    root = tmp_path / "generic"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):
        data = np.random.default_rng(i).integers(100, 3000, (4, 32, 32)).astype(np.uint16)
        with rasterio.open(root / "images" / f"s{i}.tif", "w", driver="GTiff", height=32, width=32, count=4,
                           dtype="uint16") as dst:
            dst.write(data)
        m = np.zeros((32, 32), np.uint8)
        m[5:15, 5:15] = 255
        Image.fromarray(m).save(root / "masks" / f"s{i}.png")
    data = prepare_yolo_dataset(root, tmp_path / "cache", val_fraction=0.34, seed=0)
    # a one-folder data set is split three ways, each crop on one side only (the test crop is held out)
    assert sorted(n for names in data.splits.values() for n in names) == ["s0", "s1", "s2"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 1, "val": 1, "test": 1}
    png = data.root / "images" / "train" / f"{data.splits['train'][0]}.png"
    assert not png.is_symlink()
    with Image.open(png) as im:
        assert im.mode == "RGB" and im.size == (32, 32)
    with pytest.raises(ConfigError, match=r"YOLO training needs validation images .* use val_fraction > 0"):
        prepare_yolo_dataset(root, tmp_path / "cache2", val_fraction=0.0, seed=0)


def test_cli_writes_labels_and_reports_counts(tmp_path: Path) -> None:
    from glofwatch.cli.app import app

    root = write_lake_crops(tmp_path / "data", n_train=4, n_test=2)
    out = tmp_path / "yolo"
    result = CliRunner().invoke(app, ["data", "yolo", str(root), "--out", str(out), "--val-fraction", "0.25"])
    assert result.exit_code == 0, result.output
    assert "written" in result.output and "train" in result.output and "test" in result.output
    assert (out / "data.yaml").is_file()
    t0 = time.monotonic()
    result = CliRunner().invoke(app, ["data", "yolo", str(root), "--out", str(out), "--val-fraction", "0.25"])
    assert "cached" in result.output and time.monotonic() - t0 < 5
    bad = CliRunner().invoke(app, ["data", "yolo", str(root), "--out", str(out), "--holes", "keep"])
    assert bad.exit_code == 2 and "holes='keep' is not allowed" in bad.output

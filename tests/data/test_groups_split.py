"""Grouped splits: groups from names, a CSV, footprints and copies, kept whole on one side; saved split plans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from glof_data_helpers import crop_image, make_pairs, square_mask, write_png

from glofwatch.data.groups import GroupSpec, group_labels
from glofwatch.data.holdout import make_holdout
from glofwatch.data.plan import file_digest, overlap, plan_splits
from glofwatch.data.split import split_groups, split_train_val
from glofwatch.errors import ConfigError, InputError


def test_parse_group_specs_and_their_errors() -> None:
    assert GroupSpec.parse(None) == GroupSpec("none")
    assert GroupSpec.parse("regex:^(s\\d+)_") == GroupSpec("regex", "^(s\\d+)_")
    assert GroupSpec.parse("csv:g.csv").arg == "g.csv"
    assert str(GroupSpec.parse("footprint")) == "footprint"
    with pytest.raises(ConfigError, match="group_by 'scene' is unknown; use none, regex:PATTERN"):
        GroupSpec.parse("scene")
    with pytest.raises(ConfigError, match="the pattern does not compile"):
        GroupSpec.parse("regex:(")
    with pytest.raises(ConfigError, match="give the CSV file after 'csv:'"):
        GroupSpec.parse("csv:")


def test_regex_and_csv_groups(tmp_path: Path) -> None:
    files = [Path(f"s{k}_{i}.png") for k in (1, 2) for i in range(2)]
    assert group_labels("regex:^(s\\d+)_", files) == ["s1", "s1", "s2", "s2"]
    assert group_labels("regex:^s\\d", files) == ["s1", "s1", "s2", "s2"]  # no group: the whole match
    with pytest.raises(InputError, match="x.png: file name does not match the grouping pattern"):
        group_labels("regex:^(s\\d+)_", [Path("x.png")])
    csv = tmp_path / "groups.csv"
    csv.write_text("name,group\ns1_0.png,a\ns1_1,a\ns2_0.png,b\n")
    assert group_labels(f"csv:{csv}", files[:3]) == ["a", "a", "b"]
    with pytest.raises(InputError, match="no group for s2_1.png; add a row 's2_1.png,GROUP'"):
        group_labels(f"csv:{csv}", files)


def _geotiff(path: Path, left: float, top: float, size: int = 8) -> Path:
    import rasterio
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8",
                       crs="EPSG:32645", transform=Affine(10, 0, left, 0, -10, top)) as ds:
        ds.write(np.full((3, size, size), 50, np.uint8))
    return path


def test_footprint_groups_join_overlapping_crops(tmp_path: Path) -> None:
    a = _geotiff(tmp_path / "a.tif", 0, 1000)       # x 0-80
    b = _geotiff(tmp_path / "b.tif", 60, 1000)      # overlaps a
    c = _geotiff(tmp_path / "c.tif", 5000, 1000)    # far away
    g = group_labels("footprint", [a, b, c])
    assert g[0] == g[1] != g[2]
    write_png(tmp_path / "plain.png", crop_image(0, 8))
    with pytest.raises(InputError, match="not georeferenced .* use --group-by regex:PATTERN or csv:FILE"):
        group_labels("footprint", [a, tmp_path / "plain.png"])


def test_duplicate_groups_find_flipped_and_rotated_copies(tmp_path: Path) -> None:
    base = crop_image(1, 32)
    other = crop_image(2, 32)
    files = [write_png(tmp_path / f"{n}.png", img) for n, img in
             (("a", base), ("a_flip", base[:, ::-1]), ("a_rot", np.rot90(base)), ("b", other))]
    g = group_labels("duplicates", files)
    assert g[0] == g[1] == g[2] != g[3]


def test_split_groups_keeps_groups_whole_and_is_plain_without_groups() -> None:
    groups = [f"g{i // 3}" for i in range(30)]  # 10 groups of 3
    kept, held = split_groups(groups, 0.2, seed=0)
    assert sorted(kept + held) == list(range(30))
    assert {groups[i] for i in kept}.isdisjoint({groups[i] for i in held})
    assert len({groups[i] for i in held}) == 2  # ceil(0.2 * 10) groups held out
    assert split_groups([str(i) for i in range(10)], 0.2, 0) == split_train_val(10, 0.2, 0)
    with pytest.raises(ConfigError, match="all 4 items fall in one group"):
        split_groups(["a"] * 4, 0.5, 0)


def test_plan_of_a_generic_folder_holds_out_test_then_val(tmp_path: Path) -> None:
    root = tmp_path / "g"
    make_pairs(root, [f"s{k}_{i}" for k in range(6) for i in range(3)])
    plan = plan_splits(root, val_fraction=0.2, seed=1, group_by="regex:^(s\\d+)_", test_fraction=0.34)
    names = plan.names
    assert set(names) == {"train", "val", "test"}
    assert sorted(sum(names.values(), [])) == sorted(p.name for p in (root / "images").iterdir())
    scenes = {k: {n.split("_")[0] for n in v} for k, v in names.items()}
    assert scenes["train"].isdisjoint(scenes["test"]) and scenes["val"].isdisjoint(scenes["test"])
    assert scenes["train"].isdisjoint(scenes["val"])
    assert plan.groups == {"test": 3, "train": 2, "val": 1}
    assert plan.digests[names["train"][0]] == file_digest(root / "images" / names["train"][0])
    assert plan_splits(root, 0.2, 1, "regex:^(s\\d+)_", 0.34).names == names  # seeded
    # a copy of a training crop under another name is still recognised by content
    copy = tmp_path / "copy.png"
    copy.write_bytes((root / "images" / names["train"][0]).read_bytes())
    assert overlap(plan, [copy, root / "images" / names["test"][0]]) == {"train": ["copy.png"], "val": []}


def test_study_layout_plan_keeps_the_test_folder(study_root: Path) -> None:
    plan = plan_splits(study_root, val_fraction=0.34, seed=0)
    assert plan.names["test"] == ["img_0101.png", "img_0102.png"]
    assert len(plan.names["train"]) == 2 and len(plan.names["val"]) == 1
    assert plan.test_fraction is None


def test_holdout_with_groups(tmp_path: Path) -> None:
    root = tmp_path / "g"
    for k in range(4):
        for i in range(2):
            write_png(root / "images" / f"s{k}_{i}.png", crop_image(k, 16))
            write_png(root / "masks" / f"s{k}_{i}.png", square_mask(16, 2, 2, 4))
    summary = make_holdout(root, tmp_path / "out", test_fraction=0.25, seed=0, group_by="regex:^(s\\d)_")
    test = {n.split("_")[0] for n in summary["files"]["test"]}
    train = {n.split("_")[0] for n in summary["files"]["train"]}
    assert len(test) == 1 and test.isdisjoint(train) and summary["groups"] == {"train": 3, "test": 1}

"""``glofwatch data check`` and check_dataset on good and broken folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from glof_data_helpers import crop_image, make_pairs, square_mask, write_png
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.data.checks import check_dataset

runner = CliRunner()


@pytest.fixture
def good_root(tmp_path: Path) -> Path:
    """Study layout with hand-countable masks.

    train/a: one 8x8 lake (64 px = 6.25 %), 1 lake.
    train/b: two 4x4 squares touching at a corner (32 px = 3.125 %): 1 lake with 8-connectivity,
             plus a separate 2x2 pond (4 px): 2 lakes, 36 px.
    train/c: no lake; left 8 columns black (no-data 8/32 = 25 %).
    test/d:  one 8x8 lake.
    """
    root = tmp_path / "ds"
    train, test = root / "train", root / "test"
    write_png(train / "images" / "a.png", crop_image(0))
    write_png(train / "labels" / "a.png", square_mask())
    b = np.zeros((32, 32), np.uint8)
    b[0:4, 0:4] = 255
    b[4:8, 4:8] = 255
    b[20:22, 20:22] = 255
    write_png(train / "images" / "b.png", crop_image(1))
    write_png(train / "labels" / "b.png", b)
    c = crop_image(2)
    c[:, :8] = 0
    write_png(train / "images" / "c.png", c)
    write_png(train / "labels" / "c.png", np.zeros((32, 32), np.uint8))
    make_pairs(test, ["d"], mask_dir="labels")
    return root


def test_check_dataset_statistics(good_root: Path) -> None:
    report = check_dataset(good_root)
    assert report.ok and report.layout == "study"
    test, train = report.splits  # natural order: test, train
    assert (train.name, train.n_pairs, train.n_read, test.n_pairs) == ("train", 3, 3, 1)
    assert train.sizes == {"32x32": 3} and train.channels == {"3": 3} and train.dtypes == {"uint8": 3}
    assert train.lake_fraction_mean == pytest.approx((64 + 36 + 0) / 1024 / 3)
    assert (train.lake_fraction_min, train.lake_fraction_max) == (0.0, pytest.approx(64 / 1024))
    assert train.lakes_per_image_mean == pytest.approx((1 + 2 + 0) / 3) and train.lakes_per_image_max == 2
    assert train.images_without_lake == 1
    assert train.nodata_fraction_mean == pytest.approx(0.25 / 3) and train.nodata_fraction_max == pytest.approx(0.25)


def test_cli_good_dataset(good_root: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "reports" / "check.json"
    result = runner.invoke(app, ["data", "check", str(good_root), "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output and "train" in result.output
    assert "32x32 (3)" in result.output
    report = json.loads(out_json.read_text())
    assert report["ok"] is True and report["n_problems"] == 0
    assert [s["name"] for s in report["splits"]] == ["test", "train"]
    assert report["splits"][1]["images_without_lake"] == 1
    assert not list(out_json.parent.glob(".*tmp-*"))  # atomic write left no temp file


def test_cli_bad_dataset_lists_every_problem(good_root: Path, tmp_path: Path) -> None:
    train = good_root / "train"
    write_png(train / "images" / "orphan.png", crop_image(3))                    # image without mask
    write_png(train / "labels" / "ghost.png", square_mask())                    # mask without image
    write_png(train / "images" / "e.png", crop_image(4))
    write_png(train / "labels" / "e.png", np.zeros((30, 32), np.uint8))         # size mismatch (32 wide, 30 high)
    write_png(train / "images" / "f.png", crop_image(5))
    write_png(train / "labels" / "f.png", np.full((32, 32), 128, np.uint8))     # non-binary
    (train / "images" / "g.png").write_bytes(np.random.default_rng(0).bytes(200))  # corrupt
    write_png(train / "labels" / "g.png", square_mask())
    write_png(train / "images" / "h.png", np.full((32, 32), 5, np.uint8))        # grayscale
    write_png(train / "labels" / "h.png", square_mask())
    for p in (good_root / "test" / "images").iterdir():                          # empty split
        p.unlink()
    for p in (good_root / "test" / "labels").iterdir():
        p.unlink()

    out_json = tmp_path / "bad.json"
    result = runner.invoke(app, ["data", "check", str(good_root), "--json", str(out_json)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "7 problem(s):" in out
    assert f"{train / 'images' / 'orphan.png'}: no mask named 'orphan.*'" in out
    assert f"{train / 'labels' / 'ghost.png'}: no image named 'ghost.*'" in out
    assert f"{train / 'labels' / 'e.png'}: mask is 32x30, image 32x32; re-export the mask at image size" in out
    assert f"{train / 'labels' / 'f.png'}: mask has values [128] but a binary mask holds only 0/1 or 0/255" in out
    assert f"{train / 'images' / 'g.png'}: cannot be read" in out
    assert f"{train / 'images' / 'h.png'}: image has 1 channel (grayscale)" in out
    assert f"{good_root / 'test' / 'images'}: no images" in out
    report = json.loads(out_json.read_text())
    assert report["ok"] is False and report["n_problems"] == 7
    train_stats = report["splits"][1]
    assert train_stats["n_pairs"] == 7 and train_stats["n_read"] == 3
    assert report["splits"][0]["lake_fraction_mean"] is None  # empty split: NaN -> null


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_cli_mixed_channels_flagged(tmp_path: Path) -> None:
    make_pairs(tmp_path, ["a", "b", "c"])
    rgba_like = np.concatenate([crop_image(9), crop_image(8)[..., :1]], axis=-1)
    path = tmp_path / "images" / "d.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=32, width=32, count=4, dtype="uint8", photometric="minisblack"
    ) as dst:
        dst.write(np.moveaxis(rgba_like, -1, 0))
    write_png(tmp_path / "masks" / "d.png", square_mask())
    result = runner.invoke(app, ["data", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{path}: image has 4 channels but most images have 3; re-export it like the others" in result.output


def test_cli_unknown_layout_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "check", str(tmp_path)])
    assert result.exit_code != 0 and "problem(s)" not in result.output  # an error, not a data report
    shown = result.output + str(result.exception)
    assert f"{tmp_path}: no images found in a known layout; expected ROOT/{{train,test}}/images" in shown

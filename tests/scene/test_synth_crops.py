"""Synthetic crops: determinism, exact masks, lake statistics, data set layout, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.errors import ConfigError
from glofwatch.scene.synth import (
    CropParams,
    draw_numbered_crop,
    synth_crop,
    to_dn,
    to_rgb,
    write_synthetic_dataset,
)
from glofwatch.scene.synth.clouds import OPAQUE_ALPHA
from glofwatch.scene.synth.materials import WATER_KIND_NAMES


def _crop(seed: int, i: int, size: int = 96, **params: object):
    return synth_crop(np.random.default_rng([seed, i]), size, CropParams(**params))


def test_same_seed_same_crop_other_seed_other_crop() -> None:
    a, b, c = _crop(3, 1), _crop(3, 1), _crop(4, 1)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.mask, b.mask)
    assert np.array_equal(a.reflectance, b.reflectance)
    assert not np.array_equal(a.image, c.image)


def test_crop_types_and_shapes() -> None:
    crop = _crop(0, 2, size=80)
    assert crop.image.shape == (80, 80, 3) and crop.image.dtype == np.uint8
    assert crop.mask.shape == (80, 80) and crop.mask.dtype == np.uint8
    assert set(np.unique(crop.mask).tolist()) <= {0, 1}
    assert crop.reflectance.shape == (4, 80, 80) and crop.reflectance.dtype == np.float32


def test_mask_is_exactly_the_visible_lake_layer() -> None:
    """mask == lake pixels drawn, minus opaque cloud and nodata, for crops of every kind."""
    seen_hidden_lake = seen_thin_cloud_lake = seen_nodata = seen_zoom = False
    for i in range(14):
        crop = _crop(21, i, cloud_probability=0.7, nodata_probability=0.5, zoom_probability=0.3)
        land = crop.landscape
        lake = crop.enlarge(land.lake_id) > 0
        hidden = crop.enlarge(land.clouds.alpha) >= OPAQUE_ALPHA
        nodata = crop.enlarge(land.nodata)
        expected = lake & ~hidden & ~nodata
        assert np.array_equal(crop.mask.astype(bool), expected)
        # the lake list counts exactly the mask pixels
        assert sum(lk.area_px for lk in crop.lakes) == int(crop.mask.sum())
        # nodata is black in the image and nowhere else
        assert np.array_equal(crop.image.sum(axis=2) == 0, nodata)
        seen_hidden_lake |= bool((lake & hidden & ~nodata).any())
        thin = crop.enlarge(land.clouds.alpha)
        seen_thin_cloud_lake |= bool((crop.mask.astype(bool) & (thin > 0.05)).any())
        seen_nodata |= bool(nodata.any())
        seen_zoom |= crop.zoom > 1.0
    assert seen_hidden_lake and seen_thin_cloud_lake and seen_nodata and seen_zoom


def test_lake_pixels_look_like_water() -> None:
    """In false colour (R=B08 G=B04 B=B03) water has blue > red; most land does not."""
    inside, outside = [], []
    for i in range(30):
        crop = _crop(11, i)
        im = crop.image.astype(int)
        diff = im[..., 2] - im[..., 0]
        m = crop.mask.astype(bool)
        inside.append(diff[m])
        outside.append(diff[~m & (im.sum(axis=2) > 0)])
    a, b = np.concatenate(inside), np.concatenate(outside)
    assert (a > 0).mean() > 0.9
    assert (b > 0).mean() < 0.5
    assert a.mean() - b.mean() > 50


def test_lake_free_rate_sizes_and_kinds() -> None:
    crops = [_crop(5, i, size=64) for i in range(50)]
    empty = np.mean([not c.mask.any() for c in crops])
    assert 0.08 <= empty <= 0.36  # documented 0.2; a few more lakes vanish under cloud or nodata
    areas = [lk.area_px for c in crops for lk in c.lakes]
    fractions = [c.mask.mean() for c in crops]
    assert min(areas) <= 10  # ponds of a few pixels
    assert max(fractions) > 0.1  # and lakes covering a large share
    assert max(fractions) < 0.6
    kinds = {lk.kind for c in crops for lk in c.lakes}
    assert len(kinds) >= 3 and kinds <= set(WATER_KIND_NAMES)
    assert all(not _crop(6, i, size=48, lake_free_probability=1.0).mask.any() for i in range(3))


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"synthetic crops: cloud_probability=1.5 is outside 0..1"):
        _crop(0, 0, cloud_probability=1.5)
    with pytest.raises(ConfigError, match=r"unknown water kind\(s\) pink in kind_weights"):
        _crop(0, 0, kind_weights={"pink": 1.0})
    with pytest.raises(ConfigError, match=r"unknown rendering 'false-color'; did you mean 'false-colour'"):
        _crop(0, 0, rendering="false-color")
    with pytest.raises(ConfigError, match=r"synthetic crop size 8 is too small"):
        synth_crop(np.random.default_rng(0), 8)


def test_renderings_by_hand() -> None:
    refl = np.zeros((4, 1, 2), np.float32)
    refl[:, 0, 1] = [0.1, 0.2, 0.3, 0.4]  # B02 B03 B04 B08
    tc = to_rgb(refl, "true-colour", 2.5)
    fc = to_rgb(refl, "false-colour", 2.5)
    assert tc[0, 0].tolist() == [0, 0, 0]  # nodata stays black
    assert tc[0, 1].tolist() == [191, 128, 64]  # 0.3*2.5*255=191.25, 127.5 -> 128, 63.75 -> 64
    assert fc[0, 1].tolist() == [255, 191, 128]
    assert to_dn(refl)[:, 0, 1].tolist() == [1000, 2000, 3000, 4000]
    assert to_dn(np.array([0.0, 0.00001], np.float32)).tolist() == [0, 1]  # valid never reads as nodata


def test_write_dataset_layout_labels_and_determinism(tmp_path: Path) -> None:
    summary = write_synthetic_dataset(tmp_path / "a", n=6, size=64, seed=9, test_fraction=0.34)
    write_synthetic_dataset(tmp_path / "b", n=6, size=64, seed=9, test_fraction=0.34)
    write_synthetic_dataset(tmp_path / "c", n=6, size=64, seed=10, test_fraction=0.34)
    root = tmp_path / "a"
    train = sorted(p.name for p in (root / "train" / "images").iterdir())
    test = sorted(p.name for p in (root / "test" / "images").iterdir())
    assert train == [f"synth_0000{i}.png" for i in range(1, 5)]
    assert test == ["synth_00005.png", "synth_00006.png"]
    for split, names in (("train", train), ("test", test)):
        assert sorted(p.name for p in (root / split / "labels").iterdir()) == names
    files = sorted(p.relative_to(root) for p in root.rglob("*.png"))
    for rel in files:
        assert (root / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert any((root / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes() for rel in files)
    image = Image.open(root / "train" / "images" / "synth_00002.png")
    label = Image.open(root / "train" / "labels" / "synth_00002.png")
    assert image.mode == "RGB" and image.size == (64, 64)
    assert label.mode == "L" and label.size == (64, 64)
    crop = draw_numbered_crop(9, 2, 64)
    assert np.array_equal(np.asarray(label), crop.mask * 255)
    assert np.array_equal(np.asarray(image), crop.image)
    values = set()
    for p in root.rglob("labels/*.png"):
        values |= set(np.unique(np.asarray(Image.open(p))).tolist())
    assert values <= {0, 255}
    meta = json.loads((root / "synth.json").read_text())
    assert meta == summary
    assert meta["splits"]["train"]["images"] == 4 and meta["splits"]["test"]["images"] == 2
    assert meta["seed"] == 9 and meta["params"]["lake_free_probability"] == 0.2
    assert not list(root.rglob(".*tmp-*"))  # no temporary files left behind


def test_write_dataset_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"synthetic data set: n=0; ask for at least 1 crop"):
        write_synthetic_dataset(tmp_path, n=0)
    with pytest.raises(ConfigError, match=r"test_fraction=1.0 is outside \[0, 1\)"):
        write_synthetic_dataset(tmp_path, n=3, test_fraction=1.0)


def test_cli_crops(tmp_path: Path) -> None:
    out = tmp_path / "crops"
    result = CliRunner().invoke(app, ["data", "synth", str(out), "--n", "5", "--size", "64", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "synth.json" in result.output
    assert len(list((out / "train" / "images").glob("*.png"))) == 4
    assert len(list((out / "test" / "labels").glob("*.png"))) == 1
    assert json.loads((out / "synth.json").read_text())["size"] == 64


def test_cli_crops_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["data", "synth", str(tmp_path), "--n", "0"])
    assert result.exit_code == 2
    assert "error: synthetic data set: n=0; ask for at least 1 crop" in result.output
    result = runner.invoke(app, ["data", "synth", str(tmp_path), "--n", "2", "--rendering", "nope"])
    assert result.exit_code == 2
    assert "error: unknown rendering 'nope'" in result.output

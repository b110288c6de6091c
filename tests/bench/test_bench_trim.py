"""`glofwatch bench trim`: the screen's and the trimmed boxes' cost on crops, against hand-checked counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from glofwatch.cli.app import app

runner = CliRunner()


def _crop(path: Path, green: int, nir: int, lake: tuple[slice, slice] | None = None) -> None:
    """A false-colour PNG crop (B08, B04, B03) of NDWI (green - nir) / (green + nir), with a lake patch of NDWI 0.6."""
    img = np.empty((64, 64, 3), dtype=np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = nir, 90, green
    if lake is not None:
        img[lake[0], lake[1]] = (20, 30, 80)
    Image.fromarray(img).save(path)


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crops")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    corner = (slice(0, 12), slice(0, 12))
    _crop(root / "images" / "a_dry.png", green=60, nir=120)  # NDWI -0.33 everywhere: the screen skips it
    _crop(root / "images" / "b_wet.png", green=120, nir=20)  # NDWI 0.71 everywhere: nothing to trim
    _crop(root / "images" / "c_corner.png", green=60, nir=120, lake=corner)  # one lake in a corner
    for name, mask_at in (("a_dry", None), ("b_wet", None), ("c_corner", corner)):
        mask = np.zeros((64, 64), dtype=np.uint8)
        if mask_at is not None:
            mask[mask_at] = 255
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    return root


def test_trim_bench_counts_what_each_variant_loses(tiny_run: Path, crops: Path, tmp_path: Path) -> None:
    out = tmp_path / "trim"
    res = runner.invoke(app, ["bench", "trim", "--model", str(tiny_run), "--real", str(crops),
                              "--contexts", "0,16,0", "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "trim.json").read_text())
    assert "| screen, trimmed +16 px |" in (out / "trim.md").read_text()
    names = [r["variant"] for r in doc["rows"]]
    assert names == ["no screen", "screen, whole tiles", "screen, trimmed +0 px", "screen, trimmed +16 px"]
    assert doc["crops"] == 3 and doc["crop_px"] == 3 * 64 * 64 and doc["contexts"] == [0, 16]
    per = {c["image"]: c for c in doc["per_crop"]}
    ref = "no screen"
    # the dry crop has no candidate: every screened variant maps nothing there and loses what the reference found
    for name in names[1:]:
        assert per["a_dry.png"]["lake_px"][name] == 0
        assert per["a_dry.png"]["lost_px"][name] == per["a_dry.png"]["lake_px"][ref]
    # the wet crop is candidate everywhere: no box saves 20 % of it, so every variant maps it whole, as the reference
    for name in names:
        assert per["b_wet.png"]["lost_px"][name] == 0
        assert per["b_wet.png"]["lake_px"][name] == per["b_wet.png"]["lake_px"][ref]
    rows = {r["variant"]: r for r in doc["rows"]}
    assert rows[ref]["lost_px"] == 0 and rows[ref]["added_px"] == 0 and rows[ref]["lost_pct_of_reference"] == 0
    ref_px = rows[ref]["lake_px"]
    for name in names:
        r = rows[name]
        assert r["lake_px"] == sum(c["lake_px"][name] for c in doc["per_crop"])
        assert r["lost_px"] == sum(c["lost_px"][name] for c in doc["per_crop"])
        assert r["lake_px"] == ref_px - r["lost_px"] + r["added_px"]  # what it kept of the reference plus what it added
        assert 0 <= r["lost_in_masks_px"] <= r["lost_px"]
        if ref_px:
            assert r["lost_pct_of_reference"] == pytest.approx(100 * r["lost_px"] / ref_px)
    # the network saw all of every crop without a screen; with it, not the dry crop and only boxes of the corner one
    assert rows[ref]["processed_over_crop_px"] >= 1.0
    assert rows["screen, whole tiles"]["processed_over_crop_px"] == pytest.approx(
        rows[ref]["processed_over_crop_px"] * 2 / 3)
    whole = rows["screen, whole tiles"]["processed_over_crop_px"]
    assert rows["screen, trimmed +0 px"]["processed_over_crop_px"] < whole
    assert doc["min_saving"] == pytest.approx(0.2)
    # --min-saving 0 uses boxes whenever they are smaller than the tile; the wet crop's box is the whole crop
    res = runner.invoke(app, ["bench", "trim", "--model", str(tiny_run), "--real", str(crops), "--contexts", "16",
                              "--min-saving", "0", "--threads", "1", "--out", str(tmp_path / "forced")])
    assert res.exit_code == 0, res.output
    forced = json.loads((tmp_path / "forced" / "trim.json").read_text())
    assert forced["min_saving"] == 0.0 and "boxes used when they save at least 0 of a tile" in res.output
    per = {c["image"]: c for c in forced["per_crop"]}
    assert per["b_wet.png"]["lost_px"]["screen, trimmed +16 px"] == 0


def test_trim_bench_errors_name_the_fix(tiny_run: Path, crops: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["bench", "trim", "--model", str(tiny_run), "--real", str(tmp_path / "none"),
                              "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "real evaluation crops not found" in res.output
    res = runner.invoke(app, ["bench", "trim", "--model", str(tiny_run), "--real", str(crops), "--contexts", "32,x",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "--contexts '32,x': give whole numbers separated by commas" in res.output
    res = runner.invoke(app, ["bench", "trim", "--model", str(tiny_run), "--real", str(crops), "--bands", "B04,B03",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "a_dry.png: the crop has 3 channel(s) but --bands names 2" in res.output

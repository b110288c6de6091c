"""``data synth --rendering mixed``: both renderings, each crop's recorded, same landscapes as one rendering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.data.renderings import crop_renderings, dataset_rendering
from glofwatch.scene.synth import CropParams, draw_numbered_crop, to_rgb


def test_cli_mixed_writes_both_renderings_and_records_each_crop(tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    res = CliRunner().invoke(app, ["data", "synth", str(out), "--n", "12", "--size", "48", "--seed", "5",
                                   "--rendering", "mixed"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "synth.json").read_text())
    assert meta["rendering"] == "mixed"
    per_crop = meta["crop_renderings"]
    assert len(per_crop) == 12 and set(per_crop.values()) == {"true-colour", "false-colour"}
    counts = {k: sum(s["renderings"].get(k, 0) for s in meta["splits"].values()) for k in ("true-colour",
                                                                                        "false-colour")}
    assert counts == {k: list(per_crop.values()).count(k) for k in counts}
    assert dataset_rendering(out) == ("mixed", str(out / "synth.json"))
    assert crop_renderings(out) == per_crop
    for i, (stem, rendering) in enumerate(sorted(per_crop.items()), start=1):
        split = "train" if i <= meta["splits"]["train"]["images"] else "test"
        written = np.asarray(Image.open(out / split / "images" / f"{stem}.png"))
        single = draw_numbered_crop(5, i, 48, CropParams())  # the same landscape, drawn in false colour only
        assert np.array_equal(written, to_rgb(single.reflectance, rendering, single.gain)), stem
        mask = np.asarray(Image.open(out / split / "labels" / f"{stem}.png"))
        assert np.array_equal(mask, single.mask * 255)


def test_single_rendering_sets_say_so_and_keep_their_crops(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "tc"), "--n", "2", "--size", "32",
                                   "--rendering", "true-colour"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "tc" / "synth.json").read_text())
    assert meta["rendering"] == "true-colour" and "crop_renderings" not in meta
    assert meta["splits"]["train"]["renderings"] == {"true-colour": 2}
    crop = draw_numbered_crop(0, 1, 32, CropParams(rendering="true-colour"))
    assert crop.rendering == "true-colour"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "tc" / "train" / "images" / "synth_00001.png")),
                          crop.image)

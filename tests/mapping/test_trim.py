"""Trimmed tiles: the candidates' boxes, their growth to a compiled shape, blending a part of a tile, and the maps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from glofwatch.errors import ConfigError
from glofwatch.infer.tiles import StripTiler, blend_weights
from glofwatch.mapping.batch import MapOptions
from glofwatch.mapping.scene import predict_scene
from glofwatch.mapping.screen import TRIM_MIN_SAVING, Screen, candidate_boxes, grow_box, plan_strip
from glofwatch.scene.read import read_scene


def test_candidate_boxes_by_hand() -> None:
    c = np.zeros((128, 128), dtype=bool)
    assert candidate_boxes(c, 8, 32) is None  # no candidate: nothing to box
    c[100, 5] = True
    # rows 92..108 -> cells 2..3 (64..128, clipped to the tile), columns -3..13 -> cell 0 (0..32)
    assert candidate_boxes(c, 8, 32) == [(64, 128, 0, 32)]
    c[3, 120] = True  # the opposite corner: a box of its own, cut along the empty row of cells 1
    assert candidate_boxes(c, 8, 32) == [(0, 32, 96, 128), (64, 128, 0, 32)]
    # the context is exact to the pixel: 23 px from row 40 stays in cells 0..1, 24 px reaches cell 2
    c = np.zeros((128, 128), dtype=bool)
    c[40, 40] = True
    assert candidate_boxes(c, 23, 32) == [(0, 64, 0, 64)]
    assert candidate_boxes(c, 24, 32) == [(0, 96, 0, 96)]
    # two columns of candidates: cut along the empty columns of cells
    c = np.zeros((128, 128), dtype=bool)
    c[10:120, 10] = c[10:120, 110] = True
    assert candidate_boxes(c, 0, 32) == [(0, 128, 0, 32), (0, 128, 96, 128)]
    # boxes of exactly (1 - TRIM_MIN_SAVING) of the tile are still used: 128 x 160 of 160 x 160
    assert TRIM_MIN_SAVING == pytest.approx(0.2)
    c = np.zeros((160, 160), dtype=bool)
    c[:128] = True
    assert candidate_boxes(c, 0, 32) == [(0, 128, 0, 160)]
    c[128, 0] = True  # one row of cells more, nowhere to cut: no saving, run it whole
    assert candidate_boxes(c, 0, 32) is None
    # what it would save decides: 160 x 160 of 160 x 160 saves nothing, 32 x 32 of 64 x 64 saves 3/4
    assert candidate_boxes(c, 0, 32, min_saving=0.0) == [(0, 160, 0, 160)]
    c = np.zeros((64, 64), dtype=bool)
    c[5, 5] = True
    assert candidate_boxes(c, 0, 32, min_saving=0.75) == [(0, 32, 0, 32)]
    assert candidate_boxes(c, 0, 32, min_saving=0.76) is None
    with pytest.raises(ConfigError, match=r"--min-saving 1.0 must be in \[0, 1\)"):
        Screen(min_saving=1.0)
    assert "(boxes saving at least 0 of a tile)" in Screen(min_saving=0.0).describe()
    assert "boxes saving" not in Screen().describe()


def test_grow_box_keeps_the_box_inside_the_tile() -> None:
    assert grow_box((64, 128, 0, 64), 128, 128, 512, 512) == (32, 160, 0, 128)
    # at the bottom-right corner the grown box is shifted back inside
    assert grow_box((448, 512, 448, 512), 128, 192, 512, 512) == (384, 512, 320, 512)
    assert grow_box((0, 64, 0, 64), 64, 64, 512, 512) == (0, 64, 0, 64)
    with pytest.raises(ValueError, match="cannot grow a 64 x 64 box to 32 x 64 within 512 x 512"):
        grow_box((0, 64, 0, 64), 32, 64, 512, 512)


def test_plan_strip_boxes_only_the_tiles_that_save() -> None:
    h, w, tw = 64, 256, 128
    valid = np.ones((h, w), dtype=bool)
    water = np.zeros((h, w), dtype=bool)
    water[10, 20] = True  # tile 0: one candidate -> rows 2..18 -> cell 0, columns 12..28 -> cell 0
    water[0:64:16, 128:256:16] = True  # tile 1: candidates in every cell -> whole
    run, skipped, boxes = plan_strip(Screen(context=8, min_patch=1), [0, 128], tw, valid, None, None, water, stride=32)
    assert run == [0, 128] and skipped == [] and boxes == {0: [(0, 32, 0, 32)]}
    # cells are the network's stride when it is coarser than TRIM_STEP
    assert plan_strip(Screen(context=8, min_patch=1), [0, 128], tw, valid, None, None, water, stride=64)[2] == {
        0: [(0, 64, 0, 64)]}
    # no trimming without a context, or with the screen off
    assert plan_strip(Screen(context=None), [0, 128], tw, valid, None, None, water, stride=32)[2] == {}
    assert plan_strip(Screen.off(), [0, 128], tw, valid, None, None, water, stride=32)[2] == {}


def test_a_trimmed_part_blends_with_its_tiles_own_weights() -> None:
    tiler = StripTiler(64, 128, 64, 32)  # tiles at columns 0, 32, 64
    strip = next(tiler.strips())
    strip.add(0, np.ones((64, 64), dtype=np.float32))
    strip.add(32, np.zeros((64, 16), dtype=np.float32), row0=0, col0=0)  # only columns 32..48 of tile 32
    prob, covered = strip.finish()
    wt = blend_weights(64, 64, 32)
    cols = np.arange(32, 48)
    expect = wt[:, cols] / (wt[:, cols] + wt[:, cols - 32])
    np.testing.assert_allclose(prob[:, 32:48], expect, rtol=1e-6)
    np.testing.assert_array_equal(prob[:, :32], 1.0)  # tile 0 alone
    np.testing.assert_array_equal(prob[:, 48:64], 1.0)  # tile 32 added nothing outside its part
    assert covered[:, :64].all() and not covered[:, 64:].any()


def test_column_spans_merge_the_tiles_that_run() -> None:
    from glofwatch.mapping.scene import column_spans

    assert column_spans([0, 480, 1440, 1920], 512) == [(0, 992), (1440, 2432)]
    assert column_spans([0, 512], 512) == [(0, 1024)]  # touching tiles are one span
    assert column_spans([], 512) == []


def test_trim_settings() -> None:
    with pytest.raises(ConfigError, match=r"--trim-context -1 must be at least 0 px \(or --no-trim\)"):
        Screen(context=-1)
    assert MapOptions(trim=False).window_screen().context is None
    assert MapOptions(trim_context=32).window_screen().context == 32
    assert MapOptions().window_screen().min_patch == 10
    assert MapOptions(screen_min_patch=1).window_screen().min_patch == 1
    assert "trimmed to their candidates + 32 px" in MapOptions(trim_context=32).window_screen().describe()
    assert Screen.off().context is None


def test_trim_context_defaults_agree_everywhere() -> None:
    import typer

    from glofwatch.cli.app import app
    from glofwatch.mapping.screen import DEFAULT_CONTEXT

    assert MapOptions().trim_context == Screen().context == DEFAULT_CONTEXT == 96
    root = typer.main.get_command(app)
    for path in (["map"], ["bench", "scene"]):
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        (opt,) = [p for p in cmd.params if p.name == "trim_context"]
        assert opt.default == DEFAULT_CONTEXT, path


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def _one_lake_region(src: Path, dst: Path, rows: slice, cols: slice) -> Path:
    """``src`` with green lowered below NIR outside ``rows`` x ``cols``: the only lake candidates are inside."""
    import shutil

    shutil.copy(src, dst)
    with rasterio.open(dst, "r+") as ds:
        green, nir = ds.read(2), ds.read(4)
        outside = np.ones(green.shape, dtype=bool)
        outside[rows, cols] = False
        green[outside] = np.minimum(green[outside], np.maximum(nir[outside], 1) - 1)
        ds.write(green, 2)
    return dst


def test_trimmed_tiles_map_like_whole_ones_on_fewer_pixels(tiny_run: Path, cloudy_scene, tmp_path: Path) -> None:  # noqa: ANN001
    from glofwatch.infer.predict import Predictor

    predictor = Predictor.from_path(tiny_run, device="cpu")
    # a 29 x 40 px lake at rows 2..31, columns 92..132; tiles start at 0, 112 and 128 on each axis
    region = (slice(0, 34), slice(90, 134))
    scene = read_scene(_one_lake_region(cloudy_scene.scene, tmp_path / "scene.tif", *region))
    kw = {"tile": 128, "overlap": 16, "batch_size": 1}
    whole = predict_scene(scene, predictor, tmp_path / "p0.tif", tmp_path / "m0.tif", screen=Screen(context=None), **kw)
    trim = predict_scene(scene, predictor, tmp_path / "p1.tif", tmp_path / "m1.tif", screen=Screen(context=8), **kw)
    assert whole.screen is not None and trim.screen is not None
    assert whole.n_tiles_run == trim.n_tiles_run and whole.screen.trimmed == 0
    # the three tiles of the top strip that hold the lake run (its candidates end at row 23): tile 0 on a
    # 32 x 64 px box (rows 0..32, columns 64..128), the tiles at 112 and 128 on 32 x 32 px boxes at their left edges
    assert whole.n_tiles_run == 3 and trim.screen.trimmed == 3 and trim.screen.boxes == 3
    assert whole.screen.processed_px == 3 * 128 * 128 and trim.screen.processed_px == 32 * 64 + 2 * 32 * 32
    assert trim.screen.to_dict()["trimmed_tiles"] == 3
    m0, m1 = _read(tmp_path / "m0.tif"), _read(tmp_path / "m1.tif")
    p0, p1 = _read(tmp_path / "p0.tif"), _read(tmp_path / "p1.tif")
    lake0, lake1 = m0[region] == 1, m1[region] == 1
    assert lake0.any()
    iou = np.count_nonzero(lake0 & lake1) / np.count_nonzero(lake0 | lake1)
    near = (slice(0, 24), region[1])  # the candidates' rows; at the boxes' edges 8 px below them the context differs
    assert iou > 0.97 and np.abs(p0[near] - p1[near]).max() < 0.05
    np.testing.assert_array_equal(m0 == 255, m1 == 255)
    # below the boxes no tile ran: not lake, where the whole tiles may have found some
    below = ~np.isnan(p1[32:])
    assert (p1[32:][below] == 0).all() and not (m1[32:] == 1).any()
    # with batches of several tiles the network sees whole tiles (one input shape per batch)
    batched = predict_scene(scene, predictor, tmp_path / "p2.tif", tmp_path / "m2.tif", screen=Screen(context=32),
                            **{**kw, "batch_size": 2})
    assert batched.screen is not None and batched.screen.trimmed == 0


def _policy(code: str, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in {**os.environ, **env}.items() if v}, timeout=120)
    return out.stdout.strip()


def test_passive_openmp_is_set_before_torch_only_for_other_runtimes() -> None:
    show = "import os; print(os.environ.get('OMP_WAIT_POLICY', '-'))"
    base = {"OMP_WAIT_POLICY": ""}
    set_ = "from glofwatch.runtime import passive_openmp; print(passive_openmp({}), end=' '); "
    assert _policy(set_.format("'auto'") + show, base) == "True PASSIVE"
    assert _policy(set_.format("'torch'") + show, base) == "False -"  # torch runs the network: keep its threads
    assert _policy(set_.format("'auto', 'cuda'") + show, base) == "False -"
    assert _policy("import torch; " + set_.format("'auto'") + show, base) == "False -"  # too late to change
    assert _policy(set_.format("'auto'") + show, {"OMP_WAIT_POLICY": "ACTIVE"}) == "False ACTIVE"  # the user's own

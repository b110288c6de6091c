"""Window screening, the strip pipeline's helpers, sampled statistics and the mapping precision choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from glofwatch.errors import ConfigError
from glofwatch.mapping.scene import predict_scene
from glofwatch.mapping.screen import Screen, ndwi, plan_strip, tile_counts
from glofwatch.scene.read import read_scene


def test_ndwi_and_tile_counts_by_hand() -> None:
    assert ndwi(np.array([300, 100, 0]), np.array([100, 300, 0])).tolist() == [0.5, -0.5, 0.0]
    flags = np.zeros((2, 10), dtype=bool)
    flags[0, [0, 3, 4, 9]] = True
    flags[1, 4] = True
    # windows [0, 4), [3, 7), [6, 10): 2, 3 and 1 flagged pixels
    assert tile_counts(flags, [0, 3, 6], 4).tolist() == [2, 3, 1]


def test_plan_strip_puts_each_skipped_tile_down_to_the_first_rule_that_empties_it() -> None:
    h, w, tw = 4, 16, 4
    cols = [0, 4, 8, 12]
    valid = np.ones((h, w), dtype=bool)
    valid[:, 0:4] = False  # tile 0: no data
    observed = np.ones((h, w), dtype=bool)
    observed[:, 4:8] = False  # tile 1: all cloud
    flat = np.ones((h, w), dtype=bool)
    flat[:, 8:12] = False  # tile 2: all steep
    water = np.zeros((h, w), dtype=bool)
    water[0, 13] = True  # tile 3: one watery pixel
    run, skipped, _ = plan_strip(Screen(), cols, tw, valid, observed, flat, water)
    assert run == [12] and skipped == ["nodata", "cloud", "terrain"]
    # two candidates needed: tile 3 goes too, for the spectral rule
    run, skipped, _ = plan_strip(Screen(min_pixels=2), cols, tw, valid, observed, flat, water)
    assert run == [] and skipped == ["nodata", "cloud", "terrain", "spectral"]
    # screening off: only the tile without data is skipped
    run, skipped, _ = plan_strip(Screen.off(), cols, tw, valid, observed, flat, water)
    assert run == [4, 8, 12] and skipped == ["nodata"]
    # a layer that is not there (no SCL, no DEM, no NIR) is no rule
    run, _, _ = plan_strip(Screen(), cols, tw, valid, None, None, None)
    assert run == [4, 8, 12]


def test_water_specks_smaller_than_the_smallest_lake_are_no_candidates() -> None:
    h, w, tw = 12, 24, 8
    cols = [0, 8, 16]
    valid = np.ones((h, w), dtype=bool)
    water = np.zeros((h, w), dtype=bool)
    water[5, 2:5] = True  # tile 0: a 3 px speck inside the strip
    water[3:6, 9:13] = True  # tile 1: a 12 px patch
    water[11, 17:19] = True  # tile 2: 2 px on the strip's bottom row (the patch may go on in the next strip)
    run, skipped, _ = plan_strip(Screen(min_patch=10), cols, tw, valid, None, None, water)
    assert run == [8, 16] and skipped == ["spectral"]
    run, skipped, _ = plan_strip(Screen(min_patch=1), cols, tw, valid, None, None, water)
    assert run == [0, 8, 16] and skipped == []  # every patch counts
    # the patch size counts only water-looking candidates: half the 12 px patch under cloud leaves 6 px
    observed = np.ones((h, w), dtype=bool)
    observed[3:6, 11:13] = False
    run, skipped, _ = plan_strip(Screen(min_patch=10), cols, tw, valid, observed, None, water)
    assert run == [16] and skipped == ["spectral", "spectral"]
    assert "NDWI > 0.1 in patches of >= 10 px" in Screen().describe()
    assert "in patches" not in Screen(min_patch=1).describe()


def test_drop_specks_equals_labelling_the_patches() -> None:
    from glofwatch.connectivity import label_lakes
    from glofwatch.mapping.screen import drop_specks

    rng = np.random.default_rng(0)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        cand = rng.random((h, w)) < rng.uniform(0.0, 0.7)
        k = int(rng.integers(1, 12))
        labels, n = label_lakes(cand)  # the definition: 4-connected patches of at least k px, or touching row 0 / h-1
        keep = np.bincount(labels.reshape(-1), minlength=n + 1) >= k
        keep[labels[0]] = keep[labels[-1]] = True
        keep[0] = False
        np.testing.assert_array_equal(drop_specks(cand, k), keep[labels])


def test_screen_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="--screen-ndwi 1.5 must be in"):
        Screen(ndwi_min=1.5)
    with pytest.raises(ConfigError, match="--screen-min-pixels 0"):
        Screen(min_pixels=0)
    with pytest.raises(ConfigError, match=r"--screen-min-patch 0 must be at least 1 px \(1: every patch\)"):
        Screen(min_patch=0)
    assert Screen.off().describe() == "off"


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_lossless_rules_leave_the_mask_as_it_was(tiny_run: Path, cloudy_scene, tmp_path: Path) -> None:  # noqa: ANN001
    """Nodata, SCL cloud and DEM slope only skip tiles whose pixels can never be lake in the mask."""
    from glofwatch.infer.predict import Predictor

    predictor = Predictor.from_path(tiny_run, device="cpu")
    scene = read_scene(cloudy_scene.scene)
    kw = {"tile": 64, "overlap": 16, "batch_size": 2, "dem": cloudy_scene.dem}
    off = predict_scene(scene, predictor, tmp_path / "p0.tif", tmp_path / "m0.tif", screen=Screen.off(), **kw)
    on = predict_scene(scene, predictor, tmp_path / "p1.tif", tmp_path / "m1.tif", screen=Screen(ndwi_min=None),
                       **kw)
    assert on.screen is not None and off.screen is not None
    skipped = on.screen.skipped
    assert skipped["spectral"] == 0 and on.n_tiles_run == on.n_tiles - sum(skipped.values())
    assert skipped["cloud"] + skipped["terrain"] > 0  # the scene has both to skip
    assert on.n_tiles_run < off.n_tiles_run
    np.testing.assert_array_equal(_read(tmp_path / "m1.tif"), _read(tmp_path / "m0.tif"))
    assert on.lake_pixels == off.lake_pixels
    p1, p0 = _read(tmp_path / "p1.tif"), _read(tmp_path / "p0.tif")
    np.testing.assert_array_equal(np.isnan(p1), np.isnan(p0))  # nodata stays NaN, skipped pixels are 0
    assert on.screen.processed_px == (on.n_tiles_run + on.screen.padded) * 64 * 64
    assert on.screen.to_dict()["processed_over_scene"] == pytest.approx(on.screen.processed_px / 256**2, abs=1e-4)


def test_padded_batches_give_the_same_probabilities(tiny_run: Path, cloudy_scene, tmp_path: Path,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import glofwatch.mapping.scene as scene_mod
    from glofwatch.infer.predict import Predictor

    monkeypatch.setattr(scene_mod, "PAD_MIN_TILES", 1)  # pad on this small scene too
    predictor = Predictor.from_path(tiny_run, device="cpu")
    scene = read_scene(cloudy_scene.scene)
    one = predict_scene(scene, predictor, tmp_path / "p1.tif", tmp_path / "m1.tif", tile=64, overlap=0, batch_size=1,
                        screen=Screen.off())
    three = predict_scene(scene, predictor, tmp_path / "p3.tif", tmp_path / "m3.tif", tile=64, overlap=0,
                          batch_size=3, screen=Screen.off())
    # 4 strips of 4 tiles: batches 3 + 1, the 1 padded with 2 empty tiles
    assert one.screen is not None and three.screen is not None
    assert one.screen.padded == 0 and three.screen.padded == 4 * 2
    np.testing.assert_allclose(_read(tmp_path / "p3.tif"), _read(tmp_path / "p1.tif"), atol=1e-5)


def test_sample_and_read_with_scl_match_plain_reads(cloudy_scene) -> None:  # noqa: ANN001
    scene = read_scene(cloudy_scene.scene)
    windows = scene.sample(("B03", "B08"), side=32, every=4)
    # 8 windows of 32 px per side, one in 4 from the third: starts 64 and 192 on each axis
    assert windows.shape == (4, 2, 32, 32)
    np.testing.assert_array_equal(windows[1], scene.read_window(64, 192, 32, 32, ("B03", "B08")))
    data, scl = scene.read_with_scl(10, 20, 30, 40, ("B08", "B04"))
    np.testing.assert_array_equal(data, scene.read_window(10, 20, 30, 40, ("B08", "B04")))
    np.testing.assert_array_equal(scl, scene.read_scl(10, 20, 30, 40))


def test_dem_on_the_scene_grid_is_read_without_warping(cloudy_scene) -> None:  # noqa: ANN001
    from affine import Affine
    from rasterio.vrt import WarpedVRT

    from glofwatch.mapping.terrain import Sun, TerrainRules

    scene = read_scene(cloudy_scene.scene)
    with TerrainRules(cloudy_scene.dem, scene.grid, 10.0, Sun.of(scene.product)) as rules:
        assert rules._vrt is None  # same grid: plain reads
        h = rules.halo
        assert h > 100  # the cast-shadow march looks kilometres towards the sun
        plain = rules.read(100, 20)
        with rasterio.open(cloudy_scene.dem) as src, WarpedVRT(
            src, crs=src.crs, transform=src.transform @ Affine.translation(-h, -h), width=src.width + 2 * h,
            height=src.height + 2 * h, nodata=np.nan, dtype="float32",
        ) as vrt:
            from rasterio.windows import Window

            warped = vrt.read(1, window=Window(0, 100, src.width + 2 * h, 20 + 2 * h))
        np.testing.assert_array_equal(np.isnan(plain), np.isnan(warped))
        np.testing.assert_allclose(plain[~np.isnan(plain)], warped[~np.isnan(warped)])
        # the 1 px halo of the slope rule is the middle of the full one
        np.testing.assert_array_equal(rules.read(100, 20, halo=1), plain[h - 1 : h + 21, h - 1 : h + 257])


def test_precision_choice_is_the_fastest_within_half_a_point(tiny_run: Path) -> None:
    from glofwatch.infer.precision import (
        CHOICE_FILE,
        IOU_TOLERANCE,
        LAKE_RECALL_TOLERANCE,
        choose_precision,
        cpu_signature,
        mapping_backend,
    )

    record = choose_precision(tiny_run, threads=1)
    cands = record["candidates"]
    assert {"fp32", "int8"} <= set(cands) and "int8-all" not in cands  # int8-all only when asked for
    ref, n = cands["fp32"], record["val_lakes"]
    assert n > 0 and ref["lakes_lost"] == ref["lakes_gained"] == 0 and ref["lake_px_changed_pct"] == 0
    ok = [k for k, c in cands.items() if c["val_iou"] >= ref["val_iou"] - IOU_TOLERANCE
          and c["lakes_found"] >= ref["lakes_found"] - LAKE_RECALL_TOLERANCE * n]
    assert record["chosen"] == min(ok, key=lambda k: cands[k]["ns_per_px"])
    for c in cands.values():
        assert c["iou_points_lost"] == pytest.approx(100 * (ref["val_iou"] - c["val_iou"]), abs=1e-3)
        assert c["lakes_found"] == ref["lakes_found"] - c["lakes_lost"] + c["lakes_gained"]
        assert c["lake_recall_points_lost"] == pytest.approx(100 * (ref["lakes_found"] - c["lakes_found"]) / n)
    path = tiny_run / "export" / CHOICE_FILE
    assert json.loads(path.read_text())["records"][cpu_signature()]["chosen"] == record["chosen"]
    stamp = path.stat().st_mtime_ns
    assert choose_precision(tiny_run)["chosen"] == record["chosen"] and path.stat().st_mtime_ns == stamp  # kept
    # a record that scored other candidates is made again; an older file (one flat record) is read as its CPU's
    older = json.loads(path.read_text())["records"][cpu_signature()]
    del older["candidates"]["int8"]
    path.write_text(json.dumps(older))
    remade = choose_precision(tiny_run, threads=1)  # timed again: on a noisy machine another candidate may win
    assert "int8" in remade["candidates"]
    backend, note = mapping_backend(tiny_run, "auto", device="cpu", threads=1)
    assert note is not None and note.startswith(f"precision {remade['chosen']}")
    backend, note = mapping_backend(tiny_run, "int8-all", device="cpu", threads=1)  # asked for: encoder quantised too
    assert backend.name == "openvino-int8-all" and note == "precision int8-all (asked for)"
    from glofwatch.models.export import read_export_metadata

    assert read_export_metadata(tiny_run / "export" / "model-int8-all.onnx")["calibration"]["scope"] == "all"
    with pytest.raises(ConfigError, match="--precision int8 needs a run folder mapped on CPU with OpenVINO"):
        mapping_backend(tiny_run / "model.pt", "int8", device="cpu")
    with pytest.raises(ConfigError, match="unknown precision 'int9'"):
        mapping_backend(tiny_run, "int9")


def test_fp32_candidate_from_the_cached_export_builds_no_network(tiny_run: Path) -> None:
    import subprocess
    import sys

    import torch

    from glofwatch.infer.backends import build_backend, cached_export
    from glofwatch.infer.precision import build_candidate

    built = build_backend("openvino", tiny_run, device="cpu", threads=1)  # makes the run's cached export
    export = cached_export(tiny_run)
    assert export is not None and export.suffix == ".onnx"
    assert cached_export(tiny_run / "model.pt") == export and cached_export(export) is None
    cand = build_candidate("fp32", tiny_run, threads=1)
    assert cand.bundle.net is None and built.bundle.net is not None
    a, b = built.predictor(max_tile=64, overlap=16), cand.predictor(max_tile=64, overlap=16)
    assert (a.threshold, a.temperature, a.stride, a.spec) == (b.threshold, b.temperature, b.stride, b.spec)
    x = torch.rand(1, 3, 64, 64)
    np.testing.assert_array_equal(a.runner(x).numpy(), b.runner(x).numpy())  # the same graph
    # in a fresh process, the model's libraries are never imported
    code = ("import sys; from pathlib import Path; from glofwatch.infer.precision import build_candidate; "
            f"build_candidate('fp32', Path({str(tiny_run)!r}), threads=1); "
            "print(sorted({'segmentation_models_pytorch', 'timm', 'torchvision'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_automatic_batch_is_one_tile_on_cpu(tiny_run: Path, cloudy_scene, tmp_path: Path) -> None:  # noqa: ANN001
    from glofwatch.infer.predict import Predictor

    predictor = Predictor.from_path(tiny_run, device="cpu")
    res = predict_scene(read_scene(cloudy_scene.scene), predictor, tmp_path / "p.tif", tmp_path / "m.tif", tile=64,
                        overlap=16)
    assert res.batch_size == 1
    assert res.screen is not None and res.screen.padded == 0


def test_lake_sizes_count_like_bincount_in_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    import glofwatch.connectivity as conn

    rng = np.random.default_rng(0)
    labels, n = conn.label_lakes(rng.random((50, 70)) > 0.6)
    assert labels.dtype == np.uint16
    monkeypatch.setattr(conn, "SIZE_BAND_PX", 333)  # bands that cut rows
    np.testing.assert_array_equal(conn.lake_sizes(labels, n), np.bincount(labels.ravel(), minlength=n + 1))


def test_true_colour_8bit_scene_is_not_read_as_false_colour(tiny_run: Path, cloudy_scene, tmp_path: Path) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from glofwatch.cli.app import app
    from glofwatch.infer.backends import resolve_model
    from glofwatch.infer.rendering import expected_rendering
    from glofwatch.scene.render import to_rgb

    assert expected_rendering(resolve_model(tiny_run)[0]) == "false-colour"
    with rasterio.open(cloudy_scene.scene) as src:
        refl = src.read([1, 2, 3, 4]).astype(np.float32) / 10000.0
        profile = src.profile
    rgb = to_rgb(refl, "true-colour", 3.3).transpose(2, 0, 1)
    scene = tmp_path / "natural.tif"
    profile.update(count=3, dtype="uint8", nodata=0)
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(rgb)
        for i, b in enumerate(("B08", "B04", "B03"), start=1):  # labelled as the model's bands: a silent mix-up
            dst.set_band_description(i, b)
    runner = CliRunner()
    res = runner.invoke(app, ["map", str(scene), "--model", str(tiny_run), "--out", str(tmp_path / "maps"),
                              "--no-progress", "--precision", "fp32"])
    assert res.exit_code != 0
    assert "detected as true-colour" in res.output and "expects false-colour" in res.output
    assert not (tmp_path / "maps" / "natural" / "summary.json").exists()
    res = runner.invoke(app, ["map", str(scene), "--model", str(tiny_run), "--out", str(tmp_path / "maps"),
                              "--no-progress", "--precision", "fp32", "--rendering", "false-colour"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "maps" / "natural" / "summary.json").is_file()


def test_ndwi_above_is_the_index_compared_without_dividing() -> None:
    from glofwatch.mapping.screen import ndwi, ndwi_above

    rng = np.random.default_rng(0)
    g = rng.integers(0, 10000, (200, 300)).astype(np.uint16)
    n = rng.integers(0, 10000, (200, 300)).astype(np.uint16)
    g[0, :5] = n[0, :5] = 0  # no signal: index 0
    assert np.array_equal(ndwi_above(g, n, 0.0), ndwi(g, n) > 0)  # exact: green > nir
    for t in (0.1, 0.3, -0.2):
        assert np.count_nonzero(ndwi_above(g, n, t) != (ndwi(g, n) > np.float32(t))) <= 3  # float ties only
    assert ndwi_above(g, n, -0.2)[0, :5].all() and not ndwi_above(g, n, 0.1)[0, :5].any()
    assert ndwi_above(g.astype(np.float32), n.astype(np.float32), 0.0)[0, :5].sum() == 0
    assert np.array_equal(ndwi_above(np.array([300, 100]), np.array([100, 300]), 0.5), [False, False])  # 0.5 = 0.5


def test_not_observed_look_up_equals_isin() -> None:
    from glofwatch.scene.scl import NOT_OBSERVED, not_observed

    scl = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(not_observed(scl), np.isin(scl, NOT_OBSERVED))
    assert np.array_equal(not_observed(scl.astype(np.int32)), np.isin(scl, NOT_OBSERVED))


def test_an_instruction_cap_below_bf16_leaves_bf16_out_and_keys_the_choice(tiny_run: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from glofwatch.infer import precision as prec

    # oneDNN reads the cap once per process, at its first kernel: run one uncapped first, so that the uncapped
    # half of this test can compile bf16 whatever ran before it (alone, the capped half would be the first)
    first = prec.build_candidate("fp32", tiny_run, threads=1)
    first.run(torch.zeros(1, first.spec.in_channels, 64, 64))
    monkeypatch.setenv(prec.ISA_CAP_VAR, "avx2")
    assert prec.isa_cap() == "AVX2" and not prec.cpu_has_bf16()
    assert prec.cpu_signature().endswith(", ONEDNN_MAX_CPU_ISA=AVX2")
    from glofwatch.infer.backends import cache_dir, openvino_cache

    assert openvino_cache() == cache_dir() / "openvino" / "isa-avx2"  # never the uncapped CPU's compiled graphs
    with pytest.raises(ConfigError, match=r"--precision bf16: this CPU has no native bfloat16 "
                                          r"\(ONEDNN_MAX_CPU_ISA=AVX2 caps it\); use --precision int8, fp32 or auto"):
        prec.build_candidate("bf16", tiny_run)
    capped = prec.choose_precision(tiny_run, threads=1)
    capped_cpu = prec.cpu_signature()
    assert set(capped["candidates"]) == {"fp32", "int8"} and capped["cpu"] == capped_cpu
    monkeypatch.delenv(prec.ISA_CAP_VAR)
    assert openvino_cache() == cache_dir() / "openvino"
    # the record was timed under the cap: on the uncapped CPU another is made, and both are kept
    again = prec.choose_precision(tiny_run, threads=1)
    assert again["cpu"] == prec.cpu_signature() and "ONEDNN_MAX_CPU_ISA" not in again["cpu"]
    assert ("bf16" in again["candidates"]) == prec.cpu_has_bf16()
    path = tiny_run / "export" / prec.CHOICE_FILE
    assert set(prec.read_records(path)) == {capped_cpu, again["cpu"]}
    stamp = path.stat().st_mtime_ns
    monkeypatch.setenv(prec.ISA_CAP_VAR, "AVX2")
    assert prec.choose_precision(tiny_run, threads=1) == capped and path.stat().st_mtime_ns == stamp  # reused
    # records made for an older model file go when a record is written; the current model's stay
    doc = json.loads(path.read_text())
    doc["records"]["an older node"] = {**capped, "cpu": "an older node", "mtime_ns": capped["mtime_ns"] - 1}
    doc["records"]["another node"] = {**capped, "cpu": "another node"}
    path.write_text(json.dumps(doc))
    monkeypatch.delenv(prec.ISA_CAP_VAR)
    fresh = prec.choose_precision(tiny_run, threads=1, refresh=True)
    assert set(prec.read_records(path)) == {capped_cpu, fresh["cpu"], "another node"}


def test_a_candidate_that_fails_to_run_is_left_out_with_its_reason() -> None:
    from types import SimpleNamespace

    from glofwatch.infer.precision import _drop_failing

    class Fake:
        spec = SimpleNamespace(in_channels=3)

        def __init__(self, fail: bool) -> None:
            self.fail, self.shapes = fail, []

        def run(self, x):  # noqa: ANN001, ANN202
            self.shapes.append(tuple(x.shape))
            if self.fail:
                raise RuntimeError("Exception from src/inference/src/dev/plugin.cpp:59:\nobject is not initialized\n")
            return x

    backends = {"fp32": Fake(True), "int8": Fake(False), "bf16": Fake(True)}
    skipped = _drop_failing(backends)  # type: ignore[arg-type]
    assert list(backends) == ["fp32", "int8"]  # fp32 is the reference: never probed, never dropped
    assert skipped == {"bf16": "RuntimeError: Exception from src/inference/src/dev/plugin.cpp:59: object is not "
                                "initialized"}
    assert backends["int8"].shapes == [(1, 3, 64, 64)] and backends["fp32"].shapes == []  # type: ignore[attr-defined]


def test_lakes_found_counts_a_lake_covered_half_or_more() -> None:
    from glofwatch.connectivity import lakes_found

    truth = np.zeros((6, 10), bool)  # labels follow each lake's first pixel in row order
    truth[0, 0:4] = True  # lake 1: 4 px
    truth[0:2, 7:10] = True  # lake 2: 6 px
    truth[2:4, 0:3] = True  # lake 3: 6 px
    truth[4, 6] = truth[5, 5] = True  # lakes 4 and 5, 1 px each: touching at a corner only is not one lake
    pred = np.zeros_like(truth)
    pred[0, 0:2] = True  # 2 of 4: exactly half, found
    pred[0:2, 6:10] = True  # all 6 and 2 px outside it: found
    pred[2, 0:2] = True  # 2 of 6: not found
    pred[5, 5] = True
    assert lakes_found(truth, pred).tolist() == [True, True, False, False, True]
    assert lakes_found(truth, pred, min_px=5).tolist() == [True, False]  # lakes 2 and 3
    assert lakes_found(truth, np.zeros_like(truth), min_px=7).tolist() == []


def test_a_candidate_that_loses_validation_lakes_is_not_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import glofwatch.infer.precision as prec
    import glofwatch.models.bundle as bundle

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(b"not read: the candidates are stubbed")
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(prec, "build_candidate", lambda name, *a, **k: name)
    monkeypatch.setattr(prec, "_drop_failing", lambda backends: {})
    monkeypatch.setattr(prec, "_time_per_px", lambda backends: {"fp32": 400.0, "int8": 300.0, "bf16": 200.0})
    monkeypatch.setattr(bundle, "run_data_root", lambda run, data, purpose: tmp_path)

    def score(iou: float, found: int, lost: int, gained: int) -> dict[str, float]:
        return {"val_iou": iou, "lakes_found": found, "lakes_lost": lost, "lakes_gained": gained,
                "lake_px_changed_pct": 0.5}

    def choose(scores: dict[str, dict[str, float]], n_lakes: int) -> dict:  # type: ignore[type-arg]
        monkeypatch.setattr(prec, "_val_scores", lambda backends, run, root: (scores, n_lakes))
        return prec.choose_precision(run, refresh=True)

    # bf16, the fastest, loses one lake of 40 (2.5 points): int8, which loses one and gains one, is chosen
    rec = choose({"fp32": score(0.80, 30, 0, 0), "int8": score(0.80, 30, 1, 1), "bf16": score(0.799, 29, 1, 0)}, 40)
    assert rec["chosen"] == "int8" and rec["val_lakes"] == 40
    assert rec["candidates"]["bf16"]["lake_recall_points_lost"] == 2.5
    assert rec["candidates"]["int8"]["lake_recall_points_lost"] == 0.0
    assert rec["reason"].endswith("validation IoU 80.00 vs 80.00 (tolerance 0.5 points), lakes found 30 vs 30 of 40 "
                                  "(lost 1, gained 1)")
    # both lose a lake: fp32, and the reason says what each loses
    rec = choose({"fp32": score(0.80, 30, 0, 0), "int8": score(0.79, 29, 2, 1), "bf16": score(0.799, 29, 1, 0)}, 40)
    assert rec["chosen"] == "fp32"
    assert rec["reason"] == ("fp32: int8 loses 1.00 IoU points on validation (more than 0.5) and loses 2.50 "
                             "lake-recall points on validation (2 of 40 lakes lost, 1 gained; more than 0.5); "
                             "bf16 loses 2.50 lake-recall points on validation (1 of 40 lakes lost, 0 gained; "
                             "more than 0.5)")
    # 300 lakes: one lost is 0.33 points, within the tolerance
    rec = choose({"fp32": score(0.80, 200, 0, 0), "int8": score(0.80, 200, 0, 0), "bf16": score(0.80, 199, 1, 0)}, 300)
    assert rec["chosen"] == "bf16" and rec["candidates"]["bf16"]["lake_recall_points_lost"] == pytest.approx(0.333)
    # no validation lake of 0.01 km2: the IoU rule alone, and the reason says so
    rec = choose({"fp32": score(0.80, 0, 0, 0), "int8": score(0.80, 0, 0, 0), "bf16": score(0.80, 0, 0, 0)}, 0)
    assert rec["chosen"] == "bf16" and rec["candidates"]["bf16"]["lake_recall_points_lost"] is None
    assert rec["reason"].endswith("no validation lake of 100 px or more, so lake recall not checked")
    saved = prec.read_records(run / "export" / prec.CHOICE_FILE)[prec.cpu_signature()]
    assert saved["rules"] == prec.CHOICE_RULES and saved["chosen"] == "bf16"

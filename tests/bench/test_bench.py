"""Benchmark commands on a tiny configuration: valid JSON with the expected keys, Markdown tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from glofwatch.bench import markdown_table
from glofwatch.bench.peak import count_gflops, matmul_peak_gflops
from glofwatch.cli.app import app
from glofwatch.runtime import peak_rss_mb

runner = CliRunner()
FAST = ["--min-iters", "2", "--max-iters", "2", "--min-time", "0", "--warmup", "1", "--matmul-n", "128",
        "--threads", "1"]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOFWATCH_CACHE_DIR", str(tmp_path / "cache"))


def test_count_gflops_by_hand() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    # 2 FLOPs per multiply-add: 2 * (8 x 16 x 16 outputs) * (3 x 3 x 3 weights) = 110592
    assert count_gflops(conv, (1, 3, 16, 16)) == pytest.approx(110592 / 1e9)


def test_matmul_peak_and_rss() -> None:
    peak = matmul_peak_gflops(n=64, repeats=2, threads=1)
    assert set(peak) == {"gflops", "n", "per_size", "repeats", "threads", "best_s", "dtype"}
    assert peak["gflops"] == pytest.approx(2 * 64**3 / peak["best_s"] / 1e9)
    assert peak["threads"] == 1
    # several sides: the peak is the best of them, and each side is kept
    several = matmul_peak_gflops(n=(32, 64, 96), repeats=2, threads=1)
    assert set(several["per_size"]) == {32, 64, 96}
    assert several["gflops"] == max(several["per_size"].values()) == several["per_size"][several["n"]]
    assert several["gflops"] == pytest.approx(2 * several["n"] ** 3 / several["best_s"] / 1e9)
    assert peak_rss_mb() > 10


def test_markdown_table() -> None:
    text = markdown_table(["a", "b", "c"], [["x", 1.23456, None], ["y", 12345.6, 7]])
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| x | 1.23 | – |", "| y | 12346 | 7 |"]


def test_bench_infer_tiny(tmp_path: Path) -> None:
    out = tmp_path / "infer"
    res = runner.invoke(app, ["bench", "infer", "--models", "tiny-unet", "--backends", "torch,onnxruntime",
                              "--size", "64", "--batch", "1", "--batch", "2", "--in-process", "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "infer.json").read_text())
    assert doc["kind"] == "infer"
    assert {"cpu", "logical_cpus", "torch", "onnxruntime"} <= set(doc["machine"])
    assert doc["matmul_peak"]["gflops"] > 0 and doc["matmul_peak"]["n"] == 128
    assert doc["errors"] == []
    rows = {r["backend"]: r for r in doc["results"]}
    assert set(rows) == {"torch", "onnxruntime"}
    for r in rows.values():
        assert r["model"] == "tiny-unet" and r["size"] == 64 and r["kind"] == "random-init"
        assert r["gflops_per_image"] == pytest.approx(rows["torch"]["gflops_per_image"]) and r["gflops_per_image"] > 0
        assert set(r["batches"]) == {"1", "2"} and r["peak_rss_mb"] > 0
        for m in r["batches"].values():
            assert {"p50_ms", "p95_ms", "mean_ms", "images_per_s", "iters", "achieved_gflops", "peak_fraction",
                    "speedup_vs_torch"} <= set(m)
            assert m["iters"] == 2 and m["p95_ms"] >= m["p50_ms"] > 0
            assert m["achieved_gflops"] == pytest.approx(r["gflops_per_image"] * m["images_per_s"])
    assert rows["torch"]["batches"]["1"]["speedup_vs_torch"] == 1.0
    md = (out / "infer.md").read_text()
    assert "| model | backend | batch | images/s |" in md and md.count("| tiny-unet |") == 4


def test_bench_infer_isolated_backend_and_int8(tmp_path: Path) -> None:
    out = tmp_path / "iso"
    res = runner.invoke(app, ["bench", "infer", "-m", "tiny-unet", "-b", "onnxruntime-int8", "--size", "64",
                              "--batch", "1", "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    (row,) = json.loads((out / "infer.json").read_text())["results"]
    assert row["backend"] == "onnxruntime-int8"
    assert row["peak_rss_mb"] >= row["rss_start_mb"] > 0  # measured in the worker process
    assert row["batches"]["1"]["speedup_vs_torch"] is None  # no torch row to compare with


def test_bench_infer_interleaved(tmp_path: Path) -> None:
    out = tmp_path / "rr"
    res = runner.invoke(app, ["bench", "infer", "-m", "tiny-unet", "-b", "torch,onnxruntime", "--size", "64",
                              "--batch", "1", "--interleave", "--out", str(out),
                              *FAST[:2], "--max-iters", "3", *FAST[4:]])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "infer.json").read_text())
    assert doc["settings"]["interleave"] is True and doc["settings"]["isolate"] is False
    rows = {r["backend"]: r for r in doc["results"]}
    assert set(rows) == {"torch", "onnxruntime"}
    assert rows["torch"]["peak_rss_mb"] == rows["onnxruntime"]["peak_rss_mb"]  # one process
    assert all(r["batches"]["1"]["iters"] == 2 for r in rows.values())  # min-iters 2, min-time 0
    assert "round-robin" in (out / "infer.md").read_text()


def test_bench_infer_unknown_backend(tmp_path: Path) -> None:
    res = runner.invoke(app, ["bench", "infer", "-m", "tiny-unet", "-b", "onnx", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "error: unknown benchmark backend 'onnx'; did you mean 'onnxruntime'" in res.output


def test_bench_train_tiny(tmp_path: Path) -> None:
    out = tmp_path / "train"
    res = runner.invoke(app, ["bench", "train", "--presets", "tiny-unet", "--batch", "2", "--size", "64",
                              "--steps", "1", "--warmup", "0", "--devices", "cpu", "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "train.json").read_text())
    assert doc["kind"] == "train" and doc["errors"] == []
    # CPU defaults: fp32 only, no torch.compile, both memory formats
    assert [(r["device"], r["precision"], r["compile"], r["channels_last"]) for r in doc["results"]] == [
        ("cpu", "32", False, False), ("cpu", "32", False, True)]
    for r in doc["results"]:
        assert r["model"] == "tiny-unet" and r["batch"] == 2 and r["size"] == 64
        assert r["s_per_step"] > 0 and r["images_per_s"] == pytest.approx(2 / r["s_per_step"])
        assert r["forward_s"] > 0 and r["compile_s"] is None and r["peak_mb"] > 10
    assert ("| preset | model | device | precision | channels-last | compile | s/step | images/s | val s/batch | "
            "peak MB | compile s |") in (out / "train.md").read_text()


def test_bench_train_unknown_preset(tmp_path: Path) -> None:
    res = runner.invoke(app, ["bench", "train", "--presets", "fsat", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "error: 'fsat' is neither a preset nor a model; did you mean 'fast'" in res.output


def test_bench_scene_tiny(tmp_path: Path) -> None:
    out = tmp_path / "scene"
    res = runner.invoke(app, ["bench", "scene", "--model", "tiny-unet", "--size", "256", "--tile", "128",
                              "--overlap", "16", "--backend", "onnxruntime", "--threads", "1", "--in-process",
                              "--matmul-n", "128", "--cache", str(tmp_path / "scenes"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "scene.json").read_text())
    assert doc["kind"] == "scene" and doc["backend_used"] == "onnxruntime"
    assert doc["settings"]["size"] == 256 and doc["summary"]["height"] == 256 == doc["summary"]["width"]
    ref, fast = doc["runs"]["reference"], doc["runs"]["fast"]
    assert ref["summary"]["n_tiles"] == fast["summary"]["n_tiles"] == 9  # 128 px tiles, 16 px overlap: 3 x 3
    assert not ref["screen"] and fast["screen"] and ref["precision"] == "fp32"
    # the reference runs every tile with data; the screen can only run fewer
    assert fast["summary"]["n_tiles_run"] <= ref["summary"]["n_tiles_run"]
    assert sum(fast["summary"]["screen"]["tiles_skipped"].values()) == 9 - fast["summary"]["n_tiles_run"]
    # the floor: processed pixels x GFLOP per pixel / the matmul peak
    fl = fast["floor"]
    assert fl["processed_px"] == fast["summary"]["screen"]["processed_px"]
    peak = doc["matmul_peak"]["fp32"]["gflops"]
    assert fl["floor_s"] == pytest.approx(fl["processed_px"] * fl["gflop_per_px"] / peak)
    # both runs scored against the scene's truth, and the cost is their difference
    for r in (ref, fast):
        assert 0 <= r["accuracy"]["pixel_iou"] <= 1
    cost = doc["fast_path_cost"]
    iou_lost = 100 * (ref["accuracy"]["pixel_iou"] - fast["accuracy"]["pixel_iou"])
    assert cost["pixel_iou_points"] == pytest.approx(iou_lost)
    assert cost["speedup"] == pytest.approx(ref["map_s"] / fast["map_s"])
    lakes = cost["lakes"]  # the lakes the fast path flips: they make up the whole recall difference
    assert fast["accuracy"]["found_ge_0.01km2"] == (ref["accuracy"]["found_ge_0.01km2"] - len(lakes["lost"])
                                                    + len(lakes["gained"]))
    assert all(lk["reference_covered_pct"] >= 50 > lk["covered_pct"] for lk in lakes["lost"])
    assert all(lk["reference_covered_pct"] < 50 <= lk["covered_pct"] for lk in lakes["gained"])
    assert set(doc["meets_targets"]) == {"wall_s", "peak_rss_mb", "recall_points"}
    assert doc["map_s"] == fast["map_s"] > 0 and doc["peak_rss_mb"] > 0
    scene_dir = tmp_path / "scenes" / "scene-256-s0-c15"
    assert all((scene_dir / f).is_file() for f in ("scene.tif", "dem.tif", "dem-glo30.tif", "lakes_mask.tif"))
    # mapped with the GLO-30-like DEM by default: warped onto the scene, its shore allowance one DEM cell
    assert doc["settings"]["dem"] == str(scene_dir / "dem-glo30.tif") and doc["settings"]["dem_grid"] == "glo30"
    assert ref["summary"]["terrain"]["dem"] == str(scene_dir / "dem-glo30.tif")
    assert not list(out.glob("map-*"))  # maps are deleted unless --keep-outputs
    text = (out / "scene.md").read_text()
    assert "Meets targets" in text and "network floor s" in text and "GLO-30-like DEM" in text
    res = runner.invoke(app, ["bench", "scene", "--dem-grid", "srtm", "--cache", str(tmp_path / "scenes"),
                              "--out", str(out)])
    assert res.exit_code == 2 and "--dem-grid 'srtm' is unknown; use scene or glo30" in res.output


def test_flipped_lakes_lists_what_a_run_loses_and_gains() -> None:
    from glofwatch.bench.scene import flipped_lakes

    ref = {1: (0.05, 51.26, True), 2: (0.2, 30.0, False), 3: (1.5, 99.0, True), 4: (0.013381, 50.59, True)}
    other = {1: (0.05, 43.69, False), 2: (0.2, 50.0, True), 3: (1.5, 98.0, True), 4: (0.013381, 40.43, False)}
    assert flipped_lakes(ref, other) == {
        "lost": [{"truth_lake": 1, "area_km2": 0.05, "reference_covered_pct": 51.26, "covered_pct": 43.69},
                 {"truth_lake": 4, "area_km2": 0.0134, "reference_covered_pct": 50.59, "covered_pct": 40.43}],
        "gained": [{"truth_lake": 2, "area_km2": 0.2, "reference_covered_pct": 30.0, "covered_pct": 50.0}]}
    assert flipped_lakes(ref, ref) == {"lost": [], "gained": []}


def test_geographic_bench_dem_averages_the_scene_dem_onto_whole_arc_seconds(tmp_path: Path) -> None:
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.warp import transform_bounds

    from glofwatch.bench.dem import GLO30_NODATA, bench_dem, geographic_dem
    from glofwatch.geo import GeoGrid
    from glofwatch.mapping.terrain import TerrainRules

    # a 10 m UTM plane rising 0.1 m per metre eastwards, 3 x 3 km, with a void in one corner
    t = Affine(10, 0, 500000, 0, -10, 3100000)
    x = 500000 + 10 * (np.arange(300) + 0.5)
    z = np.tile(2000.0 + 0.1 * (x - 500000), (300, 1)).astype(np.float32)
    z[:60, :60] = -9999.0
    prof = dict(driver="GTiff", height=300, width=300, count=1, dtype="float32", crs="EPSG:32645", transform=t,
                nodata=-9999.0)
    src = tmp_path / "scene" / "dem.tif"
    src.parent.mkdir()
    with rasterio.open(src, "w", **prof) as ds:
        ds.write(z, 1)
    out = geographic_dem(src, tmp_path / "geo.tif")
    step = 1 / 3600
    with rasterio.open(out) as g:
        a = g.read(1)
        assert g.crs.to_epsg() == 4326 and g.res == pytest.approx((step, step)) and g.nodata == GLO30_NODATA
        assert g.block_shapes[0] == (1024, 1024) and g.tags()["source"] == "dem.tif averaged to 1 arcsec"
        # corners on whole arc seconds, covering the source and 6 km around it
        assert g.transform.c / step == pytest.approx(round(g.transform.c / step), abs=1e-6)
        assert g.transform.f / step == pytest.approx(round(g.transform.f / step), abs=1e-6)
        left, bottom, right, top = transform_bounds("EPSG:32645", "EPSG:4326", 494000, 3091000, 509000, 3106000)
        assert g.bounds.left <= left and g.bounds.right >= right and g.bounds.bottom <= bottom and g.bounds.top >= top
        assert g.bounds.left > left - 2 * step and g.bounds.top < top + 2 * step  # and no more
    assert not (a == GLO30_NODATA).any() and np.isfinite(a).all()  # void-filled, like GLO-30
    # an average of a plane is the plane at the cell's middle: warp it back and compare with the plane
    grid = GeoGrid("EPSG:32645", t, 300, 300)
    with TerrainRules(out, grid) as rules:
        back = rules.read(0, 300)[rules.halo : rules.halo + 300, rules.halo : rules.halo + 300]
    inside = np.isfinite(back)
    inside[:70, :70] = False  # the void, filled from around it
    inside[[0, -1], :] = inside[:, [0, -1]] = False
    assert inside.mean() > 0.8
    assert np.abs(back - z)[inside].max() < 0.5  # within 0.5 m of the 10 m plane (1 arcsec ~ 30 m cells)
    # the bench's choice of layout: made once, then reused; the scene grid is the file itself
    assert bench_dem(src.parent, "scene") == src
    made = bench_dem(src.parent, "glo30")
    assert made == src.parent / "dem-glo30.tif" and made.is_file()
    stamp = made.stat().st_mtime_ns
    assert bench_dem(src.parent, "glo30").stat().st_mtime_ns == stamp


def test_large_scenes_are_a_mosaic_of_one_drawn_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import rasterio

    import glofwatch.bench.scene as scene_mod

    monkeypatch.setattr(scene_mod, "MAX_DRAW", 128)
    big = scene_mod.cached_scene(tmp_path, 300, seed=3, cloud_cover=0.2)
    base = tmp_path / "scene-128-s3-c20"
    assert big == tmp_path / "scene-300-s3-c20" / "scene.tif"
    # mirrored back and forth: rows 0..127, then 127..0, then 0..43
    idx = np.concatenate([np.arange(128), np.arange(127, -1, -1), np.arange(44)])
    assert scene_mod.mirrored(300, 128).tolist() == idx.tolist()
    for name in ("scene.tif", "dem.tif", "lakes_mask.tif"):
        with rasterio.open(base / name) as b, rasterio.open(big.parent / name) as m:
            assert (m.height, m.width, m.count) == (300, 300, b.count)
            assert m.crs == b.crs and m.transform == b.transform and m.nodata == b.nodata
            assert m.descriptions == b.descriptions and m.tags() == b.tags()
            src, out = b.read(), m.read()
        assert np.array_equal(out, src[:, idx][:, :, idx])
    with rasterio.open(big) as m:
        assert m.descriptions == ("B02", "B03", "B04", "B08", "SCL")  # cloud: the SCL travels along
        assert "SUN_AZIMUTH" in m.tags()  # and the sun, for the cast-shadow rule
    assert scene_mod.cached_scene(tmp_path, 300, seed=3, cloud_cover=0.2) == big  # cached: not made again

"""``glofwatch map``: whole scenes to rasters, lakes and summaries; resume; many scenes on Dask."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from stand_ins import RedBelowTen, write_geotiff
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.mapping.batch import OUTPUT_FILES, is_complete, map_scene

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)  # on the central meridian of UTM 45N: scale 0.9996
K0 = 0.9996


def write_scene(path: Path, data: np.ndarray, crs: str | None = UTM, bands=("B02", "B03", "B04", "B08")) -> Path:
    return write_geotiff(path, data, TRANSFORM, crs, nodata=0, bands=bands)


def squares_scene(path: Path) -> Path:
    data = np.full((4, 300, 300), 3000, np.uint16)
    data[:, 50:70, 40:60] = 400  # 20 x 20 px = 0.04 km2
    data[:, 150:190, 100:150] = 400  # 40 x 50 px = 0.2 km2
    data[:, 250:252, 250:252] = 400  # 2 x 2 px = 400 m2, below the minimum area
    data[:, :40, 200:] = 0  # nodata
    return write_scene(path, data)


def test_map_scene_finds_known_lakes_and_keeps_nodata(tmp_path: Path) -> None:
    scene = squares_scene(tmp_path / "squares.tif")
    ticks: list[tuple[int, int]] = []
    summary = map_scene(scene, RedBelowTen(), tmp_path / "out", tile=128, overlap=32, batch_size=2,
                        progress=lambda d, t: ticks.append((d, t)))
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUT_FILES, "summary.json"])
    assert summary.n_lakes == 2 and summary.n_tiles == 9 and ticks[-1] == (9, 9)
    assert summary.lake_pixels == 400 + 2000 + 4
    assert summary.lake_area_km2 == pytest.approx(0.24 / K0**2, rel=1e-3)
    lakes = gpd.read_file(out / "lakes.gpkg")
    assert lakes.crs.to_epsg() == 32645
    assert sorted(lakes["area_km2"].round(5)) == pytest.approx([0.04 / K0**2, 0.2 / K0**2], rel=1e-3)
    assert lakes["max_prob"].min() > 0.99
    gj = gpd.read_file(out / "lakes.geojson")
    assert gj.crs.to_epsg() == 4326 and len(gj) == 2
    with rasterio.open(out / "mask.tif") as ds:
        mask = ds.read(1)
        assert ds.crs.to_epsg() == 32645 and ds.transform == TRANSFORM and ds.nodata == 255
    with rasterio.open(out / "probability.tif") as ds:
        prob = ds.read(1)
        assert ds.crs.to_epsg() == 32645 and ds.transform == TRANSFORM and np.isnan(ds.nodata)
    assert (mask[:40, 200:] == 255).all() and np.isnan(prob[:40, 200:]).all()
    assert (mask[40:] != 255).all() and mask[150:190, 100:150].all()
    doc = json.loads((out / "summary.json").read_text())
    assert doc["status"] == "done" and doc["n_lakes"] == 2
    assert doc["valid_fraction"] == pytest.approx(1 - 40 * 100 / 90000)
    assert is_complete(out)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small synthetic scenes (one as band files), one without CRS, one all nodata."""
    from glofwatch.scene.synth import write_synthetic_scene

    root = tmp_path_factory.mktemp("scenes")
    a = write_synthetic_scene(root / "alpha", size=128, seed=1).scene
    bands_dir = root / "beta"
    write_synthetic_scene(bands_dir, size=128, seed=2, bands_as_files=True)
    for extra in ("lakes_mask.tif", "dem.tif"):  # leave only B02..B08 in the folder
        (bands_dir / extra).rename(root / f"beta_{extra}")
    nocrs = write_scene(root / "nocrs.tif", np.full((4, 64, 64), 500, np.uint16), crs=None)
    empty = write_scene(root / "empty.tif", np.zeros((4, 64, 64), np.uint16))
    return {"alpha": a, "beta": bands_dir, "nocrs": nocrs, "empty": empty}


def test_cli_maps_one_scene_then_skips_it(tiny_run: Path, scenes: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["map", str(scenes["alpha"]), "--model", str(tiny_run), "--out", str(tmp_path), "--tile", "64",
            "--overlap", "16", "--device", "cpu", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "counts each lake once" not in res.output  # one scene: nothing to overlap
    out = tmp_path / "scene"  # scene.tif -> OUT/scene/
    assert is_complete(out)
    with rasterio.open(scenes["alpha"]) as src, rasterio.open(out / "mask.tif") as dst:
        assert dst.crs == src.crs and dst.transform == src.transform and dst.shape == src.shape
        wedge = np.all(src.read() == 0, axis=0)
        assert wedge.any() and (dst.read(1)[wedge] == 255).all() and (dst.read(1)[~wedge] != 255).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tile"] == 64 and summary["n_tiles"] == 9 and summary["model"] == "tiny-unet"
    assert "rendered to 8-bit" in summary["input"]
    stamp = (out / "mask.tif").stat().st_mtime_ns
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "skipped" in res.output
    assert (out / "mask.tif").stat().st_mtime_ns == stamp
    res = runner.invoke(app, [*args, "--overwrite"])
    assert res.exit_code == 0 and (out / "mask.tif").stat().st_mtime_ns != stamp


def test_cli_many_scenes_on_dask_reports_the_bad_one(tiny_run: Path, scenes: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["map", str(scenes["alpha"]), str(scenes["beta"]), str(scenes["nocrs"]), "--model", str(tiny_run),
            "--out", str(tmp_path), "--tile", "64", "--overlap", "16", "--device", "cpu", "--workers", "2",
            "--worker-threads", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output  # every failure was bad input: exit 2, the good scenes still mapped
    assert "nocrs.tif: raster has no CRS; assign one first" in res.output
    assert "1 of 3 scene(s) failed" in res.output
    # two scenes mapped: their lake counts may overlap, and the table says where to count each lake once
    assert f"`glofwatch inventory {tmp_path}` counts each lake once where these scenes overlap" in res.output
    assert is_complete(tmp_path / "scene") and is_complete(tmp_path / "beta")
    assert not (tmp_path / "nocrs" / "summary.json").exists()
    beta = json.loads((tmp_path / "beta" / "summary.json").read_text())
    assert beta["status"] == "done" and beta["height"] == 128
    res = runner.invoke(app, args[:3] + args[4:])  # without the bad scene: both are complete already
    assert res.exit_code == 0, res.output
    assert res.output.count("skipped") >= 2


def test_cli_scene_errors(tiny_run: Path, scenes: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["map", str(scenes["empty"]), "--model", str(tiny_run), "--out", str(tmp_path),
                              "--no-progress"])
    assert res.exit_code == 2 and "error: " in res.output
    assert "empty.tif: every pixel is nodata (nodata=0.0)" in res.output
    two = write_scene(tmp_path / "two.tif", np.full((2, 64, 64), 700, np.uint16), bands=("B02", "B03"))
    res = runner.invoke(app, ["map", str(two), "--model", str(tiny_run), "--out", str(tmp_path), "--no-progress"])
    assert res.exit_code == 2
    # tiny_run was trained on the synthetic false-colour crops (B08, B04, B03)
    assert ("two.tif: the model needs bands B08, B04, B03 but the scene has B02, B03 (missing B08, B04)"
            in " ".join(res.output.split()))
    res = runner.invoke(app, ["map", str(two), "--model", str(tmp_path / "nope.pt"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "nope.pt: no such run folder or model file" in res.output
    res = runner.invoke(app, ["map", str(two), str(tmp_path / "x" / "two.tif"), "--model", str(tiny_run),
                              "--out", str(tmp_path)])
    assert res.exit_code == 2 and "same output name 'two'" in res.output


def test_cli_uses_an_existing_scheduler(tiny_run: Path, scenes: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import LocalCluster

    import glofwatch.mapping.batch as batch

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        res = CliRunner().invoke(app, ["map", str(scenes["alpha"]), "--model", str(tiny_run), "--out", str(tmp_path),
                                       "--tile", "64", "--overlap", "16", "--device", "cpu", "--no-progress",
                                       "--scheduler", cluster.scheduler_address])
        assert res.exit_code == 0, res.output
        assert is_complete(tmp_path / "scene")
    monkeypatch.setattr(batch, "CONNECT_TIMEOUT_S", 2)
    res = CliRunner().invoke(app, ["map", str(scenes["beta"]), "--model", str(tiny_run), "--out", str(tmp_path),
                                   "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "cannot reach the Dask scheduler tcp://127.0.0.1:1" in res.output


def test_cli_backends_agree_and_are_recorded(tiny_run: Path, scenes: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    probs = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        res = runner.invoke(app, ["map", str(scenes["alpha"]), "--model", str(tiny_run), "--out", str(out),
                                  "--tile", "64", "--overlap", "16", "--device", "cpu", "--backend", backend,
                                  "--no-progress"])
        assert res.exit_code == 0, res.output
        assert json.loads((out / "scene" / "summary.json").read_text())["backend"] == backend
        with rasterio.open(out / "scene" / "probability.tif") as ds:
            probs[backend] = ds.read(1).astype(np.float64)
    # the exported graph differs from eager torch by float rounding only (issue target: 1e-4)
    nodata = np.isnan(probs["torch"])
    assert nodata.any() and (np.isnan(probs["onnxruntime"]) == nodata).all()
    assert np.abs(probs["torch"] - probs["onnxruntime"])[~nodata].max() <= 1e-4
    # an exported file maps too (its runtime is implied by the suffix) and gives the same map
    from glofwatch.models.export import export_model

    onnx_file = export_model(tiny_run, "onnx", out=tmp_path / "tiny.onnx")
    res = runner.invoke(app, ["map", str(scenes["alpha"]), "--model", str(onnx_file), "--out", str(tmp_path / "x"),
                              "--tile", "64", "--overlap", "16", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "x" / "scene" / "summary.json").read_text())["backend"] == "onnxruntime"
    with rasterio.open(tmp_path / "x" / "scene" / "probability.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), probs["onnxruntime"].astype(np.float32))
    res = runner.invoke(app, ["map", str(scenes["alpha"]), "--model", str(tiny_run), "--out", str(tmp_path),
                              "--backend", "onnx"])
    assert res.exit_code == 2 and "unknown backend 'onnx'" in res.output and "onnxruntime" in res.output


def test_cli_resume_is_keyed_on_the_model_file_and_options(tiny_run: Path, scenes: dict[str, Path],
                                                           tmp_path: Path) -> None:
    from glofwatch.models.export import export_model

    runner = CliRunner()
    base = ["map", str(scenes["alpha"]), "--out", str(tmp_path), "--tile", "64", "--overlap", "16", "--device", "cpu",
            "--no-progress"]
    first = runner.invoke(app, [*base, "--model", str(tiny_run)])
    assert first.exit_code == 0, first.output
    summary = json.loads((tmp_path / "scene" / "summary.json").read_text())
    assert set(summary["resume"]) == {"hash", "model_sha256", "options"}
    assert list(summary["resume"]["model_sha256"]) == ["model.pt"] and summary["resume"]["options"]["tile"] == 64

    def stamp() -> int:
        return (tmp_path / "scene" / "mask.tif").stat().st_mtime_ns

    before = stamp()
    same = runner.invoke(app, [*base, "--model", str(tiny_run)])
    assert same.exit_code == 0 and "skipped" in same.output and stamp() == before
    other = runner.invoke(app, [*base, "--model", str(tiny_run), "--min-area-m2", "2000"])
    assert other.exit_code == 0 and "redone: the model or options changed since it was mapped" in other.output
    assert stamp() != before
    before = stamp()
    again = runner.invoke(app, [*base, "--model", str(tiny_run), "--min-area-m2", "2000"])
    assert again.exit_code == 0 and "skipped" in again.output and stamp() == before
    onnx_file = export_model(tiny_run, "onnx", out=tmp_path / "tiny.onnx")
    new_model = runner.invoke(app, [*base, "--model", str(onnx_file), "--min-area-m2", "2000"])
    assert new_model.exit_code == 0 and "redone" in new_model.output and stamp() != before
    res = runner.invoke(app, ["map", str(scenes["alpha"]), str(scenes["beta"]), "--model", str(tiny_run), "--out",
                              str(tmp_path), "--scl", str(scenes["alpha"])])
    assert res.exit_code == 2 and "is one scene's classification layer but 2 scenes are given" in res.output


def test_map_threshold_and_tta_reach_the_predictor_and_the_resume_key(tiny_run: Path, scenes: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "maps"
    base = ["map", str(scenes["alpha"]), "--model", str(tiny_run), "--out", str(out), "--backend", "torch",
            "--no-progress"]
    assert runner.invoke(app, [*base, "--threshold", "0.001"]).exit_code == 0
    name = scenes["alpha"].stem if scenes["alpha"].is_file() else scenes["alpha"].name
    summary = json.loads((out / name / "summary.json").read_text())
    assert summary["threshold"] == 0.001 and summary["resume"]["options"]["threshold"] == 0.001
    with rasterio.open(out / name / "mask.tif") as ds, rasterio.open(out / name / "probability.tif") as pr:
        mask, prob = ds.read(1), pr.read(1)
    assert np.array_equal(mask == 1, np.nan_to_num(prob) > 0.001)  # the mask follows the given threshold
    res = runner.invoke(app, [*base, "--threshold", "0.001", "--tta"])  # an option changed: the scene is redone
    assert res.exit_code == 0 and "skipped" not in res.output
    assert json.loads((out / name / "summary.json").read_text())["resume"]["options"]["tta"] is True

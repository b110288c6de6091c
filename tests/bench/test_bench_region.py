"""``glofwatch bench region``: throughput on 1 and 2 Dask workers, scaling efficiency, projected 350-tile times."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glofwatch.bench.region import make_tiles, projection, scaling
from glofwatch.cli.app import app


def test_scaling_and_projection_arithmetic() -> None:
    runs = [{"workers": 1, "wall_s": 100.0}, {"workers": 2, "wall_s": 60.0}]
    scaling(runs, tiles=20)
    assert runs[0]["tiles_per_hour"] == pytest.approx(720.0) and runs[1]["tiles_per_hour"] == pytest.approx(1200.0)
    assert runs[1]["tiles_per_hour_per_worker"] == pytest.approx(600.0)
    assert runs[1]["speedup"] == pytest.approx(100 / 60)
    assert runs[0]["efficiency"] == 1.0 and runs[1]["efficiency"] == pytest.approx(100 / (2 * 60))  # T1 / (2 T2)
    p = projection(runs, tiles=20, project_tiles=350, project_workers=(2, 4, 64))
    assert p["efficiency"] == pytest.approx(5 / 6) and p["per_worker_tile_s"] == pytest.approx(5.0)
    rows = {r["workers"]: r for r in p["rows"]}
    assert sorted(rows) == [1, 2, 4, 64] and rows[2]["measured"] and not rows[4]["measured"]
    assert rows[1]["projected_s"] == pytest.approx(350 * 5.0) and rows[2]["projected_s"] == pytest.approx(350 * 3.0)
    # one tile per worker at 2-worker efficiency: 5 s / (5/6) = 6 s; 350 tiles on 4 workers: 525 s, 88 rounds: 528 s
    assert rows[4]["projected_s"] == pytest.approx(525.0) and rows[4]["rounds"] == 88
    assert rows[4]["rounds_s"] == pytest.approx(528.0)
    assert rows[64]["projected_s"] == pytest.approx(350 * 6 / 64) and rows[64]["rounds_s"] == pytest.approx(36.0)
    assert rows[4]["projected_h"] == pytest.approx(525 / 3600)
    assert p["core_rows"] == [] and p["cpu_s_per_tile"] is None  # runs without CPU times: no CPU-time bound


def test_cpu_time_bound_arithmetic() -> None:
    # 20 tiles; on 1 worker each mapped in 4 s on 6 CPU s (1.5 cores busy); on 2 workers 7 s on 8 CPU s each
    runs = [{"workers": 1, "wall_s": 100.0, "tile_cpu_s_sum": 120.0, "tile_map_s_sum": 80.0, "tile_cpu_s_mean": 6.0},
            {"workers": 2, "wall_s": 80.0, "tile_cpu_s_sum": 160.0, "tile_map_s_sum": 140.0, "tile_cpu_s_mean": 8.0}]
    scaling(runs, tiles=20, cpus=2)
    assert runs[0]["cores_busy"] == pytest.approx(1.5) and runs[1]["cores_busy"] == pytest.approx(160 / 140)
    assert runs[0]["machine_busy"] == pytest.approx(120 / 200) and runs[1]["machine_busy"] == pytest.approx(1.0)
    # two workers on 2 CPUs can do at most 2 / 1.5 of one worker's throughput, not 2x
    assert runs[0]["speedup_bound"] == 1.0 and runs[1]["speedup_bound"] == pytest.approx(4 / 3)
    p = projection(runs, tiles=20, project_tiles=350, project_workers=(8,), project_cores=(16, 128))
    assert p["cpu_s_per_tile"] == 6.0
    assert [r["cores"] for r in p["core_rows"]] == [16, 128]
    assert p["core_rows"][0]["projected_s"] == pytest.approx(350 * 6 / 16)
    assert p["core_rows"][1]["projected_h"] == pytest.approx(350 * 6 / 128 / 3600)
    assert p["core_rows"][1]["tiles_per_hour"] == pytest.approx(3600 * 128 / 6)
    many = [{"workers": 1, "wall_s": 10.0, "tile_cpu_s_sum": 10.0, "tile_map_s_sum": 10.0},
            {"workers": 4, "wall_s": 10.0, "tile_cpu_s_sum": 40.0, "tile_map_s_sum": 40.0}]
    scaling(many, tiles=4, cpus=16)  # one core busy per tile, 16 CPUs: the worker count is the bound
    assert many[1]["speedup_bound"] == 4.0


def test_make_tiles_links_one_file_under_many_names(tmp_path: Path) -> None:
    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"x" * 10)
    assert make_tiles(scene, tmp_path / "tiles", 3) == "hard link"
    tiles = sorted((tmp_path / "tiles").iterdir())
    assert [p.name for p in tiles] == ["tile-000.tif", "tile-001.tif", "tile-002.tif"]
    assert {p.stat().st_ino for p in tiles} == {scene.stat().st_ino}
    assert make_tiles(scene, tmp_path / "tiles", 3) == "hard link"  # again: replaced, not an error


def test_bench_region_tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOFWATCH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "region"
    res = CliRunner().invoke(app, ["bench", "region", "--tiles", "2", "--size", "256", "--workers", "1,2",
                                   "--model", "tiny-unet", "--backend", "torch", "--tile", "128", "--overlap", "16",
                                   "--project-workers", "8,32", "--cache", str(tmp_path / "scenes"),
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "region.json").read_text())
    assert doc["kind"] == "region" and doc["backend_used"] == "torch"
    s = doc["settings"]
    assert s["tiles"] == 2 and s["size"] == 256 and s["workers"] == [1, 2] and s["inputs"] == "hard link"
    assert s["model_kind"] == "random-init" and s["threads_per_worker"] >= 1
    one, two = doc["runs"]
    assert (one["workers"], two["workers"]) == (1, 2) and one["wall_s"] > 0 and two["wall_s"] > 0
    assert one["tile_map_s_mean"] > 0 and two["tile_map_s_mean"] > 0
    # CPU seconds from each tile's summary.json; a tile cannot keep more cores busy than the machine has
    cpus = doc["machine"]["logical_cpus"]
    for r in (one, two):
        assert r["tile_cpu_s_mean"] > 0 and r["tile_cpu_s_sum"] == pytest.approx(2 * r["tile_cpu_s_mean"])
        assert 0 < r["cores_busy"] <= cpus * 1.05
        assert r["machine_busy"] == pytest.approx(r["tile_cpu_s_sum"] / (r["wall_s"] * cpus))
    assert two["speedup_bound"] == pytest.approx(min(2.0, cpus / one["cores_busy"]))
    # the largest peak a worker process reported over its tiles (torch and the model loaded: over 100 MiB)
    assert 100 < one["worker_peak_rss_mb"] < 8000 and 100 < two["worker_peak_rss_mb"] < 8000
    # mapped with the scene's DEM laid out like GLO-30 by default: every tile ran the terrain rules
    assert s["dem"] == str(tmp_path / "scenes" / Path(s["scene"]).parent.name / "dem-glo30.tif")
    assert s["dem_grid"] == "glo30"
    assert one["tiles_with_terrain"] == two["tiles_with_terrain"] == 2
    # every derived number follows from the recorded wall times
    assert two["efficiency"] == pytest.approx(one["wall_s"] / (2 * two["wall_s"]))
    assert doc["efficiency"] == two["efficiency"]
    assert two["speedup"] == pytest.approx(one["wall_s"] / two["wall_s"])
    assert one["tiles_per_hour"] == pytest.approx(3600 * 2 / one["wall_s"])
    p = doc["projection"]
    assert p["tiles"] == 350 and p["efficiency"] == two["efficiency"]
    rows = {r["workers"]: r for r in p["rows"]}
    assert sorted(rows) == [1, 2, 8, 32]
    assert rows[2]["projected_s"] == pytest.approx(350 * two["wall_s"] / 2)
    tile_s = one["wall_s"] / 2 / two["efficiency"]
    assert rows[32]["projected_s"] == pytest.approx(350 * tile_s / 32)
    assert rows[32]["rounds"] == math.ceil(350 / 32) and rows[32]["rounds_s"] == pytest.approx(11 * tile_s)
    assert [r["cores"] for r in p["core_rows"]] == [16, 64, 128, 256]
    assert p["core_rows"][1]["projected_s"] == pytest.approx(350 * one["tile_cpu_s_mean"] / 64)
    assert not list(tmp_path.glob("region/maps-*"))  # maps deleted unless --keep-outputs
    md = (out / "region.md").read_text()
    assert ("| workers | wall s | tiles/h | tiles/h per worker | speed-up | speed-up bound | efficiency "
            "| mean s per tile | CPU s per tile | cores busy | machine busy | worker peak MiB |") in md
    assert "| cores | 350 tiles s | h | tiles/h |" in md and "CPU-time bound: a tile cost" in md
    assert "| workers | from | 350 tiles s | h | rounds | whole rounds s |" in md and "hard links" in md
    assert "with a GLO-30-like DEM (geographic, warped while mapping; terrain rules)" in md


def test_bench_region_without_the_dem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOFWATCH_CACHE_DIR", str(tmp_path / "cache"))
    res = CliRunner().invoke(app, ["bench", "region", "--tiles", "1", "--size", "256", "--workers", "1",
                                   "--model", "tiny-unet", "--backend", "torch", "--tile", "128", "--overlap", "16",
                                   "--cache", str(tmp_path / "scenes"), "--no-dem", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "r" / "region.json").read_text())
    assert doc["settings"]["dem"] is None and doc["runs"][0]["tiles_with_terrain"] == 0
    assert "no DEM" in (tmp_path / "r" / "region.md").read_text()


def test_bench_region_bad_lists(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["bench", "region", "--workers", "1,two", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--workers '1,two': give whole numbers separated by commas" in res.output
    res = CliRunner().invoke(app, ["bench", "region", "--workers", "0", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "give worker counts of at least 1" in res.output

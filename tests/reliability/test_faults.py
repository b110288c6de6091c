"""Faults: a run killed with SIGKILL at any point resumes and ends with the results of an uninterrupted run.

Kills are real (``kill -9`` of a child process), placed either at a point in time while the
child works, or at a chosen step by a tiny wrapper script that kills its own process there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

PY = sys.executable
pytestmark = pytest.mark.fault


def glofwatch(*args: object, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([PY, "-m", "glofwatch.cli.app", *map(str, args)], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    if check:
        assert res.returncode == 0, res.stderr[-2000:]
    return res


def kill_when(cmd: list[str], ready, timeout_s: float = 120.0) -> int:  # noqa: ANN001
    """Start ``cmd``, SIGKILL it as soon as ``ready()`` is true; return its exit code (-9 when killed)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout_s:
            if ready():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def same_map(a: Path, b: Path) -> None:
    import geopandas as gpd
    import rasterio

    for name in ("probability.tif", "mask.tif"):
        with rasterio.open(a / name) as x, rasterio.open(b / name) as y:
            px, py = dict(x.profile), dict(y.profile)
            assert str(px.pop("nodata")) == str(py.pop("nodata")) and px == py  # NaN nodata is not == NaN
            np.testing.assert_array_equal(x.read(), y.read())
    la, lb = gpd.read_file(a / "lakes.gpkg"), gpd.read_file(b / "lakes.gpkg")
    assert len(la) == len(lb) and np.allclose(la["area_km2"], lb["area_km2"])
    assert not list(a.glob(".*.tmp-*")), "temporary files left behind"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from glofwatch.scene.synth import write_synthetic_scene

    root = tmp_path_factory.mktemp("fault-scenes")
    # one file per scene with its own name (outputs go to OUT/<scene name>/)
    return [write_synthetic_scene(root / f"s{i}", size=768, seed=20 + i).scene.rename(root / f"s{i}.tif")
            for i in range(3)]


@pytest.fixture(scope="module")
def reference(tiny_run: Path, scenes: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fault-ref")
    glofwatch("map", *scenes, "--model", tiny_run, "--out", out, "--backend", "torch", "--tile", "256",
              "--no-progress")
    return out


@pytest.mark.slow
def test_scene_mapping_killed_mid_write_resumes_to_the_same_maps(tiny_run: Path, scenes: list[Path],
                                                                  reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "maps"
    first = out / scenes[0].stem
    code = kill_when([PY, "-m", "glofwatch.cli.app", "map", str(scenes[0]), "--model", str(tiny_run), "--out",
                      str(out), "--backend", "torch", "--tile", "256", "--no-progress"],
                     lambda: bool(list(first.glob(".probability.tif.tmp-*"))))
    assert code == -signal.SIGKILL
    assert not (first / "summary.json").exists()  # not "complete": the rerun must redo it
    glofwatch("map", scenes[0], "--model", tiny_run, "--out", out, "--backend", "torch", "--tile", "256",
              "--no-progress")
    same_map(first, reference / first.name)


@pytest.mark.slow
def test_multi_scene_run_killed_between_scenes_redoes_only_the_rest(tiny_run: Path, scenes: list[Path],
                                                                     reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "maps"
    args = [PY, "-m", "glofwatch.cli.app", "map", *map(str, scenes), "--model", str(tiny_run), "--out", str(out),
            "--backend", "torch", "--tile", "256", "--no-progress"]
    code = kill_when(args, lambda: (out / scenes[0].stem / "summary.json").is_file())
    assert code == -signal.SIGKILL
    done_first = (out / scenes[0].stem / "summary.json").stat().st_mtime_ns
    res = glofwatch(*args[3:])
    assert "skipped" in res.stdout + res.stderr
    assert (out / scenes[0].stem / "summary.json").stat().st_mtime_ns == done_first  # not redone
    for s in scenes:
        same_map(out / s.stem, reference / s.stem)


@pytest.mark.slow
def test_a_dask_worker_killed_mid_scene_is_retried(tiny_run: Path, scenes: list[Path], reference: Path,
                                                   tmp_path: Path) -> None:
    import psutil

    out = tmp_path / "maps"
    proc = subprocess.Popen([PY, "-m", "glofwatch.cli.app", "map", *map(str, scenes), "--model", str(tiny_run),
                             "--out", str(out), "--backend", "torch", "--tile", "256", "--workers", "2",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = None
    t0 = time.monotonic()
    while killed is None and proc.poll() is None and time.monotonic() - t0 < 120:
        if any(out.glob("*/.probability.tif.tmp-*")):  # a worker is writing a scene: kill that worker
            for tmp in out.glob("*/.probability.tif.tmp-*"):
                pid = int(tmp.name.split(".tmp-")[1].split("-")[0])
                if psutil.pid_exists(pid):
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
                    break
        time.sleep(0.02)
    output, _ = proc.communicate(timeout=300)
    assert killed is not None, "no worker was caught mapping"
    assert proc.returncode == 0, output[-2000:]
    for s in scenes:
        same_map(out / s.stem, reference / s.stem)


def write_inventories(folder: Path) -> list[Path]:
    """Three dates of two round lakes: one grows, then drains."""
    import geopandas as gpd
    from shapely.geometry import Point

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for date, r in [("2020-10-01", 300.0), ("2021-10-01", 360.0), ("2022-10-01", 200.0)]:
        lakes = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[Point(500000, 3100000).buffer(r),
                                                                  Point(503000, 3100000).buffer(250.0)],
                                 crs="EPSG:32645")
        paths.append(folder / f"lakes_{date}.gpkg")
        lakes.to_file(paths[-1], driver="GPKG")
    return paths


# run_monitor with its writers wrapped: the process kills itself right after the chosen write
KILL_AT = textwrap.dedent("""
    import os, signal, sys
    import glofwatch.changes.monitor as monitor
    step, out, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    def after(name, real):
        def write(*args, **kwargs):
            result = real(*args, **kwargs)
            if name == step:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return write
    monitor.write_geopackage = after("geopackage", monitor.write_geopackage)
    monitor.write_csv = after("csv", monitor.write_csv)
    monitor.run_monitor(paths, out)
""")


@pytest.mark.slow
@pytest.mark.parametrize("step", ["geopackage", "csv"])
def test_monitoring_killed_after_a_write_reruns_to_the_same_tables(tmp_path: Path, step: str) -> None:
    import pandas as pd

    from glofwatch.changes.monitor import run_monitor

    paths = write_inventories(tmp_path / "in")
    ref = run_monitor(paths, tmp_path / "ref")
    out = tmp_path / "out"
    killed = subprocess.run([PY, "-c", KILL_AT, step, str(out), *map(str, paths)], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (out / "monitor.json").exists()  # written last: the interrupted run does not look finished
    again = run_monitor(paths, out)
    pd.testing.assert_frame_equal(again.tracks.drop(columns="geometry"), ref.tracks.drop(columns="geometry"))
    for name in ("tracks.csv", "observations.csv"):
        assert (out / name).read_text() == (tmp_path / "ref" / name).read_text()
    assert not list(out.glob(".*.tmp-*"))

"""`glofwatch bench monitor` with tiny sizes: the JSON and Markdown reports and the fitted exponent."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from glofwatch.bench.monitor import fit_exponent, synthetic_observations
from glofwatch.cli.app import app


def test_synthetic_lakes_never_touch_and_mostly_stay() -> None:
    import shapely

    frame = synthetic_observations(400, 3, seed=1)
    first = frame[frame["date_index"] == 0].geometry.to_numpy()
    tree = shapely.STRtree(first)
    i, j = tree.query(first, predicate="intersects")
    assert (i == j).all()  # each outline meets only itself
    assert set(frame["date_index"]) == {0, 1, 2} and 390 <= (frame["date_index"] == 0).sum() <= 400


def test_fit_exponent_by_hand() -> None:
    assert fit_exponent([1e3, 1e4, 1e5], [0.01, 0.1, 1.0]) == pytest.approx(1.0)
    assert fit_exponent([1e3, 1e4], [0.01, 1.0]) == pytest.approx(2.0)
    assert fit_exponent([1e3], [0.01]) is None


def test_bench_monitor_cli(tmp_path) -> None:
    res = CliRunner().invoke(app, ["bench", "monitor", "--out", str(tmp_path), "--sizes", "300,1200", "--dates", "3"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "monitor.json").read_text())
    rows = doc["results"]
    assert [r["lakes_per_date"] for r in rows] == [300, 1200] and all(r["dates"] == 3 for r in rows)
    assert all(r["track_s"] > 0 and 2.5 * r["lakes_per_date"] < r["outlines"] <= 3 * r["lakes_per_date"] for r in rows)
    assert all(r["by_status"]["stable"] > 0.9 * r["lakes_per_date"] for r in rows)
    expected = fit_exponent([r["outlines"] for r in rows], [r["track_s"] for r in rows])
    assert doc["exponent"] == pytest.approx(expected, abs=1e-3) and np.isfinite(doc["exponent"])
    md = (tmp_path / "monitor.md").read_text()
    assert "| lakes/date |" in md and "Fitted exponent" in md
    res = CliRunner().invoke(app, ["bench", "monitor", "--out", str(tmp_path), "--sizes", "ten"])
    assert res.exit_code == 2 and "--sizes 'ten'" in res.output


def test_three_inventories_of_1500_lakes_take_seconds(tmp_path) -> None:
    import time

    import geopandas as gpd

    from glofwatch.changes.monitor import run_monitor

    frame = synthetic_observations(1500, 3, seed=2)
    files = []
    for t in range(3):
        part = frame[frame["date_index"] == t].to_crs("EPSG:32645")
        path = tmp_path / f"lakes_{2019 + t}-10-15.gpkg"
        gpd.GeoDataFrame(geometry=part.geometry.to_numpy(), crs=part.crs).to_file(path)
        files.append(path)
    start = time.perf_counter()
    result = run_monitor(files, tmp_path / "out")
    seconds = time.perf_counter() - start
    counts = result.summary["counts"]
    assert counts["observations"] == len(frame) and counts["by_status"]["stable"] > 1450
    assert seconds < 30.0, f"tracking 3 x 1500 lakes took {seconds:.1f} s"  # about 1 s; all-pairs would take minutes

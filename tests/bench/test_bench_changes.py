"""``glofwatch bench changes``: false and found lake changes against synthetic truth, per uncertainty rule."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from glofwatch.bench.changes import score_tracks
from glofwatch.cli.app import app

CRS = "EPSG:32645"


def test_score_tracks_by_hand() -> None:
    boxes = [shapely.box(500000 + 1000 * i, 3100000, 500000 + 1000 * i + 200, 3100200) for i in range(5)]
    truth0 = gpd.GeoDataFrame({"lake_id": [1, 2, 3, 4, 5], "area_km2": [0.04, 0.04, 0.04, 0.1, 0.05]},
                              geometry=boxes, crs=CRS)
    truth1 = truth0.assign(area_km2=[0.041, 0.04, 0.04, 0.03, 0.07])
    kinds = {1: "stable", 2: "stable", 3: "stable", 4: "drain", 5: "grow"}
    tracks = gpd.GeoDataFrame({
        "lake_id": [1, 2, 3, 4, 5, 6],
        "change_km2": [0.003, -0.012, -0.0005, -0.07, 0.02, np.nan],
        "change_uncertainty_km2": [0.002, 0.005, 0.002, 0.004, 0.005, np.nan],
        "status": ["growing", "drained", "stable", "drained", "growing", "new"],
    }, geometry=[*[shapely.box(*b.bounds).buffer(-10) for b in boxes], boxes[0]], crs=CRS).to_crs("EPSG:4326")
    s = score_tracks(tracks, truth0, truth1, kinds, k=2.0)
    assert (s["stable"], s["stable_beyond_1_sigma"], s["stable_beyond_k_sigma"]) == (3, 2, 1)  # 1.5, 2.4, 0.25 sigma
    assert (s["stable_drained"], s["stable_outburst_alerts"]) == (1, 1)
    assert (s["drains"], s["drains_alerted"], s["growths"], s["growths_found"]) == (1, 1, 1, 1)
    # (mapped - true change) / sigma of the stable lakes: (0.003 - 0.001) / 0.002, -0.012 / 0.005, -0.0005 / 0.002
    assert s["error_z"] == pytest.approx([1.0, -2.4, -0.25])


def test_bench_changes_scores_each_band_on_one_set_of_maps(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "changes"
    args = ["bench", "changes", "--model", str(tiny_run), "--out", str(out), "--seeds", "0", "--size", "512",
            "--logits", "0,0.75", "--cache", str(tmp_path / "series")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "changes.json").read_text())
    plain, banded = doc["rows"]
    assert (plain["band_logit"], banded["band_logit"]) == (0.0, 0.75)
    assert plain["stable"] == banded["stable"] and plain["drains"] == banded["drains"] == 1
    # a band only ever widens a sigma: no more false changes, no more alerts
    for name in ("stable_beyond_1_sigma", "stable_beyond_k_sigma", "stable_outburst_alerts", "drains_alerted"):
        assert banded[name] <= plain[name]
    assert [r["band_logit"] for r in doc["per_seed"]] == [0.0, 0.75]
    assert "| half-pixel rule |" in (out / "changes.md").read_text()
    again = CliRunner().invoke(app, args)  # the maps are complete: kept, not redone
    assert again.exit_code == 0 and again.output.count("complete, kept") == 2


def test_bench_changes_refuses_a_negative_band(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["bench", "changes", "--model", str(tmp_path), "--out", str(tmp_path / "o"),
                                   "--logits", "-1"])
    assert res.exit_code != 0 and "give half-widths of 0 or more" in res.output

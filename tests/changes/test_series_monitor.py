"""The synthetic series (`data synth --dates 2`) fed to `monitor` as truth polygons: every planned change is seen."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from glofwatch.cli.app import app


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("series")
    res = CliRunner().invoke(app, ["data", "synth", str(out), "--dates", "2", "--size", "1024", "--seed", "3"])
    assert res.exit_code == 0, res.output
    return out


def test_monitor_sees_grow_split_merge_drain(series: Path, tmp_path) -> None:
    doc = json.loads((series / "series.json").read_text())
    d0, d1 = doc["dates"]
    truth = [str(series / d / "lakes_truth.gpkg") for d in (d0, d1)]
    res = CliRunner().invoke(app, ["monitor", *truth, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    from glofwatch.changes.store import read_geopackage

    tracks, observations = read_geopackage(tmp_path / "monitor.gpkg")
    status = dict(zip(tracks["lake_id"], tracks["status"], strict=True))
    parent = dict(zip(tracks["lake_id"], tracks["parent_id"], strict=True))
    merged_into = dict(zip(tracks["lake_id"], tracks["merged_into"], strict=True))

    def lake(date: str, truth_id: int) -> int:
        truth = gpd.read_file(series / date / "lakes_truth.gpkg")
        row = int(truth.index[truth["lake_id"] == truth_id][0])
        sel = observations[(observations["date"] == date) & (observations["source_row"] == row)]
        return int(sel["lake_id"].iloc[0])

    ev = doc["events"]
    grow = lake(d1, ev["grow"]["lake_id"])
    assert grow == lake(d0, ev["grow"]["lake_id"]) and status[grow] == "growing"
    assert 1.35 < ev["grow"]["factor"] < 1.45
    drain = lake(d1, ev["drain"]["lake_id"])
    assert drain == lake(d0, ev["drain"]["lake_id"]) and status[drain] == "drained" and ev["drain"]["loss_pct"] > 50
    keeper, part = (lake(d1, t) for t in ev["split"]["into"])
    assert keeper == lake(d0, ev["split"]["lake_id"]) and status[keeper] == status[part] == "split"
    assert parent[part] == keeper
    big, small = (lake(d0, t) for t in ev["merge"]["lake_ids"])
    assert lake(d1, ev["merge"]["into"]) == big and status[big] == "merged"
    assert status[small] == "merged" and merged_into[small] == big
    stable = {status[lake(d1, t)] for t in doc["stable"]}
    assert stable == {"stable"} and len(doc["stable"]) >= 5

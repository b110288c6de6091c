"""Finding and loading the served folder: any depth, missing parts, scenes outside, real risk outputs, 5,000 lakes."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from webmap_fixtures import DATES, lonlat_box, write_many_lakes, write_monitor, write_served

from glofwatch.errors import ConfigError, InputError
from glofwatch.webmap.app import FETCH_COMMAND, create_app
from glofwatch.webmap.layout import discover


def test_discovery_at_any_depth_skips_hidden_folders(served: Path, tmp_path: Path) -> None:
    root = tmp_path / "deep"
    shutil.copytree(served, root / "a" / "b" / "c")
    shutil.copytree(served / "monitor", root / ".hidden" / "monitor")
    layout = discover(root)
    assert [m.date for m in layout.maps] == list(DATES[1:])
    assert layout.monitor == (root / "a" / "b" / "c" / "monitor").resolve()
    assert layout.risk is not None and layout.alerts is not None
    assert all(m.scene is not None and m.scene.is_relative_to(root.resolve()) for m in layout.maps)
    assert layout.notes == []


def test_newest_of_two_outputs_is_used_and_noted(served: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(served, tmp_path / "two"))
    newer = Path(shutil.copytree(root / "monitor", root / "monitor-2025"))
    (newer / "monitor.gpkg").touch()
    layout = discover(root)
    assert layout.monitor == newer.resolve()
    assert any("2 monitor outputs" in n for n in layout.notes)


def test_only_a_monitor_output_degrades_to_grey_lakes(tmp_path: Path, vendor_ready) -> None:
    write_monitor(tmp_path / "m" / "monitor")
    with TestClient(create_app(tmp_path / "m")) as c:
        info = c.get("/api/info").json()
        assert info["sources"]["lakes"] == "monitor" and info["levels"] == {"none": 5}
        assert info["dates"] == list(DATES) and info["alerts"]["active"] == 0
        assert sorted(f["id"] for f in c.get("/api/lakes?level=none").json()["features"]) == [1, 2, 3, 4, 5]
        lake = c.get("/api/lakes/1").json()
        assert lake["breakdown"] is None and lake["alert"] is None and lake["level"] is None
        assert lake["thumbs"]["image"]["note"] == "no map output covers this lake"
        assert c.get("/api/alerts").json()["alerts"] == [] and c.get("/api/scenes").json() == []
        assert len(c.get("/api/lakes/1/series").json()["points"]) == 3


def test_only_map_outputs_show_the_latest_lakes_and_each_dates_outlines(tmp_path: Path, vendor_ready) -> None:
    root = write_served(tmp_path / "maps-only", parts=("maps",))
    with TestClient(create_app(root)) as c:
        info = c.get("/api/info").json()
        assert info["sources"]["lakes"] == "map" and info["n_lakes"] == 5 and info["dates"] == list(DATES[1:])
        earlier = c.get(f"/api/lakes?date={DATES[1]}").json()["features"]
        assert len(earlier) == 5 and all(f["properties"]["tracked"] is False and f["id"] is None for f in earlier)
        latest = c.get(f"/api/lakes?date={DATES[2]}").json()["features"]
        assert sorted(f["id"] for f in latest) == [1, 2, 3, 4, 5]
        assert c.get("/api/lakes/1").json()["thumbs"]["image"]["available"] is True


def test_scene_outside_the_folder_needs_scenes_option(tmp_path: Path, vendor_ready) -> None:
    root = write_served(tmp_path / "served", parts=("maps",))
    outside = tmp_path / "archive"
    shutil.move(root / "scenes", outside)
    for summary in root.glob("maps/*/summary.json"):
        doc = json.loads(summary.read_text())
        doc["scene"] = str(outside / Path(doc["scene"]).name)
        summary.write_text(json.dumps(doc))
    with TestClient(create_app(root)) as c:
        scenes = c.get("/api/scenes").json()
        assert all(s["overlay_url"] is None and "--scenes" in s["note"] for s in scenes)
        assert any("outside the served folder" in n for n in c.get("/api/info").json()["notes"])
        assert c.get("/api/lakes/1/thumbs/image.png").status_code == 404
        assert c.get("/api/lakes/1/thumbs/prediction.png").status_code == 200
    with TestClient(create_app(root, scene_roots=[outside])) as c:
        scenes = c.get("/api/scenes").json()
        assert all(s["overlay_url"] for s in scenes)
        assert c.get(scenes[0]["overlay_url"]).status_code == 200


def test_unusable_folders_are_one_line_errors(tmp_path: Path, vendor_ready) -> None:
    with pytest.raises(InputError, match="not a folder"):
        create_app(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no map, monitor, risk or alerts output"):
        create_app(tmp_path / "empty")


def test_missing_leaflet_names_the_fetch_command(served: Path, tmp_path: Path) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<html></html>")
    with pytest.raises(ConfigError) as err:
        create_app(served, static_dir=static)
    assert FETCH_COMMAND in str(err.value) and "\n" not in str(err.value)
    assert (Path(__file__).parents[2] / FETCH_COMMAND.split()[-1]).is_file()


def test_damaged_parts_are_noted_not_fatal(served: Path, tmp_path: Path, vendor_ready) -> None:
    root = Path(shutil.copytree(served, tmp_path / "damaged"))
    (root / "risk" / "breakdown.json").write_text("{not json")
    (root / "alerts" / "alerts.json").write_text("[1, 2")
    with TestClient(create_app(root)) as c:
        info = c.get("/api/info").json()
        assert info["n_lakes"] == 5 and info["alerts"]["active"] == 0
        assert any("breakdown.json cannot be read" in n for n in info["notes"])
        assert c.get("/api/lakes/1").json()["breakdown"] is None
        assert c.get("/api/lakes/1").json()["level"] == "red"  # alerts.csv still gives the levels


def test_real_risk_and_alert_outputs_load(tmp_path: Path, vendor_ready) -> None:
    from glofwatch.alerts.run import issue_alerts
    from glofwatch.risk.run import assess_risk

    root = tmp_path / "real"
    write_monitor(root / "monitor")
    assess_risk(root / "monitor", root / "risk")
    issue_alerts(root / "risk", root / "alerts", min_level="green")
    with TestClient(create_app(root)) as c:
        lake = c.get("/api/lakes/1").json()
        criteria = lake["breakdown"]["criteria"]
        assert len(criteria) >= 5 and {"name", "status", "score", "weight", "contribution"} <= set(criteria[0])
        assert lake["breakdown"]["hazard_score"] == pytest.approx(lake["attributes"]["hazard_score"], nan_ok=True)
        assert lake["level"] in ("green", "yellow", "orange", "red")
        alerts = c.get("/api/alerts").json()["alerts"]
        assert len(alerts) == 5 and all(c.get(a["cap_url"]).status_code == 200 for a in alerts)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory, vendor_ready):
    root = write_many_lakes(tmp_path_factory.mktemp("many"), n=5000, vertices=64)
    t0 = time.perf_counter()
    app = create_app(root)
    load_s = time.perf_counter() - t0
    with TestClient(app) as c:
        yield c, load_s


def test_5000_lakes_answer_fast_and_small(many) -> None:
    c, load_s = many
    assert load_s < 30
    c.get("/api/lakes")  # warm
    t0 = time.perf_counter()
    res = c.get("/api/lakes")
    seconds = time.perf_counter() - t0
    doc = res.json()
    assert doc["numberMatched"] == 5000 and len(doc["features"]) == 5000
    assert seconds < 2.0, seconds
    assert len(res.content) < 4_000_000, len(res.content)  # simplified outlines, 6 decimals
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    assert 8 <= len(ring) < 65  # 64-gons of 60 m radius simplified at 5 m
    assert all(len(str(v).split(".")[-1]) <= 6 for v in ring[0])


def test_5000_lakes_bbox_by_hand(many) -> None:
    c, _ = many
    # lakes on a 71 x 71 grid, 300 m apart, centres 150 m from the corner: a 3 km square holds 10 x 10
    w, s, e, n = lonlat_box(0, 0, 3000, 3000)
    doc = c.get(f"/api/lakes?bbox={w},{s},{e},{n}").json()
    assert doc["numberMatched"] == 100
    assert sorted(f["id"] for f in doc["features"])[:11] == [*range(1, 11), 72]
    assert c.get("/api/lakes?level=red").json()["numberMatched"] == 0
    assert c.get("/api/lakes?level=none&limit=10").json()["numberReturned"] == 10

"""Each criterion's value on hand-built cases: distances in metres, slopes of planes, elevations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from risk_fixtures import plane_dem, track, utm_box, write_glaciers, write_monitor

from glofwatch.risk.run import assess_risk

# Layout (offsets in metres from the grid's top-left corner; "down" is southwards):
#   glacier G  x 800-1000, down 500-700
#   lake A     x 800-1000, down 1000-1200   -> 300 m south of G
#   lake B     x 1000-1100, down 500-700    -> shares G's east edge (contact)
LAKE_A = utm_box(800, 1000, 1000, 1200)
LAKE_B = utm_box(1000, 500, 1100, 700)
GLACIER = utm_box(800, 500, 1000, 700)


def breakdown(out: Path) -> dict[int, dict[str, dict]]:
    data = json.loads((out / "breakdown.json").read_text())
    return {int(k): {c["name"]: c for c in v["criteria"]} for k, v in data["lakes"].items()}


@pytest.fixture()
def plane_case(tmp_path: Path) -> tuple[Path, Path, Path]:
    monitor = write_monitor(tmp_path / "monitor", [track(1, LAKE_A), track(2, LAKE_B)])
    return monitor, plane_dem(tmp_path / "dem.tif", gradient=0.7), write_glaciers(tmp_path / "glaciers.gpkg", [GLACIER])


def test_distance_contact_slopes_and_elevation_on_a_plane(tmp_path: Path, plane_case: tuple[Path, Path, Path]) -> None:
    monitor, dem, glaciers = plane_case
    assess_risk(monitor, tmp_path / "risk", dem=dem, glaciers=glaciers)
    b = breakdown(tmp_path / "risk")
    plane_deg = math.degrees(math.atan(0.7))  # 34.992 deg: the slope of z = 4000 + 0.7 y everywhere

    assert b[1]["glacier_distance"]["value"] == pytest.approx(300.0)
    assert b[1]["glacier_distance"]["status"] == "met"  # < 500 m
    assert b[1]["glacier_contact"]["status"] == "not met"
    assert b[2]["glacier_distance"]["value"] == pytest.approx(0.0)
    assert b[2]["glacier_contact"]["status"] == "met"

    for lake in (1, 2):
        assert b[lake]["surrounding_slope"]["value"] == pytest.approx(plane_deg, abs=1e-4)
        assert b[lake]["surrounding_slope"]["status"] == "met"  # > 30 deg
        assert b[lake]["glacier_tongue_slope"]["value"] == pytest.approx(plane_deg, abs=1e-4)

    # lake A centroid at y = bottom + 900 m -> 4000 + 0.7 * 900; lake B at bottom + 1400 m
    assert b[1]["lake_elevation"]["value"] == pytest.approx(4630.0, abs=1e-3)
    assert b[2]["lake_elevation"]["value"] == pytest.approx(4980.0, abs=1e-3)
    assert b[1]["lake_elevation"]["status"] == "not met"  # below 5000 m

    # A: the whole glacier is its tongue, 500 m north and 350 m higher -> atan(350 / 500) = the plane's slope
    assert b[1]["lake_glacier_slope"]["value"] == pytest.approx(plane_deg, abs=1e-3)
    assert b[1]["lake_glacier_slope"]["detail"]["rise_m"] == pytest.approx(350.0, abs=0.01)
    assert b[1]["lake_glacier_slope"]["detail"]["run_m"] == pytest.approx(500.0, abs=0.01)
    # B: lake and glacier side by side at the same height -> 0 deg, not met
    assert b[2]["lake_glacier_slope"]["value"] == pytest.approx(0.0, abs=1e-3)
    assert b[2]["lake_glacier_slope"]["status"] == "not met"


@pytest.mark.parametrize("gradient", [0.1, 0.25])
def test_surrounding_slope_of_a_plane_of_known_gradient(tmp_path: Path, gradient: float) -> None:
    monitor = write_monitor(tmp_path / "monitor", [track(1, LAKE_A)])
    assess_risk(monitor, tmp_path / "risk", dem=plane_dem(tmp_path / "dem.tif", gradient=gradient))
    ring = breakdown(tmp_path / "risk")[1]["surrounding_slope"]
    assert ring["value"] == pytest.approx(math.degrees(math.atan(gradient)), abs=1e-4)  # 5.711 and 14.036 deg
    assert ring["status"] == "not met"


def test_tracks_in_wgs84_are_measured_in_metres(tmp_path: Path) -> None:
    """The tracks' CRS is read from the file: the same lake stored in EPSG:4326 is still 300 m from G."""
    monitor = write_monitor(tmp_path / "monitor", [track(1, LAKE_A)], to_crs="EPSG:4326")
    glaciers = write_glaciers(tmp_path / "glaciers.gpkg", [GLACIER])
    assess_risk(monitor, tmp_path / "risk", glaciers=glaciers)
    assert breakdown(tmp_path / "risk")[1]["glacier_distance"]["value"] == pytest.approx(300.0, abs=0.05)


def test_lake_far_from_any_glacier_has_no_tongue_and_does_not_meet_the_glacier_slopes(
    tmp_path: Path, plane_case: tuple[Path, Path, Path]
) -> None:
    _, dem, _ = plane_case
    monitor = write_monitor(tmp_path / "far", [track(1, LAKE_A)])
    far_glacier = write_glaciers(tmp_path / "far.gpkg", [utm_box(0, 1800, 200, 2000)])
    assess_risk(monitor, tmp_path / "risk", dem=dem, glaciers=far_glacier,
                criteria=_yaml(tmp_path, "settings: {mother_glacier_max_m: 100}"))
    b = breakdown(tmp_path / "risk")[1]
    assert b["glacier_distance"]["value"] == pytest.approx(math.hypot(600, 600), abs=0.01)
    assert b["glacier_distance"]["status"] == "not met"
    for name in ("glacier_tongue_slope", "lake_glacier_slope"):
        assert (b[name]["status"], b[name]["score"], b[name]["value"]) == ("not met", 0.0, None)


def test_glacier_fragments_below_the_minimum_size_are_ignored(tmp_path: Path) -> None:
    """A 20 m x 20 m fragment (0.0004 km2 < 0.01) 100 m from the lake does not count; G, 300 m away, does."""
    monitor = write_monitor(tmp_path / "m", [track(1, LAKE_A)])
    glaciers = write_glaciers(tmp_path / "g.gpkg", [GLACIER, utm_box(880, 1300, 900, 1320)])
    assess_risk(monitor, tmp_path / "risk", glaciers=glaciers)
    distance = breakdown(tmp_path / "risk")[1]["glacier_distance"]
    assert (distance["value"], distance["detail"]["glacier_id"]) == (pytest.approx(300.0), "1")
    keep_all = _yaml(tmp_path, "settings: {min_glacier_km2: 0}")
    assess_risk(monitor, tmp_path / "risk", glaciers=glaciers, criteria=keep_all)
    assert breakdown(tmp_path / "risk")[1]["glacier_distance"]["value"] == pytest.approx(100.0)


def test_dam_type_codes_are_graded_by_the_classes(tmp_path: Path) -> None:
    rows = [track(i, utm_box(100 * i, 0, 100 * i + 50, 50), dam_type=code)
            for i, code in enumerate(["M(e)", "M(l)", "B", "X", None], start=1)]
    assess_risk(write_monitor(tmp_path / "m", rows), tmp_path / "risk")
    b = breakdown(tmp_path / "risk")
    assert [b[i]["dam_type"]["score"] for i in range(1, 6)] == [1.0, 0.5, 0.0, None, None]
    assert [b[i]["dam_type"]["status"] for i in range(1, 6)] == ["met", "graded", "not met", "unknown", "unknown"]
    assert "not one of" in b[4]["dam_type"]["note"]


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return path
